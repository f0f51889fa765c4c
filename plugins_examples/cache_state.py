"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "field",
            "example": "temp",
            "description": "Numeric field whose running statistics are kept, per table and tag set.",
            "required": true
        },
        {
            "name": "output_table",
            "example": "running_stats",
            "description": "Table the statistics are written to after each flush (tags source, series; fields count, mean, stddev, min, max). Defaults to 'running_stats'.",
            "required": false
        },
        {
            "name": "forget_after",
            "example": "3600",
            "description": "Seconds without data after which a series' statistics start over (a cache TTL). Defaults to never.",
            "required": false
        }
    ]
}
"""

# ruff: noqa: E501 - the metadata above is JSON, whose strings cannot wrap

# Keeps running statistics (count, mean, standard deviation, min, max) of one field across
# WAL flushes, in the trigger's cache: each series' state is a live Python object, updated in
# place (Welford's method), so nothing is re-read from the database. Tags are told apart from
# fields the way plugins must (rows do not say): string values are taken as tags.

from __future__ import annotations

import math

DEFAULT_OUTPUT_TABLE = "running_stats"


class RunningStats:
    """Count, mean, variance, min and max of a stream of numbers, one number at a time."""

    def __init__(self):
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value):
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    @property
    def stddev(self):
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0


def _series(row):
    tags = sorted((key, value) for key, value in row.items() if isinstance(value, str))
    return ",".join(f"{key}={value}" for key, value in tags) or "-"


def _forget_after(args):
    value = args.get("forget_after")
    return float(value) if value else None


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    if "field" not in args:
        raise ValueError("the 'field' argument is required, e.g. field=temp")
    field = args["field"]
    output_table = args.get("output_table", DEFAULT_OUTPUT_TABLE)
    ttl = _forget_after(args)
    cache = influxdb3_local.cache
    touched = {}
    for batch in table_batches:
        source = batch["table_name"]
        if source == output_table:
            continue
        for row in batch["rows"]:
            value = row.get(field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            key = f"{source}/{_series(row)}"
            stats = touched.get(key) or cache.get(key)
            if stats is None:
                stats = RunningStats()
            stats.add(float(value))
            touched[key] = stats
    for key, stats in touched.items():
        cache.put(key, stats, ttl=ttl)  # the same object; put again to refresh its TTL
        source, series = key.split("/", 1)
        influxdb3_local.write(
            LineBuilder(output_table)
            .tag("source", source)
            .tag("series", series)
            .int64_field("count", stats.count)
            .float64_field("mean", stats.mean)
            .float64_field("stddev", stats.stddev)
            .float64_field("min", stats.min)
            .float64_field("max", stats.max)
        )
    influxdb3_local.info(f"updated {len(touched)} series of {field}")
