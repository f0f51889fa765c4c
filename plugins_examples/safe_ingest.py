"""Error handling: validate incoming rows, quarantine bad ones, fail loudly on bad settings.

Trigger: `all_tables` (with `error_behavior` `log`, `retry` or `disable`). Arguments:
`required` (fields every row must have, separated by `;`, default `value`) and
`max_value` (optional upper bound for numeric fields).

A bad row is never fatal: it is logged with `warn` and written to the `rejected` table with the
reason. A bad configuration is fatal: the plugin raises, so the engine applies the trigger's
error behaviour, and nothing the call queued is written.
"""


def _settings(args):
    args = args or {}
    required = [name for name in args.get("required", "value").split(";") if name]
    if not required:
        raise ValueError("safe_ingest: 'required' must name at least one field")
    limit = args.get("max_value")
    try:
        limit = float(limit) if limit is not None else None
    except ValueError:
        raise ValueError(f"safe_ingest: max_value must be a number, got {limit!r}") from None
    return required, limit


def _problem(row, required, limit):
    missing = [name for name in required if name not in row]
    if missing:
        return "missing " + ",".join(missing)
    if limit is not None:
        for name, value in row.items():
            if name != "time" and isinstance(value, (int, float)) and value > limit:
                return f"{name}={value} over {limit:g}"
    return None


def process_writes(influxdb3_local, table_batches, args=None):
    required, limit = _settings(args)
    good = bad = 0
    for batch in table_batches:
        if batch["table_name"] == "rejected":
            continue  # our own output
        for row in batch["rows"]:
            problem = _problem(row, required, limit)
            if problem is None:
                good += 1
                continue
            bad += 1
            influxdb3_local.warn(f"rejected a {batch['table_name']} row: {problem}")
            influxdb3_local.write(LineBuilder("rejected").tag("table", batch["table_name"])
                                  .string_field("reason", problem).time_ns(row["time"]))
    influxdb3_local.info(f"{good} good row(s), {bad} rejected")
