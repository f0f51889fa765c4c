"""`WriteResult`: what a line-protocol write reports (lines written, every refused line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class RefusedLine(Protocol):
    """A refused line as `WriteResult.errors` holds it (`lineprotocol.LineError` fits)."""

    @property
    def line_number(self) -> int:
        """1-based line number in the write."""
        ...

    @property
    def message(self) -> str:
        """Why the line was refused."""
        ...

    @property
    def original_line(self) -> str:
        """The line as written."""
        ...


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a write that stored at least one line.

    Attributes:
        lines_written: lines stored (one row each).
        errors: every refused line, in line order, each with `line_number` (1-based),
            `message` and `original_line`.
    """

    lines_written: int
    errors: list[RefusedLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no line was refused."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: `lines_written` and `errors` as dicts."""
        return {
            "lines_written": self.lines_written,
            "errors": [
                {
                    "line_number": e.line_number,
                    "message": e.message,
                    "original_line": e.original_line,
                }
                for e in self.errors
            ],
        }
