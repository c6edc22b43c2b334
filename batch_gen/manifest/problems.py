"""The problem collector of one manifest file, and the small helpers its messages share."""

from __future__ import annotations

from batch_gen.checks import describe, did_you_mean, is_int
from batch_gen.errors import Problem

__all__ = ["Report", "describe", "did_you_mean", "is_int"]


class Report:
    """Collects problems for one file; ``count`` lets a caller tell whether a step added any."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    @property
    def count(self) -> int:
        return len(self.problems)

    def add(self, line: int | None, field: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, field, message))

    def in_file_order(self) -> list[Problem]:
        """The problems sorted by line, each once.

        Sections are checked in a fixed order (defaults before jobs), not as written, and
        a YAML anchor merged into many jobs would otherwise report its problem per job.
        """
        unique = dict.fromkeys(self.problems)
        return sorted(unique, key=lambda problem: problem.line or 0)
