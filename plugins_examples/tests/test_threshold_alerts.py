"""threshold_alerts: a directory plugin writing one alert row per threshold breach."""

import pytest

from engine.testing import PluginRunFailed

RULES = "temp>30-WARN:temp>=40-CRITICAL:humidity<20"
S = 1_000_000_000
ROWS = "\n".join([
    f"sensors,room=a temp=25.0,humidity=50 {1 * S}",
    f"sensors,room=b temp=35.5,humidity=10 {2 * S}",
    f"sensors,room=c temp=41.0 {3 * S}",
    f"other,room=d temp=99.0 {4 * S}",
])


def _alert(field, level, value, threshold, rule, seconds, source="sensors", table="alerts"):
    return (f"{table},source={source},field={field},level={level} value={value},"
            f'threshold={threshold},rule="{rule}" {seconds * S}')


def test_one_alert_per_breached_rule_with_the_row_time(plugin_harness):
    result = plugin_harness.run_wal("threshold_alerts", ROWS,
                                    args={"rules": RULES, "measurement": "sensors"})
    assert result.lines_for("test_db") == [
        _alert("temp", "WARN", 35.5, 30.0, "temp>30-WARN", 2),
        _alert("humidity", "WARN", 10.0, 20.0, "humidity<20", 2),
        _alert("temp", "WARN", 41.0, 30.0, "temp>30-WARN", 3),
        _alert("temp", "CRITICAL", 41.0, 40.0, "temp>=40-CRITICAL", 3),
    ]
    assert "WARN: 4 threshold breach(es)" in result.log_lines


def test_every_table_is_checked_without_a_measurement(plugin_harness):
    result = plugin_harness.run_wal("threshold_alerts", ROWS,
                                    args={"rules": "temp>90-ERROR", "alert_table": "alarms"})
    assert result.lines_for("test_db") == [
        _alert("temp", "ERROR", 99.0, 90.0, "temp>90-ERROR", 4, source="other", table="alarms")]


def test_quiet_rows_and_its_own_alerts_raise_nothing(plugin_harness):
    result = plugin_harness.run_wal(
        "threshold_alerts",
        f"sensors temp=20.0,label=\"hot\" 1\n{_alert('temp', 'WARN', 35.5, 30.0, 'x', 2)}",
        args={"rules": "temp>30:label>0"})
    assert result.database_writes == {}
    assert not any(line.startswith("WARN:") for line in result.log_lines)


@pytest.mark.parametrize(("rules", "fragment"), [
    ("temp=>30", "bad rule 'temp=>30'"),
    ("temp>30-LOUD", "LEVEL one of INFO, WARN, ERROR, CRITICAL"),
    ("temp>1.2.3", "'1.2.3' is not a number"),
    ("", "no rules given"),
], ids=["bad-operator", "bad-level", "bad-number", "no-rules"])
def test_bad_rules_fail_the_call_with_the_grammar(plugin_harness, rules, fragment):
    with pytest.raises(PluginRunFailed, match="ValueError") as failure:
        plugin_harness.run_wal("threshold_alerts", "sensors temp=50.0 1", args={"rules": rules})
    assert fragment in failure.value.result.error
    assert failure.value.result.database_writes == {}


def test_runs_as_a_trigger_on_the_directory(engine):
    engine.create_database("db")
    engine.create_trigger("db", "alerts", plugin_filename="threshold_alerts",
                          trigger_specification="table:sensors",
                          trigger_arguments={"rules": "temp>=40-CRITICAL"})
    engine.write_lp("db", "sensors,room=c temp=41.0 3", precision="s")
    engine.flush()
    engine.flush()
    assert engine.query("db", "SELECT source, level, value, time FROM alerts") == [
        {"source": "sensors", "level": "CRITICAL", "value": 41.0, "time": 3 * S}]
