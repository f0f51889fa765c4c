"""Streaming anomaly detection with state in the cache: a running z-score per series.

Trigger: `table:sensor`. Arguments: `field` (default `value`), `key` (the tag naming a series,
default `id`), `z` (threshold, default 3), `warmup` (samples before judging, default 10).
Running mean and variance (Welford's method) per series live in `influxdb3_local.cache`, so
they carry from one WAL flush to the next; outliers go to the `anomalies` table.
"""


def _update(state, value):
    count, mean, m2 = state
    count += 1
    delta = value - mean
    mean += delta / count
    m2 += delta * (value - mean)
    return count, mean, m2


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    field, key = args.get("field", "value"), args.get("key", "id")
    threshold, warmup = float(args.get("z", "3")), int(args.get("warmup", "10"))
    states = influxdb3_local.cache.get("states") or {}
    flagged = 0
    for batch in table_batches:
        for row in batch["rows"]:
            value = row.get(field)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            series = str(row.get(key, "all"))
            count, mean, m2 = states.get(series, (0, 0.0, 0.0))
            if count >= warmup and m2 > 0:
                z = (value - mean) / (m2 / (count - 1)) ** 0.5
                if abs(z) > threshold:
                    flagged += 1
                    influxdb3_local.write(LineBuilder("anomalies").tag(key, series)
                                          .float64_field(field, float(value))
                                          .float64_field("z", round(z, 2)).time_ns(row["time"]))
            states[series] = _update((count, mean, m2), float(value))
    influxdb3_local.cache.put("states", states)
    influxdb3_local.info(f"{flagged} anomaly(ies) over {len(states)} series")
