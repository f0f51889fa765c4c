"""sql_report: parameterised SQL over fixture data, answered as JSON."""

import pytest

# The harness clock starts at 2025-01-01T00:00:00Z; these rows are the 10 minutes before it.
START_NS = 1_735_689_600_000_000_000
SECOND = 1_000_000_000
FIXTURE = "\n".join(
    f"cpu,host={host} usage={usage} {START_NS - seconds_ago * SECOND}"
    for host, usage, seconds_ago in [("a", 10, 550), ("a", 30, 545), ("b", 50, 540),
                                     ("a", 70, 120),
                                     ("a", 1, 7200)]  # the last one is outside the window
)


@pytest.fixture
def harness(plugin_harness):
    plugin_harness.write_lp(FIXTURE)
    return plugin_harness


def test_reports_per_minute_means_in_the_window(harness):
    result = harness.run_request("sql_report.py", query_params={"table": "cpu",
                                                                 "minutes": "60"})
    assert result.response.status == 200
    body = result.response.json()
    assert [(row["host"], row["mean"], row["samples"]) for row in body["rows"]] == [
        ("a", 20.0, 2), ("b", 50.0, 1), ("a", 70.0, 1)]
    assert "INFO: report on cpu.usage: 3 row(s)" in result.log_lines


def test_filters_by_host_with_a_query_parameter(harness):
    body = harness.run_request("sql_report.py",
                               query_params={"table": "cpu", "host": "b"}).response.json()
    assert [row["host"] for row in body["rows"]] == ["b"]


def test_the_window_follows_the_clock(harness):
    harness.advance(3600)  # an hour later nothing is within the default 60 minutes
    body = harness.run_request("sql_report.py", query_params={"table": "cpu"}).response.json()
    assert body["rows"] == []


@pytest.mark.parametrize(("params", "status", "error"), [
    ({}, 400, "query parameter 'table' is required"),
    ({"table": "nope"}, 404, "unknown table 'nope'"),
    ({"table": "cpu", "field": "x\" OR 1=1"}, 400, "has no column"),
    ({"table": "cpu", "minutes": "soon"}, 400, "must be a whole number"),
], ids=["no-table", "unknown-table", "unknown-field", "bad-minutes"])
def test_bad_requests_get_4xx_answers(harness, params, status, error):
    response = harness.run_request("sql_report.py", query_params=params).response
    assert response.status == status
    assert error in response.json()["error"]
