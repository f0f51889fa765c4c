"""Request triggers through `Engine.handle_request`, `submit_request` and `start_request`:
inputs, responses, errors, writes, and the callback a server is answered through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine import Engine
from engine.errors import EngineNotStarted, EngineStopped
from engine.responses import Response

ECHO = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {
        "query": query_parameters,
        "headers": request_headers,
        "body_type": type(request_body).__name__,
        "body": list(request_body),
        "args": args,
    }
"""

# Returns whatever the `case` query parameter names, to check each conversion rule.
RETURNS = '''
class FlaskLike:
    status_code = 202
    headers = {"X-Kind": "flask"}

    def __flask_response__(self):
        return True

    def get_data(self):
        return "flask body"


class WerkzeugLike:
    status_code = 418
    headers = {"Content-Type": "text/plain", "X-Kind": "werkzeug"}

    def get_data(self):
        return b"teapot"


def _chunks():
    yield "a"
    yield b"b"


CASES = {
    "dict": lambda: {"ok": True, "n": 1},
    "list": lambda: [1, "two"],
    "str": lambda: "<p>hi</p>",
    "bytes": lambda: b"\\x00\\x01raw",
    "body_status": lambda: ({"created": 1}, 201),
    "body_status_text": lambda: ("gone", "410 Gone"),
    "body_headers": lambda: ("x", {"X-A": "1"}),
    "body_status_headers": lambda: ("x", 203, {"content-type": "text/csv", "X-B": 2}),
    "flask_like": FlaskLike,
    "response_object": WerkzeugLike,
    "generator": _chunks,
    "none": lambda: None,
    "number": lambda: 42,
    "status_first": lambda: (200, {"X": "y"}, "body"),
    "bad_status": lambda: ("x", 1000),
    "bad_header_name": lambda: ("x", 200, {"bad name": "v"}),
    "not_json": lambda: {"when": object()},
}


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return CASES[query_parameters["case"]]()
'''

FAILING = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    influxdb3_local.write(LineBuilder("never").int64_field("n", 1))
    raise ValueError("boom")
"""

WRITER = """
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    n = int(query_parameters["n"])
    influxdb3_local.write(LineBuilder("hits").tag("path", "count").int64_field("n", n))
    influxdb3_local.write_to_db("audit", LineBuilder("calls").int64_field("n", n))
    if query_parameters.get("bad"):
        # A bad line: the batched write is refused after the call, the response still goes out.
        influxdb3_local.write(LineBuilder("hits").string_field("n", "not an int"))
    return {"queued": n}
"""

NO_ENTRY_POINT = "def something_else():\n    return 1\n"

THREAD = """
import threading

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    influxdb3_local.info("serving", request_body.decode())
    return {"thread": threading.get_ident(), "body": request_body.decode()}
"""

# Holds its call until the file named by the `release` query parameter exists.
HOLD = """
import os
import time

def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    while not os.path.exists(query_parameters["release"]):
        time.sleep(0.005)
    return "released"
"""


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    for name, source in {"echo.py": ECHO, "returns.py": RETURNS, "failing.py": FAILING,
                         "writer.py": WRITER, "no_entry.py": NO_ENTRY_POINT,
                         "thread.py": THREAD, "hold.py": HOLD}.items():
        (plugin_dir / name).write_text(source)
    return plugin_dir


@pytest.fixture(params=[False, True], ids=["inline", "background"])
def engine(plugins: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    with Engine(plugins, background=request.param, watch_plugins=False) as eng:
        eng.create_database("db")
        yield eng


def add_request_trigger(engine: Engine, name: str, plugin: str, path: str,
                        args: dict[str, str] | None = None) -> None:
    engine.create_trigger("db", name, plugin_filename=plugin,
                          trigger_specification=f"request:{path}", trigger_arguments=args)


def test_plugin_gets_query_lower_cased_headers_without_authorization_and_bytes(
    engine: Engine,
) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo", {"k": "v"})
    body = b"\x00\xff{not json"
    response = engine.handle_request(
        "echo", method="POST", query_params={"a": "1", "b": "x y"},
        headers={"Content-Type": "application/octet-stream", "Authorization": "Bearer secret",
                 "X-Custom-Header": "Value"},
        body=body,
    )
    assert response.status == 200
    assert response.header("content-type") == "application/json"
    assert response.json() == {
        "query": {"a": "1", "b": "x y"},
        "headers": {"content-type": "application/octet-stream", "x-custom-header": "Value"},
        "body_type": "bytes",
        "body": list(body),
        "args": {"k": "v"},
    }


@pytest.mark.parametrize("body", [
    pytest.param(bytearray(b"\x01ab"), id="bytearray"),
    pytest.param(memoryview(b"\x01ab"), id="memoryview"),
    pytest.param("\x01ab", id="str-as-utf8"),
])
def test_any_buffer_or_text_body_reaches_the_plugin_as_bytes(engine: Engine, body: Any) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    reply = engine.handle_request("echo", method="POST", body=body).json()
    assert (reply["body_type"], reply["body"]) == ("bytes", [1, 97, 98])


def test_get_without_anything_passes_empty_inputs_and_none_args(engine: Engine) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    assert engine.handle_request("echo").json() == {
        "query": {}, "headers": {}, "body_type": "bytes", "body": [], "args": None}


@pytest.mark.parametrize(("case", "status", "content_type", "body", "extra_headers"), [
    pytest.param("dict", 200, "application/json", b'{"ok": true, "n": 1}', {}, id="dict"),
    pytest.param("list", 200, "application/json", b'[1, "two"]', {}, id="list"),
    pytest.param("str", 200, "text/html", b"<p>hi</p>", {}, id="str"),
    pytest.param("bytes", 200, "text/html", b"\x00\x01raw", {}, id="bytes-as-is"),
    pytest.param("body_status", 201, "application/json", b'{"created": 1}', {},
                 id="body-status"),
    pytest.param("body_status_text", 410, "text/html", b"gone", {}, id="status-text"),
    pytest.param("body_headers", 200, "text/html", b"x", {"X-A": "1"}, id="body-headers"),
    pytest.param("body_status_headers", 203, "text/csv", b"x", {"X-B": "2"},
                 id="body-status-headers"),
    pytest.param("flask_like", 202, None, b"flask body", {"X-Kind": "flask"}, id="flask-like"),
    pytest.param("response_object", 418, "text/plain", b"teapot", {"X-Kind": "werkzeug"},
                 id="werkzeug-like"),
    pytest.param("generator", 200, "text/html", b"ab", {}, id="iterable"),
])
def test_return_value_becomes_the_response(
    engine: Engine, case: str, status: int, content_type: str | None, body: bytes,
    extra_headers: dict[str, str],
) -> None:
    add_request_trigger(engine, "returns", "returns.py", "returns")
    response = engine.handle_request("returns", query_params={"case": case})
    assert (response.status, response.body) == (status, body)
    assert response.header("Content-Type") == content_type
    for name, value in extra_headers.items():
        assert response.header(name) == value
    content_types = [k for k in response.headers if k.lower() == "content-type"]
    assert len(content_types) <= 1


@pytest.mark.parametrize(("case", "fragment"), [
    pytest.param("none", "returned None", id="none"),
    pytest.param("number", "unsupported return type int", id="number"),
    pytest.param("status_first", "the body comes first", id="status-first-tuple"),
    pytest.param("bad_status", "outside 100-999", id="bad-status"),
    pytest.param("bad_header_name", "not a valid HTTP header name", id="bad-header-name"),
    pytest.param("not_json", "cannot be serialised as JSON", id="not-json"),
])
def test_a_return_value_with_no_http_meaning_is_a_500_with_a_json_message(
    engine: Engine, case: str, fragment: str,
) -> None:
    add_request_trigger(engine, "returns", "returns.py", "returns")
    response = engine.handle_request("returns", query_params={"case": case})
    assert response.status == 500
    assert response.header("content-type") == "application/json"
    assert fragment in response.json()["error"]
    logged = [e.message for e in engine.observability.logs_for("db", "returns")
              if e.level == "ERROR"]
    assert any(fragment in line for line in logged), logged


def test_a_plugin_error_is_a_500_with_a_json_message_logged_with_its_traceback(
    engine: Engine,
) -> None:
    add_request_trigger(engine, "failing", "failing.py", "fail")
    response = engine.handle_request("fail", method="POST", body=b"x")
    assert response.status == 500
    assert response.json() == {"error": "Python function call failed: ValueError: boom"}
    [error] = [e for e in engine.observability.logs_for("db", "failing") if e.level == "ERROR"]
    assert error.message == "error running request plugin: ValueError: boom"
    assert error.traceback is not None
    assert 'raise ValueError("boom")' in error.traceback
    # Batched writes of a failed call are discarded.
    engine.flush()
    assert "never" not in [r["table_name"] for r in engine.query(
        "db", "SELECT table_name FROM information_schema.tables")]
    # The trigger keeps serving.
    assert engine.handle_request("fail").status == 500


def test_a_missing_entry_point_is_a_500_naming_the_expected_signature(
    engine: Engine, plugins: Path,
) -> None:
    # create_trigger checks the entry point, so it goes missing in a later edit.
    (plugins / "no_entry.py").write_text(ECHO)
    add_request_trigger(engine, "later", "no_entry.py", "later")
    (plugins / "no_entry.py").write_text(NO_ENTRY_POINT)
    response = engine.handle_request("later")
    assert response.status == 500
    assert "the process_request function is not present in the plugin" in response.json()["error"]


def test_batched_writes_are_applied_before_the_response(engine: Engine) -> None:
    add_request_trigger(engine, "writer", "writer.py", "write")
    response = engine.handle_request("write", method="POST", query_params={"n": "7"})
    assert response.json() == {"queued": 7}
    # No flush: the writes were applied before handle_request returned.
    assert engine.query("db", "SELECT path, n FROM hits") == [{"path": "count", "n": 7}]
    assert engine.query("audit", "SELECT n FROM calls") == [{"n": 7}]


def test_batched_writes_are_durable_before_the_response(plugins: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Engine(plugins, data_dir=data_dir, watch_plugins=False) as engine:
        engine.create_database("db")
        add_request_trigger(engine, "writer", "writer.py", "write")
        assert engine.handle_request("write", query_params={"n": "3"}).status == 200
        wal_files = sorted((data_dir / "wal").iterdir())
    assert wal_files, "the plugin's writes were not in the WAL when the response was made"
    with Engine(plugins, data_dir=data_dir, watch_plugins=False) as engine:
        assert engine.query("db", "SELECT n FROM hits") == [{"n": 3}]
        engine.handle_request("write", query_params={"n": "4"})
        assert engine.query("db", "SELECT n FROM hits ORDER BY n") == [{"n": 3}, {"n": 4}]


def test_a_refused_batched_write_is_logged_and_the_response_still_sent(engine: Engine) -> None:
    add_request_trigger(engine, "writer", "writer.py", "write")
    engine.handle_request("write", query_params={"n": "1"})
    response = engine.handle_request("write", query_params={"n": "2", "bad": "1"})
    assert response.json() == {"queued": 2}
    errors = [e.message for e in engine.observability.logs_for("db", "writer")
              if e.level == "ERROR"]
    assert len(errors) == 1
    assert errors[0].startswith("error running request plugin: error writing back lines")
    # All or nothing per database: the good line of that database was refused with the bad one.
    assert engine.query("db", "SELECT n FROM hits ORDER BY n") == [{"n": 1}]
    assert engine.query("audit", "SELECT n FROM calls ORDER BY n") == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(("path", "method", "status"), [
    pytest.param("nobody", "GET", 404, id="unknown-path"),
    pytest.param("echo/more", "GET", 404, id="longer-path"),
    pytest.param("echo", "PUT", 405, id="put"),
    pytest.param("echo", "DELETE", 405, id="delete"),
])
def test_unknown_paths_and_other_methods_get_json_errors(
    engine: Engine, path: str, method: str, status: int,
) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    response = engine.handle_request(path, method=method)
    assert response.status == status
    assert isinstance(response.json()["error"], str)


def test_methods_are_case_insensitive_and_both_reach_the_plugin(engine: Engine) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    assert engine.handle_request("echo", method="get").status == 200
    assert engine.handle_request("echo", method="post").status == 200


def test_disabled_and_deleted_triggers_stop_serving_their_path(engine: Engine) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    engine.disable_trigger("db", "echo")
    assert engine.handle_request("echo").status == 404
    engine.enable_trigger("db", "echo")
    assert engine.handle_request("echo").status == 200
    engine.delete_trigger("db", "echo")
    assert engine.handle_request("echo").status == 404
    add_request_trigger(engine, "again", "echo.py", "echo")
    assert engine.handle_request("echo").status == 200


def test_each_call_is_in_the_run_history(engine: Engine) -> None:
    add_request_trigger(engine, "echo", "echo.py", "echo")
    add_request_trigger(engine, "failing", "failing.py", "fail")
    engine.handle_request("echo")
    engine.handle_request("fail")
    runs = engine.query("db", "SELECT trigger_name, kind, status FROM "
                              "system.processing_engine_runs ORDER BY trigger_name")
    assert runs == [
        {"trigger_name": "echo", "kind": "request", "status": "success"},
        {"trigger_name": "failing", "kind": "request", "status": "error"},
    ]


class Answers:
    """A `then` callback: keeps every response it is given and the thread that gave it."""

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self.threads: list[int] = []
        self.arrived = threading.Event()

    def __call__(self, response: Response) -> None:
        self.responses.append(response)
        self.threads.append(threading.get_ident())
        self.arrived.set()


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        threading.Event().wait(0.005)


def test_start_request_calls_then_once_on_the_plugin_thread(engine: Engine) -> None:
    add_request_trigger(engine, "thread", "thread.py", "thread")
    answers = Answers()
    engine.start_request("thread", then=answers, method="POST", body=b"hi",
                         query_params={"q": "1"}, headers={"X-A": "b"})
    if not engine.options.background:
        assert len(answers.responses) == 1  # the plugin ran before start_request returned
    assert answers.arrived.wait(10)
    [response] = answers.responses
    assert response.status == 200
    assert response.json()["body"] == "hi"
    assert answers.threads == [response.json()["thread"]]
    assert (answers.threads[0] == threading.get_ident()) is not engine.options.background
    # Another whole call later, the first one's `then` was still called only once.
    assert engine.handle_request("thread").status == 200
    assert len(answers.responses) == 1


@pytest.mark.parametrize(("path", "method", "status"), [
    pytest.param("nobody", "GET", 404, id="unknown-path"),
    pytest.param("thread", "PUT", 405, id="bad-method"),
    pytest.param("nobody", "DELETE", 404, id="unknown-path-and-bad-method"),
])
def test_start_request_answers_404_and_405_at_once_in_the_calling_thread(
    engine: Engine, path: str, method: str, status: int,
) -> None:
    add_request_trigger(engine, "thread", "thread.py", "thread")
    answers = Answers()
    engine.start_request(path, then=answers, method=method)
    assert [r.status for r in answers.responses] == [status]
    assert answers.threads == [threading.get_ident()]
    assert isinstance(answers.responses[0].json()["error"], str)
    assert engine.observability.runs_for("db", "thread") == []


@pytest.mark.parametrize(("stage", "error"), [
    pytest.param("not-started", EngineNotStarted, id="not-started"),
    pytest.param("stopped", EngineStopped, id="stopped"),
])
def test_start_request_raises_when_the_engine_is_not_running_and_never_calls_then(
    plugins: Path, stage: str, error: type[Exception],
) -> None:
    engine = Engine(plugins, watch_plugins=False)
    if stage == "stopped":
        with engine:
            engine.create_database("db")
            add_request_trigger(engine, "thread", "thread.py", "thread")
    answers = Answers()
    with pytest.raises(error):
        engine.start_request("thread", then=answers)
    with pytest.raises(error):
        engine.start_request("nobody", then=answers)  # not even the at-once 404
    assert answers.responses == []


@dataclass
class Held:
    """An engine whose `hold` request trigger is running one call, held until `release()`."""

    engine: Engine
    running: Answers
    params: dict[str, str]
    release_file: Path

    def release(self) -> None:
        self.release_file.touch()
        wait_until(lambda: self.engine.in_flight("db", "hold") == 0)


@pytest.fixture
def held(plugins: Path, tmp_path: Path) -> Iterator[Held]:
    release = tmp_path / "release"
    with Engine(plugins, watch_plugins=False) as engine:
        engine.create_database("db")
        add_request_trigger(engine, "hold", "hold.py", "hold")
        running, params = Answers(), {"release": str(release)}
        engine.start_request("hold", then=running, query_params=params)
        wait_until(lambda: engine.in_flight("db", "hold") == 1)
        yield Held(engine, running, params, release)


def test_disabling_a_trigger_answers_its_queued_and_running_calls_503_once(held: Held) -> None:
    engine, running, queued = held.engine, held.running, Answers()
    engine.start_request("hold", then=queued, query_params=held.params)
    assert running.responses == [] and queued.responses == []
    engine.disable_trigger("db", "hold")
    assert [r.status for r in queued.responses] == [503]
    assert [r.status for r in running.responses] == [503]
    assert "stopped" in queued.responses[0].json()["error"]
    held.release()
    wait_until(lambda: len(engine.observability.runs_for("db", "hold")) == 1)
    assert len(queued.responses) == 1 and len(running.responses) == 1
    [run] = engine.observability.runs_for("db", "hold")
    assert run.status == "cancelled"


def _raising_then(response: Response) -> None:
    raise RuntimeError("the host's callback failed")


def test_a_raising_then_is_logged_and_the_trigger_keeps_serving(
    engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    add_request_trigger(engine, "thread", "thread.py", "thread")
    engine.start_request("thread", then=_raising_then)
    wait_until(lambda: len(engine.observability.runs_for("db", "thread")) == 1)
    assert engine.submit_request("thread").result(timeout=10).status == 200
    wait_until(lambda: engine.in_flight("db", "thread") == 0)
    assert "the callback given the response of a request raised" in caplog.text


def test_a_raising_then_does_not_stop_disabling_from_answering_the_others(held: Held) -> None:
    engine, after = held.engine, Answers()
    engine.start_request("hold", then=_raising_then, query_params=held.params)
    engine.start_request("hold", then=after, query_params=held.params)
    engine.disable_trigger("db", "hold")
    assert [r.status for r in held.running.responses + after.responses] == [503, 503]
    assert engine.get_trigger("db", "hold").disabled
    held.release()


def test_submit_request_still_gives_a_concurrent_future_of_the_response(engine: Engine) -> None:
    add_request_trigger(engine, "thread", "thread.py", "thread")
    future = engine.submit_request("thread", method="POST", body=b"via future")
    assert isinstance(future, Future)
    response = future.result(timeout=10)
    assert isinstance(response, Response)
    assert (response.status, response.json()["body"]) == (200, "via future")
    missing = engine.submit_request("nobody")
    assert missing.done() and missing.result().status == 404


def test_a_request_calls_log_lines_reach_the_engine_log(engine: Engine) -> None:
    add_request_trigger(engine, "thread", "thread.py", "thread")
    engine.handle_request("thread", method="POST", body=b"logged")
    engine.start_request("thread", then=Answers(), method="POST", body=b"started")
    wait_until(lambda: len(engine.observability.runs_for("db", "thread")) == 2)
    messages = [e.message for e in engine.observability.logs_for("db", "thread")]
    assert len(messages) == 6, messages
    for first in (0, 3):
        assert messages[first] == "starting execution of request plugin."
        assert messages[first + 2].startswith("finished execution in ")
    assert [messages[1], messages[4]] == ["serving logged", "serving started"]


def test_request_trigger_names_the_running_trigger_serving_a_path(engine: Engine) -> None:
    add_request_trigger(engine, "thread", "thread.py", "deep/thread")
    found = engine.request_trigger("deep/thread")
    assert found is not None
    assert (found.db, found.trigger_name) == ("db", "thread")
    assert engine.request_trigger("thread") is None
    engine.disable_trigger("db", "thread")
    assert engine.request_trigger("deep/thread") is None
    engine.enable_trigger("db", "thread")
    assert engine.request_trigger("deep/thread") is not None
    engine.delete_trigger("db", "thread")
    assert engine.request_trigger("deep/thread") is None
