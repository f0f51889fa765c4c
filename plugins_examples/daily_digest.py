"""A cron report: yesterday's row counts for every table, as one digest row per table.

Trigger: `cron:0 0 6 * * *` (06:00 UTC every day; any schedule works). Arguments: `days`
(the window, default 1). Lists the tables from `information_schema`, counts each one's rows in
the window before the scheduled time (`call_time`, not the wall clock, so a late or replayed
run reports the same window) and writes `digest,table=T rows=Ni`.
"""

from datetime import timedelta


def process_scheduled_call(influxdb3_local, call_time, args=None):
    days = int((args or {}).get("days", "1"))
    end = call_time.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    tables = influxdb3_local.query(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'iox' AND table_name != 'digest' ORDER BY table_name")
    total = 0
    for row in tables:
        name = row["table_name"].replace('"', '""')
        counted = influxdb3_local.query(
            f'SELECT count(*) AS n FROM "{name}" WHERE time >= $start AND time < $end',
            {"start": start.isoformat() + "Z", "end": end.isoformat() + "Z"})
        rows = counted[0]["n"]
        total += rows
        influxdb3_local.write(LineBuilder("digest").tag("table", row["table_name"])
                              .int64_field("rows", rows))
    influxdb3_local.info(f"{start:%Y-%m-%d}..{end:%Y-%m-%d}: {total} row(s) "
                         f"in {len(tables)} table(s)")
