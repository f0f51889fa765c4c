"""Request-trigger HTTP responses: a plugin's return value as status, headers and body."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidPluginResponse

__all__ = ["HTML", "JSON", "TEXT", "Response", "error_response", "to_response"]

HTML = "text/html"
JSON = "application/json"
TEXT = "text/plain"

_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_BYTES_TYPES = (bytes, bytearray, memoryview)


@dataclass(frozen=True)
class Response:
    """An HTTP response: status, headers (one value per name) and the body as bytes."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value, looked up without regard to case."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def error_response(status: int, message: str) -> Response:
    """A JSON error response: `{"error": message}`."""
    body = json.dumps({"error": message}).encode()
    return Response(status, {"Content-Type": JSON}, body)


def to_response(value: object) -> Response:
    """Convert what `process_request` returned into a `Response`, by Flask's rules.

    - dict or list: JSON (`application/json`); str: `text/html`; bytes: served as is
      (`text/html`, as Flask does); any other iterable of str/bytes: concatenated (`text/html`).
    - A tuple `(body, status)`, `(body, headers)` or `(body, status, headers)`; status an int
      or a str starting with the code; headers a dict or a list of (name, value) pairs, merged
      over the defaults by case-insensitive name.
    - A response object: InfluxDB 3's duck-typed one (`__flask_response__()` returns True) or a
      Werkzeug/Starlette-like one (`status_code`, `headers`, and `get_data()` or `body`).

    Raises:
        InvalidPluginResponse: `None`, a number, a status-first tuple, a bad status or header,
            or anything else that has no HTTP meaning.
    """
    if type(value) is dict:  # what most plugins return: skip the checks below
        return Response(200, {"Content-Type": JSON}, _dump_json(value))
    if isinstance(value, tuple):
        return _from_tuple(value)
    converted = _convert_body(value)
    if converted is not None:
        return converted
    if value is None:
        raise InvalidPluginResponse("the plugin returned None")
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return Response(200, {"Content-Type": HTML}, _join_iterable(value))
    raise InvalidPluginResponse(f"unsupported return type {type(value).__name__}")


def _convert_body(value: object) -> Response | None:
    """The response for a body on its own, or None if `value` is not a body this knows."""
    if isinstance(value, str):
        return Response(200, {"Content-Type": HTML}, value.encode())
    if isinstance(value, dict | list):
        return Response(200, {"Content-Type": JSON}, _dump_json(value))
    if isinstance(value, _BYTES_TYPES):
        return Response(200, {"Content-Type": HTML}, bytes(value))
    if _is_flask_like(value):
        return _from_flask_like(value)
    if _is_response_object(value):
        return _from_response_object(value)
    return None


def _from_tuple(value: tuple[Any, ...]) -> Response:
    if not 1 <= len(value) <= 3:
        raise InvalidPluginResponse(
            f"a tuple of {len(value)} items; a response tuple has 1 to 3 items")
    body = value[0]
    if isinstance(body, int) and len(value) > 1:
        raise InvalidPluginResponse(
            f"a tuple starting with the status {body!r}; the body comes first: "
            "(body, status, headers)")
    response = None if isinstance(body, tuple) else _convert_body(body)
    if response is None:
        raise InvalidPluginResponse(
            f"a tuple whose body is {type(body).__name__}; the body must be a dict, list, str, "
            "bytes or a response object")
    status, headers = response.status, response.headers
    if len(value) >= 2:
        status, extra = _status_or_headers(value[1], status)
        headers = _merge_headers(headers, extra)
    if len(value) == 3:
        headers = _merge_headers(headers, _header_pairs(value[2], "the third tuple item"))
    return Response(status, headers, response.body)


def _status_or_headers(item: object, status: int) -> tuple[int, list[tuple[str, str]]]:
    if item is None:
        return status, []
    if isinstance(item, int | str):
        return _check_status(item), []
    if _looks_like_headers(item):
        return status, _header_pairs(item, "the second tuple item")
    raise InvalidPluginResponse(
        f"the second tuple item is {type(item).__name__}; expected a status (int) or headers")


def _check_status(status: object) -> int:
    code: object = status
    if isinstance(status, str):
        head = status.strip().split(" ", 1)[0]
        code = int(head) if head.isdigit() else status
    if isinstance(code, bool) or not isinstance(code, int):
        raise InvalidPluginResponse(
            f"status {status!r} is not an integer HTTP status such as 200 or '404 Not Found'")
    if not 100 <= code <= 999:
        raise InvalidPluginResponse(f"status {code} is outside 100-999")
    return code


def _looks_like_headers(item: object) -> bool:
    return isinstance(item, Mapping | list) or callable(getattr(item, "items", None))


def _header_pairs(item: object, where: str) -> list[tuple[str, str]]:
    if isinstance(item, Mapping) or callable(getattr(item, "items", None)):
        pairs: Iterable[Any] = item.items()  # type: ignore[attr-defined]
    elif isinstance(item, list | tuple):
        pairs = item
    else:
        raise InvalidPluginResponse(
            f"{where} is {type(item).__name__}; expected a dictionary of headers")
    checked = []
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidPluginResponse(f"header item {pair!r} is not a (name, value) pair")
        checked.append((_check_header_name(pair[0]), _check_header_value(pair[0], pair[1])))
    return checked


def _check_header_name(name: object) -> str:
    if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
        raise InvalidPluginResponse(f"header name {name!r} is not a valid HTTP header name")
    return name


def _check_header_value(name: object, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidPluginResponse(
            f"header {name!r} has a {type(value).__name__} value; expected str, int or float")
    text = str(value)
    if any(ch in text for ch in "\r\n\0"):
        raise InvalidPluginResponse(f"header {name!r} has a line break or NUL in its value")
    return text


def _merge_headers(base: dict[str, str], extra: Iterable[tuple[str, str]]) -> dict[str, str]:
    merged = dict(base)
    for name, value in extra:
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    return merged


def _is_flask_like(value: object) -> bool:
    marker = getattr(value, "__flask_response__", None)
    return callable(marker) and marker() is True


def _from_flask_like(value: Any) -> Response:
    body = value.get_data()
    return Response(_check_status(value.status_code),
                    _merge_headers({}, _header_pairs(value.headers, "headers")),
                    _to_bytes(body, "get_data()"))


def _is_response_object(value: object) -> bool:
    has_status = hasattr(value, "status_code") or isinstance(getattr(value, "status", None),
                                                            int | str)
    has_body = callable(getattr(value, "get_data", None)) or hasattr(value, "body")
    return has_status and has_body and hasattr(value, "headers")


def _from_response_object(value: Any) -> Response:
    status = value.status_code if hasattr(value, "status_code") else value.status
    getter = getattr(value, "get_data", None)
    body = getter() if callable(getter) else value.body
    return Response(_check_status(status),
                    _merge_headers({}, _header_pairs(value.headers, "headers")),
                    _to_bytes(body, "the response body"))


def _to_bytes(body: object, where: str) -> bytes:
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, _BYTES_TYPES):
        return bytes(body)
    raise InvalidPluginResponse(f"{where} gave {type(body).__name__}; expected str or bytes")


def _join_iterable(value: Iterable[Any]) -> bytes:
    parts = []
    for item in value:
        if isinstance(item, str):
            parts.append(item.encode())
        elif isinstance(item, _BYTES_TYPES):
            parts.append(bytes(item))
        else:
            raise InvalidPluginResponse(
                f"an iterable yielded {type(item).__name__}; only str and bytes items are sent")
    return b"".join(parts)


def _dump_json(value: object) -> bytes:
    try:
        return json.dumps(value).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidPluginResponse(f"the value cannot be serialised as JSON ({exc})") from exc
