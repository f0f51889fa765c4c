"""The `table_batches` handed to WAL plugins: dicts with attribute access, lazy rows and Arrow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

RowsFactory = Callable[[], list[dict[str, Any]]]


class TableBatch(dict[str, Any]):
    """One table's rows of a WAL flush: `{"table_name", "rows"}` plus `.to_arrow()`.

    Real plugins index it as a dict (`batch["rows"]`), so it is one; the row dicts are built only
    when first asked for, so a plugin that reads `to_arrow()` never pays for them.
    """

    def __init__(self, table_name: str, arrow: pa.Table, rows: RowsFactory) -> None:
        super().__init__(table_name=table_name, rows=None)
        self._arrow = arrow
        self._rows_factory: RowsFactory | None = rows

    def _materialise(self) -> None:
        factory = self._rows_factory
        if factory is not None:
            self._rows_factory = None
            dict.__setitem__(self, "rows", factory())

    def __getitem__(self, key: str) -> Any:
        if key == "rows":
            self._materialise()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Like `dict.get`, building the rows when they are asked for."""
        if key == "rows":
            self._materialise()
        return dict.get(self, key, default)

    def items(self) -> Any:
        """Like `dict.items`, with the rows built."""
        self._materialise()
        return dict.items(self)

    def values(self) -> Any:
        """Like `dict.values`, with the rows built."""
        self._materialise()
        return dict.values(self)

    def __iter__(self) -> Iterator[str]:
        # A Python-level __iter__ makes dict(batch), {**batch} and json go through __getitem__.
        return iter(list(dict.keys(self)))

    def copy(self) -> dict[str, Any]:
        """A plain dict copy with the rows built."""
        self._materialise()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._materialise()
        if isinstance(other, TableBatch):
            other._materialise()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self._materialise()
        return dict.__repr__(self)

    @property
    def table_name(self) -> str:
        """The table these rows belong to."""
        return str(dict.__getitem__(self, "table_name"))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows as sparse dicts in write order, `time` in int nanoseconds."""
        rows: list[dict[str, Any]] = self["rows"]
        return rows

    def to_arrow(self) -> pa.Table:
        """The rows as a `pyarrow.Table` (tags as strings, `time` as int64 nanoseconds)."""
        return self._arrow

    def __reduce__(self) -> tuple[Any, ...]:
        self._materialise()
        return (dict, (dict(dict.items(self)),))
