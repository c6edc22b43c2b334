"""What a run tells a CI system, besides its exit status: the GitHub Actions step summary
and annotations (:mod:`.github`, :mod:`.run_markdown`), a dry run's plan as Markdown for a
pull request (:mod:`.plan_markdown`) and a JUnit XML report (:mod:`.junit`).

Every renderer here is pure: it is given the run's report document (see
:func:`batch_gen.report.report_document`) or the dry run's plan, and returns text. The
command line writes the text (:mod:`batch_gen.cli.ci`).
"""
