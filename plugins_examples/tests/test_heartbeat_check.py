"""heartbeat_check: a directory plugin with a manifest, state kept in the cache."""

from datetime import datetime

from engine.manifest import plugin_manifest

S = 1_000_000_000
START_NS = 1_735_689_600 * S  # 2025-01-01T00:00:00Z, where the harness clock starts


def test_the_manifest_declares_the_plugin(plugin_dir):
    manifest = plugin_manifest(plugin_dir / "heartbeat_check")
    assert (manifest.name, manifest.triggers) == ("heartbeat_check", ("process_scheduled_call",))


def test_alerts_once_when_a_host_goes_silent_and_once_when_it_is_back(plugin_harness):
    plugin_harness.write_lp(f"heartbeat,host=a up=1i {START_NS - 10 * S}\n"
                            f"heartbeat,host=b up=1i {START_NS - 600 * S}")
    first = plugin_harness.run_schedule("heartbeat_check", call_time=datetime(2025, 1, 1))
    assert first.lines_for("test_db") == ['host_state,host=b state="silent"']
    assert "INFO: 2 host(s), 1 silent" in first.log_lines

    again = plugin_harness.run_schedule("heartbeat_check", call_time=datetime(2025, 1, 1, 0, 1))
    assert again.database_writes == {}  # still silent: no new alert

    plugin_harness.write_lp(f"heartbeat,host=b up=1i {START_NS + 90 * S}")
    back = plugin_harness.run_schedule("heartbeat_check", call_time=datetime(2025, 1, 1, 0, 2))
    assert back.lines_for("test_db") == ['host_state,host=b state="back"']
    assert "WARN: host b is back" in back.log_lines


def test_arguments_choose_the_table_and_the_silence(plugin_harness):
    plugin_harness.write_lp(f"pings,host=x n=1i {START_NS - 30 * S}")
    result = plugin_harness.run_schedule("heartbeat_check", call_time=datetime(2025, 1, 1),
                                         args={"table": "pings", "silence_s": "20"})
    assert result.lines_for("test_db") == ['host_state,host=x state="silent"']


def test_runs_as_a_schedule_trigger(engine, manual_clock):
    engine.write_lp("db", f"heartbeat,host=a up=1i {START_NS - 900 * S}")
    engine.create_trigger("db", "deadman", plugin_filename="heartbeat_check",
                          trigger_specification="every:1m")
    manual_clock.advance(60)
    assert engine.run_pending() == 1
    assert engine.query("db", "SELECT host, state FROM host_state") == [
        {"host": "a", "state": "silent"}]
