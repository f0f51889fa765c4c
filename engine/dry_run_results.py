"""What a dry run reports: `PluginTestResult` and its schedule and request variants."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .responses import Response

__all__ = [
    "PluginTestResult",
    "RequestPluginTestResult",
    "SchedulePluginTestResult",
    "rfc3339",
]


@dataclass(kw_only=True)
class PluginTestResult:
    """The outcome of one dry run of a plugin.

    `to_dict()` gives the reference server's response shape (`log_lines`, `database_writes`,
    `errors`); the other attributes are for Python callers and test kits.

    Attributes:
        log_lines: Every log line of the run, `LEVEL: message`, kept when the plugin fails.
        database_writes: Every line the plugin wrote, by database (`write_sync*` lines first,
            then `write`/`write_to_db`); captured, never applied.
        errors: The plugin's failure (message and traceback), then the first bad written line of
            each database; empty when all went well.
        value: What the entry function returned (None if it failed).
        error: The plugin's failure as `Type: message`, or None.
        traceback: The failure's full Python traceback, or None.
        cache: The test cache namespace's own entries after the run.
        global_cache: The test cache's global entries after the run.
    """

    log_lines: list[str] = field(default_factory=list)
    database_writes: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    global_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the plugin returned normally and every written line was valid."""
        return not self.errors

    @property
    def failed(self) -> bool:
        """True when the plugin itself raised (or could not be loaded)."""
        return self.error is not None

    def lines_for(self, database: str) -> list[str]:
        """The lines written to one database (empty if none)."""
        return list(self.database_writes.get(database, []))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of `POST /api/v3/plugin_test/wal`."""
        return {
            "log_lines": list(self.log_lines),
            "database_writes": {db: list(lines) for db, lines in self.database_writes.items()},
            "errors": list(self.errors),
        }


@dataclass(kw_only=True)
class SchedulePluginTestResult(PluginTestResult):
    """A schedule dry run: also the tick the plugin was called for.

    Attributes:
        trigger_time: The scheduled time (timezone-aware UTC); the plugin saw it as naive UTC
            in whole seconds. `to_dict()` gives null for it when the plugin failed, as the
            reference server does.
    """

    trigger_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of `POST /api/v3/plugin_test/schedule`."""
        shown = None if self.failed or self.trigger_time is None else rfc3339(self.trigger_time)
        return {"trigger_time": shown, **super().to_dict()}


@dataclass(kw_only=True)
class RequestPluginTestResult(PluginTestResult):
    """A request dry run: also the HTTP response the plugin would have given.

    Attributes:
        response: Status, headers and body, exactly as `/api/v3/engine/<path>` would answer
            (a 500 with a JSON `error` when the plugin failed).
    """

    response: Response = field(default_factory=Response)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of `POST /api/v3/plugin_test/request`.

        The body is text when it is UTF-8; otherwise `body` is null and `body_base64` holds it.
        """
        return {"response": response_dict(self.response), **super().to_dict()}


def response_dict(response: Response) -> dict[str, Any]:
    """A response as JSON-ready data: status, headers, body (text, or base64 if not UTF-8)."""
    try:
        text: str | None = response.body.decode("utf-8")
        encoded = None
    except UnicodeDecodeError:
        text, encoded = None, base64.b64encode(response.body).decode("ascii")
    shown: dict[str, Any] = {
        "status": response.status,
        "headers": dict(response.headers),
        "body": text,
    }
    if encoded is not None:
        shown["body_base64"] = encoded
    return shown


def rfc3339(when: datetime) -> str:
    """RFC 3339 in UTC with `Z`, and only as many fraction digits as needed (0, 3, 6)."""
    moment = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros:
        text += f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    return text + "Z"
