"""On-disk layout of table snapshots: directory names, atomic JSON, Parquet files, manifests."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .durable import fsync_directory
from .errors import TableStoreCorrupt
from .schema import TableSchema
from .table_data import Chunk, TableData

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATABASE_FILE = "database.json"
SNAPSHOT_FILE = "snapshot.json"
DROPPED_PREFIX = ".dropped-"
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_MAX_NAME = 120


def dir_name(name: str) -> str:
    """A file-system-safe, collision-free directory name for a database or table name.

    Safe characters stay; the rest are %-escaped bytes (so `.`, `..` and `/` cannot escape
    the parent). Long names are cut and suffixed with a hash; manifests keep the real name.
    """
    encoded = "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode())
                      for ch in name)
    if len(encoded) > _MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        encoded = f"{encoded[:_MAX_NAME - 17]}~{digest}"
    return encoded


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON: temporary file, fsync, rename, fsync directory."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_directory(path.parent)


def read_json(path: Path) -> Any:
    """A JSON file's content; an unreadable file raises `TableStoreCorrupt`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise TableStoreCorrupt(str(path), str(exc)) from exc


def write_parquet(directory: Path, table: pa.Table, seq: int) -> str:
    """Write `table` durably as a new Parquet file in `directory`; return its file name."""
    name = f"{seq:020d}-{uuid.uuid4().hex[:12]}.parquet"
    tmp = directory / (name + ".tmp")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / name)
    return name


def read_parquet(path: Path) -> list[pa.RecordBatch]:
    """The record batches of a snapshot file."""
    try:
        return pq.read_table(path).to_batches()  # type: ignore[no-any-return]
    except (OSError, pa.ArrowException) as exc:
        raise TableStoreCorrupt(str(path), str(exc)) from exc


def manifest_data(db: str, data: TableData) -> dict[str, Any]:
    """The manifest of a table: its schema, its persisted files, the WAL sequence covered."""
    files = [
        {"file": c.file, "rows": c.rows, "bytes": c.nbytes, "min_time": c.min_time,
         "max_time": c.max_time, "max_seq": c.max_seq}
        for c in data.chunks if c.file is not None
    ]
    return {"format": 1, "database": db, "table": data.schema.table,
            "persisted_seq": data.persisted_seq, "schema": data.schema.to_json(), "files": files}


def load_manifest(path: Path) -> tuple[str, TableData]:
    """The database name and the (evicted) table data a manifest describes."""
    raw = read_json(path)
    try:
        schema = TableSchema.from_json(raw["schema"])
        chunks = [Chunk(None, int(f["rows"]), int(f["bytes"]), int(f["min_time"]),
                        int(f["max_time"]), int(f["max_seq"]), file=str(f["file"]))
                  for f in raw["files"]]
        return str(raw["database"]), TableData(schema, chunks,
                                               persisted_seq=int(raw["persisted_seq"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TableStoreCorrupt(str(path), f"bad manifest: {exc!r}") from exc


def remove_stale_files(directory: Path, keep: set[str]) -> None:
    """Delete snapshot files in `directory` that the manifest no longer names."""
    for path in directory.iterdir():
        if path.name.endswith((".parquet", ".parquet.tmp")) and path.name not in keep:
            path.unlink(missing_ok=True)


def drop_directory(path: Path) -> None:
    """Remove a database directory: renamed away first, so a crash cannot half-resurrect it."""
    if not path.exists():
        return
    tomb = path.with_name(f"{DROPPED_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    os.replace(path, tomb)
    fsync_directory(path.parent)
    shutil.rmtree(tomb, ignore_errors=True)


def remove_dropped(root: Path) -> None:
    """Finish removals a crash interrupted."""
    for path in root.iterdir():
        if path.name.startswith(DROPPED_PREFIX):
            logger.info("removing the leftovers of a dropped database: %s", path)
            shutil.rmtree(path, ignore_errors=True)
