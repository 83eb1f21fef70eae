"""``runbook-router check``: the catalog, configuration, alert rules and dashboards.

Each checker returns a ``Report``: notes (what was checked), warnings, and problems written
``file:line: message`` (editors and CI annotate them). Any problem fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Report:
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, file: Path | str, line: int | None, message: str) -> None:
        text = f"{file}:{line}: {message}" if line else f"{file}: {message}"
        if text not in self.problems:
            self.problems.append(text)

    def extend(self, other: Report) -> None:
        self.notes += other.notes
        self.warnings += other.warnings
        for text in other.problems:
            if text not in self.problems:
                self.problems.append(text)
