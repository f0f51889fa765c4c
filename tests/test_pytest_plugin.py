"""The pytest plugin, run by pytester in temporary plugin projects; outcomes asserted."""

from __future__ import annotations

import configparser
import textwrap

import pytest
from conftest import REPO_ROOT

# pytester's inline runs unload the modules first imported inside them, and datafusion cannot be
# imported twice in one process: load the engine here, before any inline run.
import engine.testing.harness  # noqa: F401

pytest_plugins = ["pytester"]

PLUGIN = '''
def process_writes(influxdb3_local, table_batches, args=None):
    threshold = float((args or {}).get("threshold", "80"))
    for batch in table_batches:
        for row in batch["rows"]:
            if row["usage"] > threshold:
                seen = influxdb3_local.query("SELECT count(*) AS n FROM cpu")[0]["n"]
                influxdb3_local.warn("hot", row["host"], "stored rows", seen)
                influxdb3_local.write(LineBuilder("hot").tag("host", row["host"])
                                      .float64_field("usage", row["usage"]))


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("tick", call_time.isoformat())


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"echo": query_parameters.get("q")}
'''

TESTS = '''
import pytest

def test_wal(plugin_harness):
    plugin_harness.write_lp("cpu,host=a usage=10 1")
    result = plugin_harness.run_wal("cpu_plugin.py", "cpu,host=a usage=95",
                                    args={"threshold": "90"})
    assert result.log_lines[1] == "WARN: hot a stored rows 1"
    assert result.lines_for("test_db") == ["hot,host=a usage=95.0"]

def test_schedule(plugin_harness, manual_clock):
    manual_clock.advance(3600)
    result = plugin_harness.run_schedule("cpu_plugin.py")
    assert result.log_lines[1] == "INFO: tick 2025-01-01T01:00:01"

def test_request(plugin_harness):
    result = plugin_harness.run_request("cpu_plugin.py", query_params={"q": "x"})
    assert result.response.json() == {"echo": "x"}

def test_engine(engine):
    engine.write_lp("db", "m v=1 1")
    assert engine.query("db", "SELECT v FROM m") == [{"v": 1.0}]
    assert engine.test_request_plugin("cpu_plugin.py", database="db").response.status == 200
'''


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A plugin project; the plugin is loaded explicitly, installed or not."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(cpu_plugin=PLUGIN)
    return pytester


# pytester runs in process, so its test files get names no module of our suite has (a
# shared basename would make pytest refuse to import the second one).
def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "engine.testing.pytest_plugin", "--strict-markers", *args)


def test_a_plugin_project_passes_with_the_shipped_fixtures(project: pytest.Pytester) -> None:
    project.makepyfile(test_pt_cpu_plugin=TESTS)
    _run(project).assert_outcomes(passed=4)


def test_a_failing_plugin_fails_its_test_with_the_traceback_and_logs(
        project: pytest.Pytester) -> None:
    project.makepyfile(test_pt_fails='''
def test_needs_fixture_data(plugin_harness):
    plugin_harness.run_wal("cpu_plugin.py", "cpu,host=a usage=99")
''')
    result = _run(project)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*PluginRunFailed: plugin cpu_plugin.py failed:",
        "*error executing plugin: QueryError*",
        '*cpu_plugin.py", line 6, in process_writes',
        "*INFO: starting execution of wal plugin.",
    ])


def test_check_false_lets_a_test_assert_on_the_failure(project: pytest.Pytester) -> None:
    project.makepyfile(test_pt_expected_failure='''
def test_reports_missing_table(plugin_harness):
    result = plugin_harness.run_wal("cpu_plugin.py", "cpu,host=a usage=99", check=False)
    assert result.failed and "not found" in result.error
    assert result.log_lines[0] == "INFO: starting execution of wal plugin."
''')
    _run(project).assert_outcomes(passed=1)


def test_the_plugin_directory_comes_from_the_ini_option(project: pytest.Pytester) -> None:
    project.mkdir("plugins")
    (project.path / "cpu_plugin.py").rename(project.path / "plugins" / "cpu_plugin.py")
    project.makeini("[pytest]\nprocessing_engine_plugin_dir = plugins\n")
    project.makepyfile(test_pt_ini=TESTS)
    _run(project).assert_outcomes(passed=4)


def test_the_plugin_dir_marker_and_a_conftest_override(project: pytest.Pytester) -> None:
    project.mkdir("elsewhere")
    (project.path / "elsewhere" / "other.py").write_text(
        "def process_request(influxdb3_local, q, h, b, args=None):\n    return 'other'\n")
    project.makepyfile(test_pt_marker='''
import pytest

@pytest.mark.plugin_dir("elsewhere")
def test_marker(plugin_harness, plugin_dir):
    assert plugin_dir.name == "elsewhere"
    assert plugin_harness.run_request("other.py").response.text == "other"
''')
    sub = project.mkdir("sub")
    (sub / "conftest.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.fixture
        def plugin_dir(pytestconfig):
            return pytestconfig.rootpath / "elsewhere"
    '''))
    (sub / "test_override.py").write_text(
        "def test_override(plugin_harness):\n"
        "    assert plugin_harness.run_request('other.py').response.text == 'other'\n")
    _run(project).assert_outcomes(passed=2)


def test_the_harness_marker_and_the_factory(project: pytest.Pytester) -> None:
    project.makepyfile(test_pt_options='''
import pytest

@pytest.mark.plugin_harness(database="metrics", apply_writes=True)
def test_marker_options(plugin_harness):
    plugin_harness.write_lp("cpu,host=a usage=1 1")
    plugin_harness.run_wal("cpu_plugin.py", "cpu,host=b usage=99 2")
    assert plugin_harness.query("SELECT host FROM hot") == [{"host": "b"}]

def test_factory(make_plugin_harness, tmp_path):
    (tmp_path / "p.py").write_text(
        "def process_scheduled_call(influxdb3_local, call_time, args=None):\\n"
        "    influxdb3_local.info(args)\\n")
    harness = make_plugin_harness(plugin_dir=tmp_path, database="other")
    assert harness.run_schedule("p.py", args={"a": "1"}).log_lines[1] == "INFO: {'a': '1'}"
''')
    _run(project).assert_outcomes(passed=2)


def test_the_engine_fixture_is_stopped_after_each_test(project: pytest.Pytester) -> None:
    project.makepyfile(test_pt_teardown='''
SEEN = []

def test_first(engine):
    SEEN.append(engine)
    assert engine.running

def test_second():
    assert not SEEN[0].running
''')
    _run(project).assert_outcomes(passed=2)


def test_the_markers_are_registered(project: pytest.Pytester) -> None:
    result = _run(project, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.plugin_dir(path)*",
                                 "@pytest.mark.plugin_harness(**options)*"])


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    entries = config["options.entry_points"]["pytest11"].strip().splitlines()
    assert "processing_engine = engine.testing.pytest_plugin" in [e.strip() for e in entries]
