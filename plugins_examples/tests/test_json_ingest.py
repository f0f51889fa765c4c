"""json_ingest: a request plugin parsing a JSON body and writing points."""

import json

import pytest


def _post(harness, document, raw=None):
    body = raw if raw is not None else json.dumps(document)
    return harness.run_request("json_ingest.py", body=body,
                               headers={"Content-Type": "application/json"})


def test_points_are_written_and_counted(plugin_harness):
    result = _post(plugin_harness, [
        {"measurement": "door", "tags": {"room": "hall"}, "fields": {"open": True},
         "time": 1_000},
        {"measurement": "temp", "fields": {"c": 21.5, "n": 3, "unit": "C"}, "time": 2_000},
    ])
    assert (result.response.status, result.response.json()) == (201, {"written": 2})
    assert result.lines_for("test_db") == [
        "door,room=hall open=t 1000",
        'temp c=21.5,n=3i,unit="C" 2000',
    ]


@pytest.mark.parametrize(("document", "raw", "error"), [
    (None, "{not json", "Expecting property name"),
    ({"fields": {"v": 1}}, None, "needs a string 'measurement'"),
    ({"measurement": "m", "fields": {}}, None, "needs a non-empty 'fields' object"),
    ({"measurement": "m", "fields": {"v": [1]}}, None, "unsupported value"),
], ids=["bad-json", "no-measurement", "no-fields", "list-value"])
def test_bad_documents_get_400_and_write_nothing(plugin_harness, document, raw, error):
    result = _post(plugin_harness, document, raw)
    assert result.response.status == 400
    assert error in result.response.json()["error"]
    assert result.database_writes == {}
    assert result.log_lines[1].startswith("WARN: refused a request: ")


@pytest.mark.plugin_harness(apply_writes=True)
def test_written_points_can_be_queried(plugin_harness):
    _post(plugin_harness, {"measurement": "m", "tags": {"k": "v"}, "fields": {"x": 1.5}})
    assert plugin_harness.query("SELECT k, x FROM m") == [{"k": "v", "x": 1.5}]
