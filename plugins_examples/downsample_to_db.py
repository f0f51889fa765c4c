"""Write-back to another database: per-host summaries of every `cpu` write.

Trigger: `table:cpu`. Arguments: `target_db` (required), `field` (default `usage`).
Each WAL flush becomes one `cpu_summary,host=H count=Ni,mean=X,max=Y` line per host in
`target_db`, so dashboards read small summaries instead of raw rows.
"""


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    target = args.get("target_db")
    if not target:
        raise ValueError("downsample_to_db needs the trigger argument target_db=<database>")
    field = args.get("field", "usage")
    per_host = {}
    for batch in table_batches:
        for row in batch["rows"]:
            value = row.get(field)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                per_host.setdefault(row.get("host", "unknown"), []).append(float(value))
    for host, values in sorted(per_host.items()):
        line = (LineBuilder("cpu_summary").tag("host", host)
                .int64_field("count", len(values))
                .float64_field("mean", sum(values) / len(values))
                .float64_field("max", max(values)))
        influxdb3_local.write_to_db(target, line)
    influxdb3_local.info(f"summarised {len(per_host)} host(s) into {target}")
