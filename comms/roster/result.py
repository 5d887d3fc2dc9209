"""What a roster import did: rows imported and rejected, rows created and updated per table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from comms.roster.rows import RowProblem


@dataclass
class ImportResult:
    path: Path
    rows: int = 0
    imported_rows: int = 0
    rejected_rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    rejected_file: Path | None = None
    vendors_created: int = 0
    vendors_updated: int = 0
    agents_created: int = 0
    policies_created: int = 0
    policies_updated: int = 0
    unknown_headers: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # duplicate rows imported as one

    @property
    def changed(self) -> bool:
        return bool(
            self.vendors_created
            or self.vendors_updated
            or self.agents_created
            or self.policies_created
            or self.policies_updated
        )
