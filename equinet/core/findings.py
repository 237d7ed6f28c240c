"""Validation findings: every problem in the input names its file, row and column."""

from __future__ import annotations

from dataclasses import asdict, dataclass


BINARY = (".day", "gbbq")  # files of fixed-size records: a finding names the record, not a row


@dataclass(frozen=True)
class Finding:
    """One problem (or note) in one source file; row is the row number Excel shows (header = 1)."""

    level: str  # "error" | "warning" | "note"
    file: str
    message: str
    row: int | None = None
    column: str | None = None
    count: int = 1  # how many rows share this problem (the first is named)

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"{'record' if self.file.endswith(BINARY) else 'row'} {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        more = f" (and {self.count - 1} more rows)" if self.count > 1 else ""
        return f"{self.level}: {', '.join(where)}: {self.message}{more}"

    def to_json(self) -> dict:
        return asdict(self)


class IngestError(Exception):
    """Raised by a strict ingest that found errors; nothing was written."""

    def __init__(self, findings: list[Finding]):
        self.findings = [f for f in findings if f.level == "error"]
        files = len({f.file for f in self.findings})
        super().__init__(f"{len(self.findings)} error(s) in {files} file(s); nothing was written")
