"""http_echo: a request plugin answering with what it received, in the (body, status, headers)
form."""

import pytest


def test_echoes_parameters_headers_and_a_json_body(plugin_harness):
    result = plugin_harness.run_request(
        "http_echo.py", query_params={"status": "201", "q": "x"},
        headers={"Content-Type": "application/json"}, body=b'{"a": [1, 2]}',
        args={"greeting": "hello"})
    response = result.response
    assert (response.status, response.header("x-echo")) == (201, "1")
    assert response.json() == {
        "query_parameters": {"status": "201", "q": "x"},
        "body": {"a": [1, 2]},
        "body_bytes": 13,
        "headers": {"content-type": "application/json"},
        "greeting": "hello",
    }
    assert "INFO: echoed 13 body bytes with status 201" in result.log_lines


@pytest.mark.parametrize(("body", "echoed"), [
    (b"", None),
    (b"plain text", "plain text"),
    (b"not json \xff", "not json \ufffd"),
    (b"[1, 2.5]", [1, 2.5]),
], ids=["empty", "text", "bad-utf8", "json-list"])
def test_bodies_are_parsed_as_json_else_decoded_as_text(plugin_harness, body, echoed):
    response = plugin_harness.run_request("http_echo.py", body=body,
                                          args={"include_headers": "false"}).response
    assert response.status == 200
    assert response.json() == {"query_parameters": {}, "body": echoed, "body_bytes": len(body)}


def test_the_authorization_header_never_reaches_the_plugin(plugin_harness):
    response = plugin_harness.run_request(
        "http_echo.py", headers={"Authorization": "Bearer secret", "X-A": "1"}).response
    assert response.json()["headers"] == {"x-a": "1"}


def test_a_bad_status_fails_the_call(plugin_harness):
    result = plugin_harness.run_request("http_echo.py", query_params={"status": "teapot"},
                                        check=False)
    assert result.failed
    assert "ValueError" in result.error


def test_runs_as_a_request_trigger(engine):
    engine.create_database("db")
    engine.create_trigger("db", "echo", plugin_filename="http_echo.py",
                          trigger_specification="request:echo")
    response = engine.handle_request("echo", method="POST", query_params={"status": "202"},
                                     body=b"hi")
    assert response.status == 202
    assert response.json()["body"] == "hi"
