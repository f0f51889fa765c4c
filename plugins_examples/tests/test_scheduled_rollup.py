"""scheduled_rollup: date_bin aggregates of the window before each tick, written as lines."""

from datetime import datetime

S = 1_000_000_000
START_NS = 1_735_689_600 * S  # 2025-01-01T00:00:00Z, where the harness clock starts


def test_one_line_per_bucket_and_host(plugin_harness):
    plugin_harness.write_lp(
        f"cpu,host=a usage=1.0 {START_NS + 10 * S}\n"
        f"cpu,host=a usage=3.0 {START_NS + 50 * S}\n"
        f"cpu,host=b usage=5.0 {START_NS + 70 * S}\n"
        f"cpu,host=a usage=9.0 {START_NS + 130 * S}")  # outside a 2m window ending at 00:02
    result = plugin_harness.run_schedule(
        "scheduled_rollup.py", call_time=datetime(2025, 1, 1, 0, 2),
        args={"source_measurement": "cpu", "window": "2m", "aggregates": "mean;count"})
    assert result.lines_for("test_db") == [
        f"cpu_rollup,host=a usage_mean=2.0,usage_count=2i {START_NS}",
        f"cpu_rollup,host=b usage_mean=5.0,usage_count=1i {START_NS + 60 * S}",
    ]
    assert "INFO: cpu 00:00:00..00:02:00: 2 bucket(s) written to cpu_rollup" in result.log_lines


def test_runs_as_a_schedule_trigger(engine, manual_clock):
    engine.write_lp("db", f"mem,host=a used=10i {START_NS + 5 * S}\n"
                          f"mem,host=a used=30i {START_NS + 25 * S}")
    engine.create_trigger("db", "rollup", plugin_filename="scheduled_rollup.py",
                          trigger_specification="every:1m",
                          trigger_arguments={"source_measurement": "mem", "window": "1m",
                                             "target_measurement": "mem_1m"})
    manual_clock.advance(60)
    assert engine.run_pending() == 1
    assert engine.query("db", "SELECT host, used_min, used_max, used_mean FROM mem_1m") == [
        {"host": "a", "used_min": 10, "used_max": 30, "used_mean": 20.0}]
