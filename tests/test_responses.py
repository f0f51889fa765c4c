"""Request plugin return values to HTTP responses, by Flask rules; JSON error responses."""

from __future__ import annotations

import json
import math
import types
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.responses import Response as StarletteResponse

from engine.errors import EngineError, InvalidPluginResponse
from engine.responses import Response, error_response, to_response

HTML = {"Content-Type": "text/html"}
JSON = {"Content-Type": "application/json"}


class FlaskLike:
    """InfluxDB 3's duck-typed response: `__flask_response__()` returns True."""

    def __init__(self, status_code: int, data: str | bytes, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self._data = data
        self.headers = headers

    def __flask_response__(self) -> bool:
        return True

    def get_data(self) -> str | bytes:
        return self._data


class NotFlask(FlaskLike):
    """Denies the InfluxDB marker, but has what a Werkzeug-like response has."""

    def __flask_response__(self) -> bool:
        return False


class StatusOnly:
    """Has a status and headers but no body: not a response object."""

    status_code = 200
    headers: dict[str, str] = {}


class WerkzeugHeaders:
    """Like werkzeug.datastructures.Headers: items() yields pairs, maybe repeated."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class WerkzeugLike:
    """Like a werkzeug/Flask Response: status_code, status text, get_data() bytes, iterable."""

    def __init__(self, data: bytes, status: int, mimetype: str) -> None:
        self._data = data
        self.status_code = status
        self.status = f"{status} WHATEVER"
        self.headers = WerkzeugHeaders([("Content-Type", mimetype),
                                        ("Content-Length", str(len(data)))])

    def get_data(self) -> bytes:
        return self._data

    def __iter__(self) -> Iterator[bytes]:
        return iter([self._data])


def _gen() -> Iterator[str | bytes]:
    yield "a"
    yield b"b"
    yield "\u00e9"


CASES = [
    # plain bodies
    pytest.param({"a": 1}, 200, JSON, b'{"a": 1}', id="dict"),
    pytest.param([1, "x"], 200, JSON, b'[1, "x"]', id="list"),
    pytest.param({}, 200, JSON, b"{}", id="empty-dict"),
    pytest.param({"t": "\u00e9"}, 200, JSON, b'{"t": "\\u00e9"}', id="json-ascii-escaped"),
    pytest.param("hello", 200, HTML, b"hello", id="str"),
    pytest.param("", 200, HTML, b"", id="empty-str"),
    pytest.param("\u00e9", 200, HTML, "\u00e9".encode(), id="str-utf8"),
    pytest.param(b"\x00\xffraw", 200, HTML, b"\x00\xffraw", id="bytes-as-is"),
    pytest.param(bytearray(b"ba"), 200, HTML, b"ba", id="bytearray"),
    pytest.param(memoryview(b"mv"), 200, HTML, b"mv", id="memoryview"),
    pytest.param(_gen(), 200, HTML, "ab\u00e9".encode(), id="generator"),
    pytest.param(iter(["x", "y"]), 200, HTML, b"xy", id="iterator"),
    pytest.param(frozenset(["only"]), 200, HTML, b"only", id="frozenset"),
    pytest.param(iter([]), 200, HTML, b"", id="empty-iterator"),
    # tuples
    pytest.param(("made", 201), 201, HTML, b"made", id="body-status"),
    pytest.param(({"ok": True}, 202), 202, JSON, b'{"ok": true}', id="json-status"),
    pytest.param(("x", "404 Not Found"), 404, HTML, b"x", id="status-string-with-reason"),
    pytest.param(("x", "418"), 418, HTML, b"x", id="status-string"),
    pytest.param(("x", None), 200, HTML, b"x", id="status-none"),
    pytest.param(("solo",), 200, HTML, b"solo", id="one-tuple"),
    pytest.param((b"bin", 200), 200, HTML, b"bin", id="bytes-in-tuple"),
    pytest.param(("x", {"X-A": "1"}), 200, {**HTML, "X-A": "1"}, b"x", id="body-headers"),
    pytest.param(("x", [("X-A", "1"), ("X-B", "2")]), 200, {**HTML, "X-A": "1", "X-B": "2"},
                 b"x", id="headers-as-pairs"),
    pytest.param(("x", 500, {"X-A": "1"}), 500, {**HTML, "X-A": "1"}, b"x",
                 id="body-status-headers"),
    pytest.param(("x", {"X-A": "1"}, {"X-B": "2"}), 200, {**HTML, "X-A": "1", "X-B": "2"},
                 b"x", id="headers-twice"),
    pytest.param(("x", 200, {"Content-Type": "text/csv"}), 200, {"Content-Type": "text/csv"},
                 b"x", id="content-type-override"),
    pytest.param(("x", 200, {"content-type": "text/csv"}), 200, {"content-type": "text/csv"},
                 b"x", id="override-is-case-insensitive"),
    pytest.param(("x", 200, {"X-N": 5, "X-F": 1.5}), 200, {**HTML, "X-N": "5", "X-F": "1.5"},
                 b"x", id="number-header-values"),
    pytest.param(("x", 200, {}), 200, HTML, b"x", id="empty-headers"),
    pytest.param((FlaskLike(201, "in", {"X": "1"}), 202), 202, {"X": "1"}, b"in",
                 id="response-object-in-tuple"),
    pytest.param(("x", 200, types.MappingProxyType({"X-M": "m"})), 200, {**HTML, "X-M": "m"},
                 b"x", id="mapping-headers"),
    # response objects
    pytest.param(FlaskLike(203, "flask", {"X-Y": "z"}), 203, {"X-Y": "z"}, b"flask",
                 id="flask-like-no-default-content-type"),
    pytest.param(FlaskLike(200, b"bytes", {}), 200, {}, b"bytes", id="flask-like-bytes"),
    pytest.param(NotFlask(201, "x", {"X": "1"}), 201, {"X": "1"}, b"x",
                 id="marker-false-but-response-shaped"),
    pytest.param(WerkzeugLike(b"<p>", 206, "text/html; charset=utf-8"), 206,
                 {"Content-Type": "text/html; charset=utf-8", "Content-Length": "3"}, b"<p>",
                 id="werkzeug-like"),
    pytest.param(JSONResponse({"a": 1}, status_code=201), 201,
                 {"content-length": "7", "content-type": "application/json"}, b'{"a":1}',
                 id="starlette-json"),
    pytest.param(PlainTextResponse("t", headers={"X-Q": "q"}), 200,
                 {"x-q": "q", "content-length": "1", "content-type": "text/plain; charset=utf-8"},
                 b"t", id="starlette-text"),
    pytest.param(StarletteResponse(b"", status_code=204), 204, {}, b"", id="starlette-204"),
]


@pytest.mark.parametrize(("value", "status", "headers", "body"), CASES)
def test_to_response(value: object, status: int, headers: dict[str, str], body: bytes) -> None:
    assert to_response(value) == Response(status, headers, body)


ERRORS = [
    pytest.param(None, "the plugin returned None", id="none"),
    pytest.param(42, "unsupported return type int", id="int"),
    pytest.param(1.5, "unsupported return type float", id="float"),
    pytest.param(True, "unsupported return type bool", id="bool"),
    pytest.param(object(), "unsupported return type object", id="object"),
    pytest.param(StatusOnly(), "unsupported return type StatusOnly", id="status-without-body"),
    pytest.param(types.MappingProxyType({"a": 1}), "unsupported return type mappingproxy",
                 id="non-dict-mapping"),
    pytest.param((), "a tuple of 0 items", id="empty-tuple"),
    pytest.param(("a", 200, {}, "extra"), "a tuple of 4 items", id="four-tuple"),
    pytest.param((200, {"Content-Type": "application/json"}, "{}"),
                 "a tuple starting with the status 200; the body comes first", id="status-first"),
    pytest.param((None, 200), "a tuple whose body is NoneType", id="none-body"),
    pytest.param((3.5, 200), "a tuple whose body is float", id="float-body"),
    pytest.param((("x", 200), 201), "a tuple whose body is tuple", id="nested-tuple"),
    pytest.param(("x", 99), "status 99 is outside 100-999", id="status-too-low"),
    pytest.param(("x", 1000), "status 1000 is outside 100-999", id="status-too-high"),
    pytest.param(("x", True), "status True is not an integer", id="status-bool"),
    pytest.param(("x", "OK"), "status 'OK' is not an integer", id="status-word"),
    pytest.param(("x", 200.0), "the second tuple item is float", id="status-float"),
    pytest.param(("x", 200, "text/csv"), "the third tuple item is str; expected a dictionary",
                 id="third-not-headers"),
    pytest.param(("x", 200, [("only-name",)]), "is not a (name, value) pair", id="bad-pair"),
    pytest.param(("x", 200, {"Bad Name": "v"}), "header name 'Bad Name' is not a valid",
                 id="header-name-space"),
    pytest.param(("x", 200, {"": "v"}), "header name '' is not a valid", id="header-name-empty"),
    pytest.param(("x", 200, {"X": "a\r\nSet-Cookie: x"}), "line break",
                 id="header-injection"),
    pytest.param(("x", 200, {"X": None}), "has a NoneType value", id="header-none"),
    pytest.param({"a": object()}, "cannot be serialised as JSON", id="json-unserialisable"),
    pytest.param(iter(["a", 1]), "an iterable yielded int", id="iterable-with-int"),
    pytest.param(FlaskLike(200, 5, {}), "get_data() gave int", id="flask-bad-data"),  # type: ignore[arg-type]
    pytest.param(FlaskLike(700.5, "x", {}), "status 700.5 is not an integer",  # type: ignore[arg-type]
                 id="flask-bad-status"),
]


@pytest.mark.parametrize(("value", "fragment"), ERRORS)
def test_unconvertible_values(value: object, fragment: str) -> None:
    with pytest.raises(InvalidPluginResponse) as caught:
        to_response(value)
    assert fragment in str(caught.value)
    assert "return a dict or list (JSON)" in str(caught.value)
    assert isinstance(caught.value, EngineError)
    assert isinstance(caught.value, TypeError)


def test_nan_serialises_like_python_json() -> None:
    assert to_response({"v": math.nan}).body == b'{"v": NaN}'


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(500, "Python function call failed: ValueError: boom", id="500"),
        pytest.param(404, "not found", id="404"),
        pytest.param(400, 'quote " and \u00e9', id="escaping"),
    ],
)
def test_error_response(status: int, message: str) -> None:
    response = error_response(status, message)
    assert response.status == status
    assert response.headers == JSON
    assert response.json() == {"error": message}
    assert json.loads(response.body) == {"error": message}


@pytest.mark.parametrize(
    ("headers", "name", "expected"),
    [
        pytest.param({"Content-Type": "a"}, "content-type", "a", id="lower-lookup"),
        pytest.param({"x-y": "b"}, "X-Y", "b", id="upper-lookup"),
        pytest.param({}, "missing", None, id="missing"),
    ],
)
def test_header_lookup(headers: dict[str, str], name: str, expected: str | None) -> None:
    assert Response(200, headers, b"").header(name) == expected


def test_text_and_json_helpers() -> None:
    response = to_response({"results": "recorded"})
    assert response.json() == {"results": "recorded"}
    assert response.text == '{"results": "recorded"}'
    assert Response(200, {}, b"\xff").text == "\ufffd"


def test_response_defaults() -> None:
    assert Response() == Response(200, {}, b"")


def test_generator_errors_propagate() -> None:
    def broken() -> Iterator[str]:
        yield "a"
        raise RuntimeError("mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        to_response(broken())


def test_conversion_does_not_mutate_headers_given() -> None:
    given: dict[str, Any] = {"X-A": "1"}
    to_response(("x", 200, given))
    assert given == {"X-A": "1"}
