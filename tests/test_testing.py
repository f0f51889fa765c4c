"""engine.testing: PluginHarness runs plugins with a real influxdb3_local over an engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from engine import Engine, ManualClock
from engine.testing import DEFAULT_DATABASE, PluginHarness, PluginRunFailed

ALERTS = '''
def process_writes(influxdb3_local, table_batches, args=None):
    limit = float((args or {}).get("limit", "90"))
    for batch in table_batches:
        for row in batch["rows"]:
            if row["usage"] > limit:
                history = influxdb3_local.query(
                    "SELECT count(*) AS n FROM cpu WHERE host = $host", {"host": row["host"]})
                influxdb3_local.info("high", row["host"], "history", history[0]["n"])
                influxdb3_local.write(LineBuilder("alerts").tag("host", row["host"])
                                      .float64_field("usage", row["usage"]))
'''
TICK = '''
def process_scheduled_call(influxdb3_local, call_time, args=None):
    rows = influxdb3_local.query(
        "SELECT count(*) AS n FROM alerts WHERE time > now() - INTERVAL '1 hour'")
    influxdb3_local.info(call_time.isoformat(), "recent alerts", rows[0]["n"])
    influxdb3_local.write(LineBuilder("summary").int64_field("alerts", rows[0]["n"]))
'''
COUNTER = '''
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    n = influxdb3_local.cache.get("hits", 0) + 1
    influxdb3_local.cache.put("hits", n, ttl=60)
    if query_parameters.get("boom"):
        raise ValueError("boom requested")
    return {"hits": n}
'''


@pytest.fixture
def harness(plugin_dir: Path) -> Iterator[PluginHarness]:
    for name, text in {"alerts.py": ALERTS, "tick.py": TICK, "counter.py": COUNTER}.items():
        (plugin_dir / name).write_text(text)
    with PluginHarness(plugin_dir) as made:
        yield made


def test_wal_runs_query_fixture_data_with_real_sql(harness: PluginHarness) -> None:
    harness.write_lp("cpu,host=a usage=50 1\ncpu,host=a usage=60 2\ncpu,host=b usage=10 3")
    result = harness.run_wal("alerts.py", "cpu,host=a usage=95\ncpu,host=b usage=5")
    assert "INFO: high a history 2" in result.log_lines
    assert result.lines_for(DEFAULT_DATABASE) == ["alerts,host=a usage=95.0"]
    assert "alerts" not in [r["table_name"] for r in harness.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox'")]


def test_args_reach_the_plugin(harness: PluginHarness) -> None:
    harness.write_lp("cpu,host=a usage=1 1")
    result = harness.run_wal("alerts.py", "cpu,host=a usage=20", args={"limit": "10"})
    assert result.lines_for(DEFAULT_DATABASE) == ["alerts,host=a usage=20.0"]


def test_a_failing_plugin_raises_with_its_logs_and_traceback(harness: PluginHarness) -> None:
    with pytest.raises(PluginRunFailed) as caught:
        harness.run_wal("alerts.py", "cpu,host=a usage=95")  # no fixture data: no cpu table
    message = str(caught.value)
    assert "error executing plugin: QueryError" in message
    assert 'alerts.py", line 7, in process_writes' in message
    assert "INFO: starting execution of wal plugin." in message
    assert caught.value.result.failed
    assert harness.runs == [caught.value.result]


def test_check_false_returns_the_failed_result(harness: PluginHarness) -> None:
    result = harness.run_request("counter.py", query_params={"boom": "1"}, check=False)
    assert result.failed
    assert result.error == "ValueError: boom requested"
    assert result.response.status == 500
    assert result.traceback is not None and "boom requested" in result.traceback


def test_apply_writes_makes_plugin_output_queryable(plugin_dir: Path) -> None:
    (plugin_dir / "alerts.py").write_text(ALERTS)
    (plugin_dir / "tick.py").write_text(TICK)
    with PluginHarness(plugin_dir, apply_writes=True) as harness:
        harness.write_lp("cpu,host=a usage=1 1")
        harness.run_wal("alerts.py", "cpu,host=a usage=99")
        harness.advance(60)
        summary = harness.run_schedule("tick.py")
    assert summary.log_lines[1] == "INFO: 2025-01-01T00:01:01 recent alerts 1"
    assert harness.writes == {DEFAULT_DATABASE: ["alerts,host=a usage=99.0", "summary alerts=1i"]}


def test_schedule_runs_take_an_explicit_call_time_or_the_next_tick(
        harness: PluginHarness) -> None:
    harness.write_lp("alerts,host=a usage=1 1")
    explicit = harness.run_schedule("tick.py", call_time=datetime(2030, 5, 6, 7, 8, 9, 999))
    assert explicit.log_lines[1] == "INFO: 2030-05-06T07:08:09 recent alerts 0"
    assert explicit.trigger_time == datetime(2030, 5, 6, 7, 8, 9, 999, tzinfo=UTC)
    scheduled = harness.run_schedule("tick.py", schedule="every:15m")
    assert scheduled.to_dict()["trigger_time"] == "2025-01-01T00:15:00Z"


def test_cache_state_carries_between_runs_and_can_be_seeded_and_expires(
        harness: PluginHarness) -> None:
    harness.cache.put("hits", 41)
    first = harness.run_request("counter.py")
    assert first.response.json() == {"hits": 42}
    assert first.cache == {"hits": 42}
    harness.advance(61)  # the plugin stored it with ttl=60
    assert harness.cache.get("hits") is None
    assert harness.run_request("counter.py").response.json() == {"hits": 1}


def test_replay_runs_a_recorded_file_in_batches(harness: PluginHarness, tmp_path: Path) -> None:
    harness.write_lp("cpu,host=a usage=1 1")
    recording = tmp_path / "recorded.lp"
    recording.write_text("".join(f"cpu,host=a usage={u} {i}\n"
                                 for i, u in enumerate([95, 10, 97, 99, 20])))
    results = harness.replay("alerts.py", recording, batch_lines=2)
    assert [len(r.lines_for(DEFAULT_DATABASE)) for r in results] == [1, 2, 0]
    assert len(harness.log_lines) == sum(len(r.log_lines) for r in results)


def test_a_harness_can_run_over_a_given_engine(plugin_dir: Path) -> None:
    (plugin_dir / "alerts.py").write_text(ALERTS)
    with Engine(plugin_dir, background=False, clock=ManualClock()) as engine:
        engine.write_lp("metrics", "cpu,host=z usage=1 1")
        harness = PluginHarness(engine=engine, database="metrics")
        result = harness.run_wal("alerts.py", "cpu,host=z usage=100")
        harness.close()
        assert engine.running  # a given engine is the caller's to stop
    assert "INFO: high z history 1" in result.log_lines


def test_closing_stops_the_engine_the_harness_made(plugin_dir: Path) -> None:
    harness = PluginHarness(plugin_dir)
    harness.close()
    assert not harness.engine.running


def test_advance_needs_a_manual_clock(plugin_dir: Path) -> None:
    from engine.clock import SystemClock

    with PluginHarness(plugin_dir, clock=SystemClock()) as harness, \
            pytest.raises(TypeError, match="not a ManualClock"):
        harness.advance(1)


def test_importing_the_test_kit_and_its_pytest_plugin_is_cheap() -> None:
    code = (
        "import sys, engine\n"
        "before = set(sys.modules)\n"
        "import engine.testing, engine.testing.pytest_plugin\n"
        "new = sorted(m for m in set(sys.modules) - before if m.startswith('engine'))\n"
        "print(','.join(new))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip().split(",") == ["engine.testing", "engine.testing.pytest_plugin"]
