"""The `system.*` tables: triggers, their arguments, plugin logs, run history and plugin files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from .catalog import TriggerDefinition
from .observability import Observability

_TS = pa.timestamp("ns")

TRIGGERS_SCHEMA = pa.schema([
    ("trigger_name", pa.string()), ("database_name", pa.string()),
    ("plugin_filename", pa.string()), ("trigger_specification", pa.string()),
    ("disabled", pa.bool_()), ("disabled_reason", pa.string()),
    ("error_behavior", pa.string()), ("run_async", pa.bool_()),
    ("trigger_settings", pa.string()), ("node_spec", pa.string()),
])
ARGUMENTS_SCHEMA = pa.schema([
    ("trigger_name", pa.string()), ("argument_key", pa.string()),
    ("argument_value", pa.string()),
])
LOGS_SCHEMA = pa.schema([
    pa.field("event_time", _TS, nullable=False), ("database_name", pa.string()),
    ("trigger_name", pa.string()), ("log_level", pa.string()), ("log_text", pa.string()),
    ("traceback", pa.string()),
])
RUNS_SCHEMA = pa.schema([
    ("database_name", pa.string()), ("trigger_name", pa.string()), ("kind", pa.string()),
    ("scheduled_time", _TS), ("start_time", _TS), ("duration_ms", pa.float64()),
    ("status", pa.string()), ("attempts", pa.int64()), ("rows_in", pa.int64()),
    ("lines_written", pa.int64()), ("timed_out", pa.bool_()), ("error", pa.string()),
    ("traceback", pa.string()),
])
PLUGIN_FILES_SCHEMA = pa.schema([
    ("plugin_name", pa.string()), ("file_name", pa.string()), ("file_path", pa.string()),
    ("size_bytes", pa.int64()), ("last_modified", pa.int64()),
])


def _ns(when: datetime | None) -> int | None:
    if when is None:
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def triggers_table(triggers: Iterable[TriggerDefinition]) -> pa.Table:
    """`system.processing_engine_triggers` for the given triggers."""
    rows = [{
        "trigger_name": t.trigger_name, "database_name": t.db,
        "plugin_filename": t.plugin_filename, "trigger_specification": t.trigger_specification,
        "disabled": t.disabled, "disabled_reason": t.disabled_reason,
        "error_behavior": str(t.trigger_settings.error_behavior),
        "run_async": t.trigger_settings.run_async,
        "trigger_settings": json.dumps(t.trigger_settings.to_dict(), sort_keys=True),
        "node_spec": json.dumps(t.node_spec) if not isinstance(t.node_spec, str) else t.node_spec,
    } for t in triggers]
    return pa.Table.from_pylist(rows, schema=TRIGGERS_SCHEMA)


def arguments_table(triggers: Iterable[TriggerDefinition]) -> pa.Table:
    """`system.processing_engine_trigger_arguments`: one row per argument."""
    rows = [
        {"trigger_name": t.trigger_name, "argument_key": k, "argument_value": v}
        for t in triggers for k, v in (t.trigger_arguments or {}).items()
    ]
    return pa.Table.from_pylist(rows, schema=ARGUMENTS_SCHEMA)


def logs_table(observability: Observability) -> pa.Table:
    """`system.processing_engine_logs`: the bounded log buffer, oldest first."""
    rows = [{
        "event_time": _ns(e.time), "database_name": e.database, "trigger_name": e.trigger_name,
        "log_level": e.level, "log_text": e.message, "traceback": e.traceback,
    } for e in observability.logs()]
    return pa.Table.from_pylist(rows, schema=LOGS_SCHEMA)


def runs_table(observability: Observability, db: str | None = None) -> pa.Table:
    """`system.processing_engine_runs`: the run history (of one database when `db` is given)."""
    rows = [{
        "database_name": r.database, "trigger_name": r.trigger_name, "kind": r.kind,
        "scheduled_time": _ns(r.scheduled_time), "start_time": _ns(r.started),
        "duration_ms": r.duration_seconds * 1000.0, "status": r.status, "attempts": r.attempts,
        "rows_in": r.rows_in, "lines_written": r.lines_written, "timed_out": r.timed_out,
        "error": r.error, "traceback": r.traceback,
    } for r in observability.runs() if db is None or r.database == db]
    return pa.Table.from_pylist(rows, schema=RUNS_SCHEMA)


def plugin_files_table(triggers: Iterable[TriggerDefinition], plugin_dir: Path | None) -> pa.Table:
    """`system.plugin_files`: every existing file of every trigger's plugin."""
    rows: list[dict[str, Any]] = []
    if plugin_dir is not None:
        for t in triggers:
            rows.extend(_file_rows(t, plugin_dir))
    return pa.Table.from_pylist(rows, schema=PLUGIN_FILES_SCHEMA)


def _file_rows(trigger: TriggerDefinition, plugin_dir: Path) -> list[dict[str, Any]]:
    root = plugin_dir / trigger.plugin_filename.rstrip("/")
    if root.is_dir():
        files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
        named = [(str(p.relative_to(root)), p) for p in files]
    else:
        named = [(trigger.plugin_filename, root)] if root.is_file() else []
    rows = []
    for name, path in named:
        stat = path.stat()
        rows.append({"plugin_name": trigger.trigger_name, "file_name": name,
                     "file_path": str(path.resolve()), "size_bytes": stat.st_size,
                     "last_modified": stat.st_mtime_ns // 1_000_000})
    return rows


def providers(list_triggers: Callable[[str | None], list[TriggerDefinition]],
              observability: Observability, plugin_dir: Path | None,
              ) -> dict[str, Callable[[str], pa.Table]]:
    """The system tables by name, each a function of the database being queried."""
    return {
        "processing_engine_triggers": lambda db: triggers_table(list_triggers(db)),
        "processing_engine_trigger_arguments": lambda db: arguments_table(list_triggers(db)),
        "processing_engine_logs": lambda db: logs_table(observability),
        "processing_engine_runs": lambda db: runs_table(observability),
        "plugin_files": lambda db: plugin_files_table(list_triggers(None), plugin_dir),
    }
