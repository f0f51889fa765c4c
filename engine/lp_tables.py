"""Builds per-measurement Arrow tables from parsed points, enforcing one schema per write."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from .lp_model import LINE_COLUMN, TAG_METADATA, TIME_COLUMN, FieldType, FieldValue, Point

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.INT64: pa.int64(),
    FieldType.UINT64: pa.uint64(),
    FieldType.FLOAT64: pa.float64(),
    FieldType.BOOL: pa.bool_(),
    FieldType.STRING: pa.string(),
}
TAG = "tag"


@dataclass
class _Column:
    kind: str  # TAG or a FieldType value
    rows: list[int] = field(default_factory=list)
    values: list[FieldValue] = field(default_factory=list)


@dataclass
class TableBuilder:
    """Rows of one measurement in line order; columns in the order first seen in the write."""

    columns: dict[str, _Column] = field(default_factory=dict)
    times: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    # Layouts (keys and field types) already accepted: columns only grow, so they stay valid.
    layouts: set[tuple[tuple[str, ...], tuple[tuple[str, FieldType], ...]]] = field(
        default_factory=set
    )

    def conflict(self, point: Point) -> tuple[str, str] | None:
        """(name, message) when the point disagrees with the columns seen so far, else None."""
        layout = (
            tuple(key for key, _ in point.tags),
            tuple((name, kind) for name, kind, _ in point.fields),
        )
        if layout in self.layouts:
            return None
        problem = self._tag_conflict(point) or self._field_conflict(point)
        if problem is None:
            self.layouts.add(layout)
        return problem

    def _tag_conflict(self, point: Point) -> tuple[str, str] | None:
        for key, _ in point.tags:
            column = self.columns.get(key)
            if key == LINE_COLUMN:
                return key, f"{key!r} is reserved for the line-number column of this engine"
            if column is not None and column.kind != TAG:
                return key, (
                    f"{key!r} is a {column.kind} field in an earlier line of this "
                    "write, so it cannot be a tag here"
                )
        return None

    def _field_conflict(self, point: Point) -> tuple[str, str] | None:
        for name, kind, _ in point.fields:
            column = self.columns.get(name)
            if name == LINE_COLUMN:
                return name, f"{name!r} is reserved for the line-number column of this engine"
            if column is None or column.kind == kind.value:
                continue
            if column.kind == TAG:
                return name, (
                    f"{name!r} is a tag in an earlier line of this write, so it cannot be a "
                    "field here"
                )
            return name, (
                f"field {name!r} is {kind.value} here but {column.kind} in an earlier "
                "line of this write"
            )
        return None

    def add(self, point: Point, time: int, line_number: int) -> None:
        """Append a point that `conflict` accepted."""
        row = len(self.times)
        columns = self.columns
        for key, value in point.tags:
            column = columns.get(key) or self._new_column(key, TAG)
            column.rows.append(row)
            column.values.append(value)
        for name, kind, field_value in point.fields:
            column = columns.get(name) or self._new_column(name, kind.value)
            column.rows.append(row)
            column.values.append(field_value)
        self.times.append(time)
        self.lines.append(line_number)

    def _new_column(self, name: str, kind: str) -> _Column:
        column = self.columns[name] = _Column(kind)
        return column

    def build(self) -> pa.Table:
        """The table: tag and field columns, then `time` (int64 ns) and `_line` (int32)."""
        count = len(self.times)
        arrays: list[pa.Array] = []
        for column in self.columns.values():
            arrow_type = pa.string() if column.kind == TAG else ARROW_TYPES[FieldType(column.kind)]
            if len(column.rows) == count:
                arrays.append(pa.array(column.values, type=arrow_type))
                continue
            full: list[FieldValue | None] = [None] * count
            for row, value in zip(column.rows, column.values, strict=True):
                full[row] = value
            arrays.append(pa.array(full, type=arrow_type))
        arrays.append(pa.array(self.times, type=pa.int64()))
        arrays.append(pa.array(self.lines, type=pa.int32()))
        fields = [
            pa.field(name, array.type, metadata=TAG_METADATA if column.kind == TAG else None)
            for (name, column), array in zip(self.columns.items(), arrays, strict=False)
        ]
        fields += [pa.field(TIME_COLUMN, pa.int64()), pa.field(LINE_COLUMN, pa.int32())]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
