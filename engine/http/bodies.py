"""Reading HTTP request input: size-limited and gzip-aware bodies, JSON objects, parameters."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from ..errors import InvalidRequest, RequestTooLarge, UnsupportedContentType

JSON_CONTENT_TYPE = "application/json"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gzip-decoded when `Content-Encoding: gzip`, at most `limit` bytes.

    Raises:
        RequestTooLarge: The body, before or after decoding, is larger than `limit`.
        UnsupportedContentType: The content encoding is neither gzip nor identity.
        InvalidRequest: The body claims gzip but is not valid gzip data.
    """
    headers = request.headers
    encoding = body_encoding(headers.get("content-encoding"), headers.get("content-length"), limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise RequestTooLarge(limit)
    return decoded_body(raw, encoding, limit)


async def read_asgi_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """`read_body` straight from ASGI messages; `headers` has lowercase names.

    Raises:
        ClientDisconnect: The client went away before sending the whole body.
        RequestTooLarge, UnsupportedContentType, InvalidRequest: As `read_body`.
    """
    encoding = body_encoding(headers.get("content-encoding"), headers.get("content-length"), limit)
    raw = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        raw += message.get("body", b"")
        if len(raw) > limit:
            raise RequestTooLarge(limit)
        if not message.get("more_body", False):
            return decoded_body(raw, encoding, limit)


def body_encoding(content_encoding: str | None, content_length: str | None, limit: int) -> str:
    """The body's content coding (`gzip` or `identity`), after checking what the headers say.

    Raises:
        UnsupportedContentType: The coding is neither gzip nor identity.
        RequestTooLarge: The declared length is over `limit`.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        raise UnsupportedContentType(f"Content-Encoding: {encoding}", "gzip or identity")
    declared = content_length or ""
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(limit)
    return encoding


def decoded_body(raw: bytearray, encoding: str, limit: int) -> bytes:
    """The body as the route wants it: gunzipped if it came gzip-encoded."""
    if encoding == "gzip":
        return gunzip(bytes(raw), limit)
    return bytes(raw)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decode gzip data, refusing to produce more than `limit` bytes (a gzip bomb stops here)."""
    decoder = zlib.decompressobj(wbits=31)
    try:
        out = decoder.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"body is not valid gzip data ({exc})") from exc
    if len(out) > limit:
        raise RequestTooLarge(limit)
    if not decoder.eof:
        raise InvalidRequest("gzip body is truncated")
    return out


def require_json_content_type(request: Request) -> None:
    """Refuse a body that is not declared as JSON (`application/json` or `*/*+json`)."""
    raw = request.headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    if media != JSON_CONTENT_TYPE and not media.endswith("+json"):
        raise UnsupportedContentType(raw or "(none)", JSON_CONTENT_TYPE)


async def json_object(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, after checking its content type and size."""
    require_json_content_type(request)
    return parse_json_object(await read_body(request, limit))


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse bytes that must hold one JSON object."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise InvalidRequest(f"body must be a JSON object, got {type(value).__name__}")
    return value


async def query_or_json(request: Request, limit: int) -> dict[str, Any]:
    """Parameters from the query string or, when there is none, from a JSON body (if any)."""
    if request.query_params:
        return dict(request.query_params)
    if not request.headers.get("content-type") and request.headers.get("content-length") in (
        None,
        "0",
    ):
        return {}
    return await json_object(request, limit)


def required_str(params: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = params.get(name)
    if value is None or value == "":
        raise InvalidRequest(f"missing required field {name!r}")
    if not isinstance(value, str):
        raise InvalidRequest(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def optional_str(params: Mapping[str, Any], name: str) -> str | None:
    """An optional string field (None when absent or null)."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def optional_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean field: JSON true/false, or the strings true/false/1/0 from a query string."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise InvalidRequest(f"field {name!r} must be true or false, got {value!r}")


def optional_object(params: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """An optional JSON object field (None when absent or null)."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest(f"field {name!r} must be a JSON object, got {type(value).__name__}")
    return value


def string_map(params: Mapping[str, Any], name: str) -> dict[str, str] | None:
    """An optional JSON object whose values are all strings."""
    value = optional_object(params, name)
    if value is None:
        return None
    bad = [key for key, item in value.items() if not isinstance(item, str)]
    if bad:
        raise InvalidRequest(
            f"field {name!r} must map names to strings; {bad[0]!r} is not a string"
        )
    return value
