"""Deciding before doing: what a run will do with each job, and where each job stands.

:mod:`~batch_gen.planning.plan` holds the resume rules (pure),
:mod:`~batch_gen.planning.dry_run` the plan and cost estimate behind ``--dry-run``, and
:mod:`~batch_gen.planning.status` the read-only ``status`` report.
"""

from __future__ import annotations

from batch_gen.planning.plan import Plan, PlannedJob, Reason, make_plan

__all__ = ["Plan", "PlannedJob", "Reason", "make_plan"]
