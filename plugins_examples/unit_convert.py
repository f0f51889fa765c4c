"""Synchronous writes with original timestamps: Fahrenheit rows copied as Celsius.

Trigger: `table:weather`. Arguments: `field` (default `temp_f`), `target` (default
`weather_c`). Every row with the field is written at once (`write_sync`, so a later query in the
same call would see it) to `target` with the same tags and timestamp and the value in Celsius.
"""


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    field = args.get("field", "temp_f")
    target = args.get("target", "weather_c")
    converted = 0
    for batch in table_batches:
        for row in batch["rows"]:
            value = row.get(field)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            line = LineBuilder(target)
            for name, tag in row.items():
                if isinstance(tag, str) and name != field:
                    line.tag(name, tag)
            line.float64_field("temp_c", round((value - 32) * 5 / 9, 2)).time_ns(row["time"])
            influxdb3_local.write_sync(line, no_sync=False)
            converted += 1
    influxdb3_local.info(f"converted {converted} row(s) into {target}")
