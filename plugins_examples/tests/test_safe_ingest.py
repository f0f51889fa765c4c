"""safe_ingest: bad rows are quarantined, bad settings fail the call."""

import pytest

from engine.testing import PluginRunFailed


def test_good_rows_pass_and_bad_rows_go_to_rejected(plugin_harness):
    result = plugin_harness.run_wal(
        "safe_ingest.py",
        "sensor,id=1 value=1 1000\nsensor,id=2 other=3 2000\nsensor,id=3 value=500 3000",
        args={"max_value": "100"})
    assert result.log_lines[1:] [:3] == [
        "WARN: rejected a sensor row: missing value",
        "WARN: rejected a sensor row: value=500.0 over 100",
        "INFO: 1 good row(s), 2 rejected",
    ]
    assert result.lines_for("test_db") == [
        'rejected,table=sensor reason="missing value" 2000',
        'rejected,table=sensor reason="value=500.0 over 100" 3000',
    ]


def test_several_required_fields(plugin_harness):
    result = plugin_harness.run_wal("safe_ingest.py", "m a=1,b=2 1\nm a=1 2",
                                    args={"required": "a;b"})
    assert "WARN: rejected a m row: missing b" in result.log_lines


def test_its_own_rejected_rows_are_not_checked_again(plugin_harness):
    result = plugin_harness.run_wal("safe_ingest.py", 'rejected,table=m reason="x" 1')
    assert result.database_writes == {}


@pytest.mark.parametrize(("args", "message"), [
    ({"max_value": "lots"}, "max_value must be a number, got 'lots'"),
    ({"required": ";"}, "'required' must name at least one field"),
], ids=["bad-number", "no-required-fields"])
def test_bad_settings_fail_the_call_and_write_nothing(plugin_harness, args, message):
    result = plugin_harness.run_wal("safe_ingest.py", "m other=1 1", args=args, check=False)
    assert result.failed
    assert message in result.error
    assert result.database_writes == {}
    with pytest.raises(PluginRunFailed):
        plugin_harness.run_wal("safe_ingest.py", "m other=1 1", args=args)


def test_as_a_trigger_a_bad_setting_disables_it(engine):
    engine.create_database("db")
    engine.create_trigger("db", "guard", plugin_filename="safe_ingest.py",
                          trigger_specification="all_tables",
                          trigger_arguments={"max_value": "lots"},
                          trigger_settings={"error_behavior": "disable"})
    engine.write_lp("db", "m value=1 1")
    engine.flush()
    assert engine.get_trigger("db", "guard").disabled
