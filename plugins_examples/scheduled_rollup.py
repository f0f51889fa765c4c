"""A downsampler: on each tick, aggregate the window before it into fixed-interval buckets.

Trigger: `every:5m` (any `every:` or `cron:` schedule works; make `window` match it so windows
neither overlap nor leave gaps). Arguments:

- `source_measurement` (required): the table to read.
- `target_measurement` (default `<source>_rollup`): the table to write.
- `window` (default `5m`): how far back from the scheduled time to read, e.g. `30s`, `1h30m`.
- `interval` (default `1m`): the bucket width passed to `date_bin`.
- `fields` (default: every numeric field): the fields to aggregate, `;`-separated.
- `aggregates` (default `mean;min;max;count`): any of `mean`, `min`, `max`, `sum`, `count`.

The window is `[call_time - window, call_time)`: it follows the scheduled time, not the wall
clock, so a late, retried or caught-up run writes exactly what an on-time run would have, and
writing the same points again is harmless (same series, same timestamps). Each bucket of each
tag combination becomes one line, `cpu_rollup,host=a usage_mean=..,usage_count=..i <bucket>`.
"""

import re
from datetime import timedelta

AGGREGATES = {"mean": "avg", "min": "min", "max": "max", "sum": "sum", "count": "count"}
NUMERIC = ("Int64", "UInt64", "Float64")
TAG_TYPE = "Dictionary(Int32, Utf8)"
_SPAN = re.compile(r"(\d+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def process_scheduled_call(influxdb3_local, call_time, args=None):
    settings = _settings(args or {})
    source = settings["source"]
    columns = _columns(influxdb3_local, source)
    if not columns:
        influxdb3_local.info(f"no table {source!r} yet; nothing to roll up")
        return
    tags = sorted(name for name, kind in columns.items() if kind == TAG_TYPE)
    fields = settings["fields"] or sorted(n for n, k in columns.items() if k in NUMERIC)
    unknown = [name for name in fields if columns.get(name) not in NUMERIC]
    if unknown:
        raise ValueError(f"not numeric fields of {source}: {', '.join(unknown)}")
    end = call_time.replace(microsecond=0)
    start = end - settings["window"]
    rows = influxdb3_local.query(
        _sql(source, tags, fields, settings["aggregates"], settings["interval"]),
        {"start": start.isoformat() + "Z", "end": end.isoformat() + "Z"})
    written = 0
    for row in rows:
        line = _line(settings["target"], row, tags, fields, settings["aggregates"], columns)
        if line is not None:
            influxdb3_local.write(line)
            written += 1
    influxdb3_local.info(f"{source} {start:%H:%M:%S}..{end:%H:%M:%S}: {written} bucket(s) "
                         f"written to {settings['target']}")


def _settings(args):
    source = args.get("source_measurement")
    if not source:
        raise ValueError("the source_measurement argument is required")
    aggregates = _split(args.get("aggregates", "mean;min;max;count"))
    bad = [name for name in aggregates if name not in AGGREGATES]
    if bad or not aggregates:
        raise ValueError(f"unknown aggregates {bad}; use any of {', '.join(AGGREGATES)}")
    return {
        "source": source,
        "target": args.get("target_measurement") or f"{source}_rollup",
        "window": _duration("window", args.get("window", "5m")),
        "interval": _duration("interval", args.get("interval", "1m")),
        "fields": _split(args.get("fields", "")),
        "aggregates": aggregates,
    }


def _split(text):
    return [part.strip() for part in text.split(";") if part.strip()]


def _duration(name, text):
    spans = _SPAN.findall(text)
    if not spans or "".join(n + u for n, u in spans) != text.strip():
        raise ValueError(f"{name} must be a duration such as 30s, 5m, 1h or 1h30m, got {text!r}")
    seconds = sum(int(count) * _UNIT_SECONDS[unit] for count, unit in spans)
    if seconds <= 0:
        raise ValueError(f"{name} must be longer than 0s, got {text!r}")
    return timedelta(seconds=seconds)


def _columns(influxdb3_local, table):
    rows = influxdb3_local.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'iox' AND table_name = $table", {"table": table})
    return {row["column_name"]: row["data_type"] for row in rows}


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


def _sql(source, tags, fields, aggregates, interval):
    seconds = int(interval.total_seconds())
    selected = [f"date_bin(INTERVAL '{seconds} seconds', time, '1970-01-01T00:00:00Z') AS _time"]
    selected += [_quote(tag) for tag in tags]
    selected += [f"{AGGREGATES[agg]}({_quote(field)}) AS {_quote(f'{field}_{agg}')}"
                 for field in fields for agg in aggregates]
    group = ", ".join(["_time"] + [_quote(tag) for tag in tags])
    return (f"SELECT {', '.join(selected)} FROM {_quote(source)} "
            f"WHERE time >= $start AND time < $end GROUP BY {group} ORDER BY {group}")


def _line(target, row, tags, fields, aggregates, columns):
    """One bucket as a LineBuilder, or None when every aggregate of it is null."""
    values = [(f"{field}_{agg}", agg, columns[field], row.get(f"{field}_{agg}"))
              for field in fields for agg in aggregates]
    values = [item for item in values if item[3] is not None]
    if not values:
        return None
    line = LineBuilder(target)
    for tag in tags:
        if row.get(tag) is not None:
            line.tag(tag, row[tag])
    for key, agg, kind, value in values:
        if agg == "count":
            line.int64_field(key, value)
        elif agg == "mean" or kind == "Float64":
            line.float64_field(key, float(value))
        elif kind == "UInt64":
            line.uint64_field(key, value)
        else:
            line.int64_field(key, value)
    return line.time_ns(row["_time"])
