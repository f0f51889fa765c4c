"""daily_digest: a cron report counting yesterday's rows per table."""

from datetime import datetime

H = 3_600_000_000_000
DAY = 24 * H
JAN_1 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def test_counts_the_rows_of_the_day_before_the_scheduled_time(plugin_harness):
    plugin_harness.write_lp("\n".join([
        f"cpu,host=a v=1 {JAN_1 + 3 * H}",
        f"cpu,host=a v=2 {JAN_1 + 20 * H}",
        f"cpu,host=a v=3 {JAN_1 + DAY + H}",  # the 2nd: today, not counted
        f"mem,host=a v=1 {JAN_1 - H}",  # Dec 31: too old
    ]))
    result = plugin_harness.run_schedule("daily_digest.py", call_time=datetime(2025, 1, 2, 6))
    assert result.lines_for("test_db") == ["digest,table=cpu rows=2i", "digest,table=mem rows=0i"]
    assert result.log_lines[-2] == "INFO: 2025-01-01..2025-01-02: 2 row(s) in 2 table(s)"


def test_the_window_is_an_argument(plugin_harness):
    plugin_harness.write_lp(f"cpu v=1 {JAN_1 - H}\ncpu v=2 {JAN_1 + H}")
    result = plugin_harness.run_schedule("daily_digest.py", call_time=datetime(2025, 1, 2, 6),
                                         args={"days": "2"})
    assert result.lines_for("test_db") == ["digest,table=cpu rows=2i"]


def test_fires_on_its_cron_schedule(engine, manual_clock):
    engine.write_lp("db", f"cpu v=1 {JAN_1 - H}")
    engine.create_trigger("db", "digest", plugin_filename="daily_digest.py",
                          trigger_specification="cron:0 0 6 * * *")
    manual_clock.advance(5 * 3600)
    assert engine.run_pending() == 0
    manual_clock.advance(3600)
    assert engine.run_pending() == 1
    assert engine.query("db", "SELECT \"table\", rows FROM digest") == [
        {"table": "cpu", "rows": 1}]
