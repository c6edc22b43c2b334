"""Where batch_gen keeps its state inside an output folder.

Everything lives in ``<output>/.batch_gen/``, a folder no image or metadata file may use:

- ``state.jsonl``: the journal of job records (:mod:`batch_gen.state.journal`);
- ``lock``: the file the run that holds the folder locks (:mod:`batch_gen.state.lock`);
- ``run.json``: facts about the last run, e.g. its provider (:mod:`batch_gen.state.runinfo`);
- ``jobs.index.json``: the job ids and keys of the last manifest run
  (:mod:`batch_gen.state.jobindex`).
"""

from __future__ import annotations

STATE_DIR_NAME = ".batch_gen"
JOURNAL_NAME = "state.jsonl"
LOCK_NAME = "lock"
RUN_INFO_NAME = "run.json"  # who ran last: the provider identity that keys were made for
INDEX_NAME = "jobs.index.json"
