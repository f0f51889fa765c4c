"""Start-up recovery: drop data of deleted databases, then replay the WAL after the snapshot."""

from __future__ import annotations

import logging

from .catalog import Catalog
from .tables import TableStore
from .wal import OpKind, WalRecord, WriteAheadLog

logger = logging.getLogger(__name__)


def recover(tables: TableStore, catalog: Catalog, wal: WriteAheadLog | None) -> tuple[int, int]:
    """Bring the table store up to the last WAL record.

    Returns:
        `(last_seq, replayed_bytes)`: the highest sequence number seen (snapshot or WAL) and
        the Arrow bytes of the replayed rows (not yet in any snapshot).
    """
    for db in tables.databases():
        if not catalog.has_database(db):
            logger.info("dropping the data of %r: the catalog no longer has it", db)
            tables.drop_database(db)
    last = tables.persisted_seq()
    if wal is None:
        return last, 0
    replayed, nbytes = 0, 0
    for record in wal.records(after=last):
        nbytes += replay(tables, catalog, record)
        replayed += 1
    last = max(last, wal.last_seq)
    if replayed:
        logger.info("replayed %d WAL record(s) up to sequence %d", replayed, last)
    return last, nbytes


def replay(tables: TableStore, catalog: Catalog, record: WalRecord) -> int:
    """Apply one WAL record to the table store; return the Arrow bytes of its rows.

    Rows of databases the catalog no longer has are skipped; a database deletion in the
    record removes the rows written before it, so a replay never brings them back.
    """
    nbytes = 0
    for op in record.ops:
        if op.kind is OpKind.DELETE_DATABASE:
            tables.drop_database(op.db)
        elif not catalog.has_database(op.db):
            continue
        elif op.kind is OpKind.CREATE_DATABASE:
            tables.create_database(op.db)
        elif op.rows is not None:
            tables.append(op.db, op.table, op.rows, wal_seq=record.seq)
            nbytes += op.rows.nbytes
    return nbytes
