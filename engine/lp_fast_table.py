"""Vectorised table building for the fast path: split `k=v` text columns into typed columns."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from .lp_model import LINE_COLUMN, RESERVED_NAMES, TAG_METADATA, TIME_COLUMN, FieldType
from .lp_tables import ARROW_TYPES

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORBIDDEN_KEYS = RESERVED_NAMES | {LINE_COLUMN}
_PATTERNS = {
    FieldType.INT64: r"^-?[0-9]+i$",
    FieldType.UINT64: r"^[0-9]+u$",
    FieldType.FLOAT64: r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$",
    FieldType.BOOL: r"^(t|T|true|True|TRUE|f|F|false|False|FALSE)$",
    # Splitting on spaces and commas already broke up strings holding those; what is left
    # toggles InfluxDB 3's line-splitting quote state twice, so lines split as here.
    FieldType.STRING: r'^"[^"]*"$',
}
_PY_PATTERNS = {kind: re.compile(pattern) for kind, pattern in _PATTERNS.items()}
_TRUE_WORDS = pa.array(["t", "T", "true", "True", "TRUE"])
TAG, FIELD = 0, 1


class NeedsGeneralParser(Exception):
    """The vectorised checks cannot vouch for the payload; the general parser must run."""


def counting(count: int, start: int, arrow_type: pa.DataType) -> pa.Array:
    """start, start + 1, ... (count values), built without a Python loop."""
    ones = pa.repeat(pa.scalar(1, arrow_type), count)
    return pc.subtract(pc.cumulative_sum(ones), pa.scalar(1 - start, arrow_type))


def build_table(parts: pa.Array, fields: pa.Array, times: pa.Array, lines: pa.Array) -> pa.Table:
    """One measurement's table from its series split on `,` and its raw field-set text."""
    field_parts = pc.split_pattern(fields, ",")
    built = _uniform_columns(parts, field_parts)
    if built is None:
        built = _sparse_columns(parts, field_parts, len(times))
    columns, tags = built
    columns[TIME_COLUMN] = times
    columns[LINE_COLUMN] = lines
    schema = pa.schema([
        pa.field(name, array.type, metadata=TAG_METADATA if name in tags else None)
        for name, array in columns.items()
    ])
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def _uniform_columns(
    parts: pa.Array, field_parts: pa.Array
) -> tuple[dict[str, pa.Array], set[str]] | None:
    """Columns when every line has the same keys in the same order (the common case)."""
    tags = _uniform_pairs(parts, 1)
    fields = None if tags is None else _uniform_pairs(field_parts, 0)
    if tags is None or fields is None:
        return None
    keys = [key for key, _ in tags + fields]
    if len(set(keys)) != len(keys):
        raise NeedsGeneralParser  # a repeated key, or a key that is both tag and field
    for key in keys:
        _check_key(key)
    columns = dict(tags)
    columns.update((key, _typed(values)) for key, values in fields)
    return columns, {key for key, _ in tags}


def _uniform_pairs(lists: pa.Array, skip: int) -> list[tuple[str, pa.Array]] | None:
    bounds = pc.min_max(pc.list_value_length(lists))
    size = bounds["min"].as_py()
    if size != bounds["max"].as_py():
        return None
    flat = pc.list_flatten(lists)
    starts = pc.multiply(counting(len(lists), 0, pa.int64()), size)
    first = lists[0].as_py()
    pairs = []
    for position in range(skip, size):
        key, equals, _ = first[position].partition("=")
        if not key or not equals:
            raise NeedsGeneralParser
        column = flat.take(pc.add(starts, position))
        prefix = key + "="
        if not pc.all(pc.starts_with(column, prefix)).as_py():
            return None
        values = pc.utf8_slice_codeunits(column, len(prefix))
        if pc.min(pc.binary_length(values)).as_py() == 0:
            raise NeedsGeneralParser
        pairs.append((key, values))
    return pairs


def _sparse_columns(
    parts: pa.Array, field_parts: pa.Array, count: int
) -> tuple[dict[str, pa.Array], set[str]]:
    """Columns when lines differ in their keys: one pass per key, nulls where absent."""
    tag_keys, tag_values, tag_rows = _pairs(pc.list_slice(parts, 1))
    field_keys, field_values, field_rows = _pairs(field_parts)
    tag_order = _first_seen(tag_keys, tag_rows, TAG)
    field_order = _first_seen(field_keys, field_rows, FIELD)
    if {key for *_, key in tag_order} & {key for *_, key in field_order}:
        raise NeedsGeneralParser
    rows = counting(count, 0, pa.int64())
    columns: dict[str, pa.Array] = {}
    for _, kind, _, key in sorted(tag_order + field_order):
        if kind == TAG:
            selected, owner = _select(tag_keys, tag_values, tag_rows, key, len(tag_order) == 1)
        else:
            selected, owner = _select(
                field_keys, field_values, field_rows, key, len(field_order) == 1
            )
        typed = selected if kind == TAG else _typed(selected)
        columns[key] = typed if len(owner) == count else typed.take(pc.index_in(rows, owner))
    return columns, {key for *_, key in tag_order}


def _pairs(lists: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Flatten `k=v` lists into keys, values and the row each pair belongs to."""
    flat = pc.list_flatten(lists)
    rows = pc.list_parent_indices(lists)
    split = pc.split_pattern(flat, "=", max_splits=1)
    if len(flat) == 0:
        return flat, flat, rows
    if pc.min(pc.list_value_length(split)).as_py() != 2:
        raise NeedsGeneralParser
    keys, values = pc.list_element(split, 0), pc.list_element(split, 1)
    shortest = min(pc.min(pc.binary_length(keys)).as_py(), pc.min(pc.binary_length(values)).as_py())
    if shortest == 0:
        raise NeedsGeneralParser
    return keys, values, rows


def _first_seen(keys: pa.Array, rows: pa.Array, kind: int) -> list[tuple[int, int, int, str]]:
    """(first row, kind, first position, key) for each distinct key, to order the columns."""
    found = []
    for key in pc.unique(keys).to_pylist():
        _check_key(key)
        position = pc.index(keys, key).as_py()
        found.append((rows[position].as_py(), kind, position, key))
    return found


def _select(
    keys: pa.Array, values: pa.Array, rows: pa.Array, key: str, only_key: bool
) -> tuple[pa.Array, pa.Array]:
    if only_key:
        selected, owner = values, rows
    else:
        mask = pc.equal(keys, key)
        selected, owner = values.filter(mask), rows.filter(mask)
    if len(owner) > 1 and pc.any(pc.less_equal(owner[1:], owner[:-1])).as_py():
        raise NeedsGeneralParser  # the key appears twice in one line
    return selected, owner


def _typed(values: pa.Array) -> pa.Array:
    """Cast the text values of one field to the type its first value names, if all agree."""
    first = values[0].as_py()
    kind = next((k for k, pattern in _PY_PATTERNS.items() if pattern.match(first)), None)
    if kind is None or not pc.all(pc.match_substring_regex(values, _PATTERNS[kind])).as_py():
        raise NeedsGeneralParser
    if kind is FieldType.BOOL:
        return pc.is_in(values, value_set=_TRUE_WORDS)
    if kind is FieldType.STRING:
        return pc.utf8_slice_codeunits(values, 1, -1)
    if kind is FieldType.FLOAT64:
        floats = pc.cast(values, ARROW_TYPES[kind])
        if pc.any(pc.is_inf(floats)).as_py():
            raise NeedsGeneralParser
        return floats
    return pc.cast(pc.utf8_slice_codeunits(values, 0, -1), ARROW_TYPES[kind])


def _check_key(key: str) -> None:
    if not key or key in _FORBIDDEN_KEYS or CONTROL.search(key):
        raise NeedsGeneralParser
