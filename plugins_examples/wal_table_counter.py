"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "output_table",
            "example": "table_counts",
            "description": "Table the counts are written to (tag table_name, fields rows and columns). Defaults to 'table_counts'; its own rows are never counted.",
            "required": false
        },
        {
            "name": "target_database",
            "example": "monitoring",
            "description": "Database the counts are written to. Defaults to the trigger's database.",
            "required": false
        },
        {
            "name": "tables",
            "example": "cpu.mem",
            "description": "Dot-separated list of tables to count. Defaults to every table of the flush.",
            "required": false
        }
    ]
}
"""

# ruff: noqa: E501 - the metadata above is JSON, whose strings cannot wrap

# Counts what each WAL flush brings, per table: one row per table with the number of rows
# and the number of distinct columns they used. Use with `all_tables` (or `table:NAME`).
# The counts go through the batched `write`/`write_to_db` API, so they are written only if
# the call succeeds, and they show up to WAL triggers in a later flush, like any write.

from __future__ import annotations

DEFAULT_OUTPUT_TABLE = "table_counts"


def _wanted_tables(args):
    listed = args.get("tables", "")
    return {name for name in listed.split(".") if name} or None


def _count(batch):
    rows = batch["rows"]
    columns = set()
    for row in rows:
        columns.update(row)
    return len(rows), len(columns)


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    output_table = args.get("output_table", DEFAULT_OUTPUT_TABLE)
    target_database = args.get("target_database")
    wanted = _wanted_tables(args)
    counted = 0
    for batch in table_batches:
        table = batch["table_name"]
        if table == output_table or (wanted is not None and table not in wanted):
            continue
        rows, columns = _count(batch)
        line = (
            LineBuilder(output_table)
            .tag("table_name", table)
            .int64_field("rows", rows)
            .int64_field("columns", columns)
        )
        if target_database:
            influxdb3_local.write_to_db(target_database, line)
        else:
            influxdb3_local.write(line)
        counted += rows
    influxdb3_local.info(f"counted {counted} rows in {len(table_batches)} table batch(es)")
