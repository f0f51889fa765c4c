"""Specification of request bodies (engine.http.bodies): read straight from ASGI messages,
size-limited before and after gzip decoding."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message

from engine.errors import InvalidRequest, RequestTooLarge, UnsupportedContentType
from engine.http.bodies import body_encoding, decoded_body, read_asgi_body

LIMIT = 64
PAYLOAD = b"0123456789" * 6  # 60 bytes, under LIMIT


class Client:
    """The receiving end of one request: hands out its ASGI messages one by one, letting the
    event loop run between them as a real server does."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = list(messages)
        self.received = 0

    async def receive(self) -> Message:
        await asyncio.sleep(0)
        if self.received >= len(self._messages):
            raise AssertionError("read past the end of the request")
        message = self._messages[self.received]
        self.received += 1
        return message


def chunks(*parts: bytes) -> list[Message]:
    """`http.request` messages carrying `parts`, `more_body` on all but the last."""
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
            for i, part in enumerate(parts)]


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def read(client: Client, headers: dict[str, str], limit: int = LIMIT) -> bytes:
    return asyncio.run(read_asgi_body(client.receive, headers, limit))


GZIPPED = gzip.compress(PAYLOAD)
# Under the limit once decoded, over it as sent: gzip makes incompressible data longer.
INCOMPRESSIBLE = random.Random(7).randbytes(LIMIT - 14)
GZIPPED_INCOMPRESSIBLE = gzip.compress(INCOMPRESSIBLE)


@pytest.mark.parametrize(("messages", "headers", "body"), [
    (chunks(b"hello"), {"content-length": "5"}, b"hello"),
    (chunks(b"he", b"ll", b"o"), {"transfer-encoding": "chunked"}, b"hello"),
    (chunks(b"", b"abc", b"", b"def", b""), {"transfer-encoding": "chunked"}, b"abcdef"),
    ([{"type": "http.request"}], {"content-length": "0"}, b""),
    ([{"type": "http.request", "body": b"no more_body key"}], {}, b"no more_body key"),
    (chunks(*split(b"x" * LIMIT, 7)), {"transfer-encoding": "chunked"}, b"x" * LIMIT),
    (chunks(GZIPPED), {"content-encoding": "gzip"}, PAYLOAD),
    (chunks(*split(GZIPPED, 5)), {"content-encoding": "gzip",
                                  "transfer-encoding": "chunked"}, PAYLOAD),
    (chunks(gzip.compress(b"y" * LIMIT)), {"content-encoding": "gzip"}, b"y" * LIMIT),
    (chunks(GZIPPED), {"content-encoding": " GZip "}, PAYLOAD),
    (chunks(b"plain"), {"content-encoding": "identity"}, b"plain"),
    (chunks(b"plain"), {"content-encoding": ""}, b"plain"),
    (chunks(b"abc"), {"content-length": "not a number"}, b"abc"),
], ids=["one-message", "chunked-three-messages", "empty-chunks-between", "empty-body",
        "no-more-body-key", "chunked-exactly-the-limit", "gzip", "gzip-split-in-chunks",
        "gzip-expands-to-exactly-the-limit", "gzip-any-case-and-spaces", "identity",
        "empty-encoding", "unparsable-content-length-ignored"])
def test_the_body_is_read_from_every_message_and_decoded(
        messages: list[Message], headers: dict[str, str], body: bytes) -> None:
    client = Client(messages)
    assert read(client, headers) == body
    assert client.received == len(messages)


@pytest.mark.parametrize(("messages", "headers", "error", "read_before"), [
    (chunks(b"x"), {"content-length": str(LIMIT + 1)}, RequestTooLarge, 0),
    (chunks(b"x" * (LIMIT + 1)), {}, RequestTooLarge, 1),
    (chunks(b"x" * (LIMIT + 1)), {"content-length": "3"}, RequestTooLarge, 1),
    (chunks(*split(b"x" * (LIMIT + 10), 10)), {"transfer-encoding": "chunked"},
     RequestTooLarge, 7),
    (chunks(gzip.compress(b"z" * (LIMIT + 1))), {"content-encoding": "gzip"},
     RequestTooLarge, 1),
    (chunks(GZIPPED_INCOMPRESSIBLE), {"content-encoding": "gzip"}, RequestTooLarge, 1),
    (chunks(b"x"), {"content-encoding": "gzip", "content-length": str(LIMIT + 1)},
     RequestTooLarge, 0),
    (chunks(b"data"), {"content-encoding": "br"}, UnsupportedContentType, 0),
    (chunks(b"data"), {"content-encoding": "deflate"}, UnsupportedContentType, 0),
    (chunks(b"data"), {"content-encoding": "gzip, gzip"}, UnsupportedContentType, 0),
    (chunks(b"not gzip at all"), {"content-encoding": "gzip"}, InvalidRequest, 1),
    (chunks(GZIPPED[: len(GZIPPED) // 2]), {"content-encoding": "gzip"}, InvalidRequest, 1),
    (chunks(b""), {"content-encoding": "gzip"}, InvalidRequest, 1),
    ([{"type": "http.disconnect"}], {"content-length": "5"}, ClientDisconnect, 1),
    ([*chunks(b"ab", b"cd")[:1], {"type": "http.disconnect"}],
     {"transfer-encoding": "chunked"}, ClientDisconnect, 2),
], ids=["declared-too-large", "actually-too-large", "longer-than-declared",
        "too-large-over-chunks", "too-large-after-gunzip", "gzip-too-large-before-gunzip",
        "gzip-declared-too-large", "unsupported-br", "unsupported-deflate",
        "unsupported-stacked-codings", "invalid-gzip", "truncated-gzip", "empty-gzip",
        "disconnect-before-the-body", "disconnect-mid-body"])
def test_bad_bodies_are_refused_without_reading_further(
        messages: list[Message], headers: dict[str, str], error: type[Exception],
        read_before: int) -> None:
    client = Client(messages)
    with pytest.raises(error):
        read(client, headers)
    assert client.received == read_before


def test_the_incompressible_case_is_over_the_limit_only_as_sent() -> None:
    assert len(INCOMPRESSIBLE) <= LIMIT < len(GZIPPED_INCOMPRESSIBLE)
    assert read(Client(chunks(GZIPPED_INCOMPRESSIBLE)), {"content-encoding": "gzip"},
                limit=len(GZIPPED_INCOMPRESSIBLE)) == INCOMPRESSIBLE


def test_the_too_large_error_names_the_limit() -> None:
    with pytest.raises(RequestTooLarge) as raised:
        read(Client(chunks(b"x" * 11)), {}, limit=10)
    assert raised.value.limit == 10
    assert "max request size (10 bytes) exceeded" in str(raised.value)


@pytest.mark.parametrize(("content_encoding", "content_length", "encoding"), [
    (None, None, "identity"), ("gzip", None, "gzip"), ("  GZIP", "10", "gzip"),
    ("identity", str(LIMIT), "identity"), ("", "", "identity"),
], ids=["nothing", "gzip", "gzip-spaces-case", "identity-at-limit", "empty"])
def test_body_encoding_names_the_coding(content_encoding: str | None,
                                        content_length: str | None, encoding: str) -> None:
    assert body_encoding(content_encoding, content_length, LIMIT) == encoding


@pytest.mark.parametrize(("content_encoding", "content_length", "error"), [
    ("compress", None, UnsupportedContentType), ("gzip", str(LIMIT + 1), RequestTooLarge),
    (None, "99999999999999999999", RequestTooLarge),
], ids=["unsupported", "declared-too-large", "huge-declared-length"])
def test_body_encoding_refuses_what_the_headers_rule_out(
        content_encoding: str | None, content_length: str | None,
        error: type[Exception]) -> None:
    with pytest.raises(error):
        body_encoding(content_encoding, content_length, LIMIT)


@pytest.mark.parametrize(("raw", "encoding", "expected"), [
    (bytearray(b"as is"), "identity", b"as is"), (bytearray(b"as is"), "", b"as is"),
    (bytearray(GZIPPED), "gzip", PAYLOAD),
], ids=["identity", "empty-coding", "gzip"])
def test_decoded_body_gives_bytes(raw: bytearray, encoding: str, expected: bytes) -> None:
    decoded: Any = decoded_body(raw, encoding, LIMIT)
    assert type(decoded) is bytes
    assert decoded == expected
