"""Talking to a running server from the command line: requests, connection options, failures."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EngineError

DEFAULT_HOST = "http://127.0.0.1:8181"


class CliFailure(Exception):
    """A command failed; `status` is its exit status (1 failure, 2 usage)."""

    def __init__(self, message: str, status: int = 1, http_status: int | None = None,
                 body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.http_status = http_status
        self.body = body


class ServerClient:
    """Just enough HTTP for the plugin commands: JSON in, bytes out, errors as `CliFailure`."""

    def __init__(self, host: str, token: str | None, timeout: float) -> None:
        self.host = host.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, str] | None = None, content: bytes | None = None) -> bytes:
        """Send one request (`body` as JSON, or `content` as plain text); returns the body of a
        2xx answer.

        Raises:
            CliFailure: The server is unreachable or answered with an error.
        """
        url = self.host + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = content if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json" if body is not None else "text/plain"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: bytes = response.read()
                return answer
        except urllib.error.HTTPError as exc:
            answer = exc.read()
            message = f"the server answered {exc.code}: {_error_text(answer)}"
            raise CliFailure(message, http_status=exc.code, body=answer) from None
        except urllib.error.URLError as exc:
            raise CliFailure(f"cannot reach the server at {self.host}: {exc.reason}") from None
        except OSError as exc:
            raise CliFailure(f"request to {self.host} failed: {exc}") from None


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(text)
    except ValueError:
        return text or "(no message)"
    if isinstance(decoded, dict) and "error" in decoded:
        return str(decoded["error"])
    return text


def add_connection_options(parser: argparse.ArgumentParser, *, timeout: float = 60.0) -> None:
    """`-H/--host`, `--token` and `--timeout`, defaulting to InfluxDB 3's environment names."""
    parser.add_argument(
        "-H", "--host", default=os.environ.get("INFLUXDB3_HOST_URL", DEFAULT_HOST),
        help=f"the server's URL (default {DEFAULT_HOST}) [INFLUXDB3_HOST_URL]")
    parser.add_argument(
        "--token", default=os.environ.get("INFLUXDB3_AUTH_TOKEN"),
        help="an admin token [INFLUXDB3_AUTH_TOKEN]")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds to wait for the server (default {timeout:g})")


def add_kind(kinds: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             run: Callable[[argparse.Namespace], int], *, help: str,
             description: str) -> argparse.ArgumentParser:
    """Add one kind of a noun (`create trigger`, `show databases`) handled by `run`, its
    failures printed with their exit status; returns the kind's parser for its options."""
    parser = kinds.add_parser(name, help=help, description=description)
    parser.set_defaults(handler=guarded(run))
    return parser


def add_output_format(parser: argparse.ArgumentParser) -> None:
    """`--format pretty|json`: human-readable output (the default) or JSON for scripts."""
    parser.add_argument("--format", default="pretty", choices=("pretty", "json"),
                        help="human-readable (default) or JSON output")


def client(args: argparse.Namespace) -> ServerClient:
    """The server client the connection options describe."""
    return ServerClient(args.host, args.token, args.timeout)


def guarded(run: Any) -> Any:
    """`run` as a handler: a `CliFailure` or `EngineError` is printed with its exit status."""

    def handler(args: argparse.Namespace) -> int:
        try:
            status: int = run(args)
            return status
        except CliFailure as failure:
            print(f"error: {failure}", file=sys.stderr)
            return failure.status
        except EngineError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    handler.__doc__ = run.__doc__
    return handler


def read_text(path: Path) -> str:
    """A local file's text, for uploading (`CliFailure` when unreadable or not UTF-8)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CliFailure(f"{path} is not UTF-8 text; plugin files are uploaded as text") from None
    except OSError as exc:
        raise CliFailure(f"cannot read {path}: {exc.strerror}") from None
