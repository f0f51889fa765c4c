"""downsample_to_db: per-host summaries written back to another database."""

import pytest

from engine.testing import PluginRunFailed

BATCH = "\n".join([
    "cpu,host=a usage=10",
    "cpu,host=a usage=30",
    "cpu,host=b usage=5",
    "cpu,host=b idle=1",  # no usage field: ignored
])


def test_writes_one_summary_per_host_to_the_target_database(plugin_harness):
    result = plugin_harness.run_wal("downsample_to_db.py", BATCH, args={"target_db": "rollups"})
    assert result.database_writes == {"rollups": [
        "cpu_summary,host=a count=2i,mean=20.0,max=30.0",
        "cpu_summary,host=b count=1i,mean=5.0,max=5.0",
    ]}
    assert "INFO: summarised 2 host(s) into rollups" in result.log_lines


@pytest.mark.plugin_harness(apply_writes=True)
def test_the_summaries_land_in_the_target_database(plugin_harness):
    plugin_harness.run_wal("downsample_to_db.py", BATCH, args={"target_db": "rollups"})
    rows = plugin_harness.query("SELECT host, mean, count FROM cpu_summary ORDER BY host",
                                database="rollups")
    assert rows == [{"host": "a", "mean": 20.0, "count": 2}, {"host": "b", "mean": 5.0, "count": 1}]


def test_another_field_can_be_summarised(plugin_harness):
    result = plugin_harness.run_wal("downsample_to_db.py", "cpu,host=z temp=70i",
                                    args={"target_db": "t", "field": "temp"})
    assert result.lines_for("t") == ["cpu_summary,host=z count=1i,mean=70.0,max=70.0"]


def test_a_missing_target_fails_with_a_clear_message(plugin_harness):
    with pytest.raises(PluginRunFailed, match="needs the trigger argument target_db"):
        plugin_harness.run_wal("downsample_to_db.py", BATCH)
