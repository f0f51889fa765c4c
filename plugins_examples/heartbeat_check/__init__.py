"""A directory plugin with a manifest: alert when hosts stop sending heartbeats.

Trigger: `every:1m` (or any `cron:` / `every:` schedule). Arguments: `table` (default
`heartbeat`), `silence_s` (default 300). Writes `host_state,host=H state="silent"|"back"` only
when a host's state changes; the last known states live in the trigger's cache.
"""

from datetime import UTC

from .rules import changes, silent_hosts


def process_scheduled_call(influxdb3_local, call_time, args=None):
    args = args or {}
    table = args.get("table", "heartbeat")
    silence = int(args.get("silence_s", "300"))
    rows = influxdb3_local.query(
        f'SELECT host, max(time) AS last_seen FROM "{table}" GROUP BY host ORDER BY host')
    # call_time is naive UTC (whole seconds), as on InfluxDB 3.
    now_ns = int(call_time.replace(tzinfo=UTC).timestamp()) * 1_000_000_000
    silent = silent_hosts(rows, now_ns, silence)
    previous = influxdb3_local.cache.get("silent", set())
    for host, state in changes(previous, silent):
        influxdb3_local.warn(f"host {host} is {state}")
        influxdb3_local.write(LineBuilder("host_state").tag("host", host)
                              .string_field("state", state))
    influxdb3_local.cache.put("silent", silent)
    influxdb3_local.info(f"{len(rows)} host(s), {len(silent)} silent")
