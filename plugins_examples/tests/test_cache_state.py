"""cache_state: running statistics kept as live objects in the trigger's cache."""

import statistics

import pytest

from engine.testing import PluginRunFailed


def test_statistics_carry_from_one_flush_to_the_next(plugin_harness):
    first = plugin_harness.run_wal(
        "cache_state.py",
        "sensors,room=a temp=10.0 1\nsensors,room=a temp=20.0 2\n"
        "sensors,room=b temp=5.0 3\nsensors,room=b humidity=1.0 4",
        args={"field": "temp"})
    assert first.lines_for("test_db") == [
        "running_stats,source=sensors,series=room\\=a count=2i,mean=15.0,"
        f"stddev={statistics.stdev([10, 20])},min=10.0,max=20.0",
        "running_stats,source=sensors,series=room\\=b count=1i,mean=5.0,stddev=0.0,min=5.0,max=5.0",
    ]
    assert "INFO: updated 2 series of temp" in first.log_lines
    second = plugin_harness.run_wal("cache_state.py",
                                    "sensors,room=a temp=30.0 5\nsensors,room=a temp=40.0 6",
                                    args={"field": "temp"})
    [line] = second.lines_for("test_db")
    assert line.startswith("running_stats,source=sensors,series=room\\=a count=4i,mean=25.0,")
    stats = plugin_harness.cache.get("sensors/room=a")
    assert (stats.count, stats.min, stats.max) == (4, 10.0, 40.0)
    assert stats.stddev == pytest.approx(statistics.stdev([10, 20, 30, 40]))


def test_series_without_tags_and_another_output_table(plugin_harness):
    # Rows without the field, and booleans, are left out.
    result = plugin_harness.run_wal("cache_state.py", "m v=3i 1\nm w=1 2\nflags v=true 3",
                                    args={"field": "v", "output_table": "stats"})
    assert result.lines_for("test_db") == [
        "stats,source=m,series=- count=1i,mean=3.0,stddev=0.0,min=3.0,max=3.0"]


def test_its_own_output_is_not_counted(plugin_harness):
    result = plugin_harness.run_wal("cache_state.py", "running_stats,series=x temp=1.0 1",
                                    args={"field": "temp"})
    assert result.database_writes == {}


def test_statistics_are_forgotten_after_forget_after_seconds(plugin_harness):
    args = {"field": "temp", "forget_after": "60"}
    plugin_harness.run_wal("cache_state.py", "sensors temp=10.0 1", args=args)
    plugin_harness.advance(30)
    plugin_harness.run_wal("cache_state.py", "sensors temp=20.0 2", args=args)
    assert plugin_harness.cache.get("sensors/-").count == 2
    plugin_harness.advance(61)
    assert plugin_harness.cache.get("sensors/-") is None
    result = plugin_harness.run_wal("cache_state.py", "sensors temp=50.0 3", args=args)
    assert result.lines_for("test_db")[0].startswith("running_stats,source=sensors,series=- "
                                                     "count=1i,mean=50.0,")


def test_the_field_argument_is_required(plugin_harness):
    with pytest.raises(PluginRunFailed, match="the 'field' argument is required"):
        plugin_harness.run_wal("cache_state.py", "sensors temp=1.0 1")


def test_runs_as_a_table_trigger(engine, manual_clock):
    engine.create_database("db")
    engine.create_trigger("db", "stats", plugin_filename="cache_state.py",
                          trigger_specification="table:sensors",
                          trigger_arguments={"field": "temp"})
    for value in (10.0, 30.0):
        engine.write_lp("db", f"sensors temp={value}")
        engine.flush()
        manual_clock.advance(1)  # each statistics row gets its own write time
    engine.flush()
    assert engine.query("db", "SELECT count, mean FROM running_stats ORDER BY time") == [
        {"count": 1, "mean": 10.0}, {"count": 2, "mean": 20.0}]
