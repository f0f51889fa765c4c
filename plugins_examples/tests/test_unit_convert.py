"""unit_convert: write_sync copies with the original tags and timestamps."""

import pytest


def test_rows_are_copied_in_celsius_with_their_tags_and_times(plugin_harness):
    result = plugin_harness.run_wal(
        "unit_convert.py",
        "weather,city=paris temp_f=212 1000\nweather,city=oslo temp_f=32 2000\n"
        "weather,city=rome humidity=0.4 3000")
    assert result.lines_for("test_db") == [
        "weather_c,city=paris temp_c=100.0 1000",
        "weather_c,city=oslo temp_c=0.0 2000",
    ]
    assert result.log_lines[1] == "INFO: converted 2 row(s) into weather_c"


@pytest.mark.plugin_harness(apply_writes=True)
def test_the_copies_are_queryable(plugin_harness):
    plugin_harness.run_wal("unit_convert.py", "weather,city=lima temp_f=50 5000",
                           args={"target": "celsius"})
    assert plugin_harness.query("SELECT city, temp_c, time FROM celsius") == [
        {"city": "lima", "temp_c": 10.0, "time": 5000}]
