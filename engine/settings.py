"""Per-trigger configuration values: `TriggerSettings`, trigger arguments and node specs."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import NodeSpecError, TriggerArgumentsError, TriggerSettingsError


class ErrorBehavior(enum.StrEnum):
    """What happens when a plugin call raises."""

    LOG = "log"
    RETRY = "retry"
    DISABLE = "disable"


class CatchUp(enum.StrEnum):
    """Which schedule ticks missed while the engine was down are run after a restart."""

    ALL = "all"
    LATEST = "latest"
    SKIP = "skip"


class RequestAuth(enum.StrEnum):
    """Whether a request trigger's endpoint needs a token."""

    TOKEN = "token"
    PUBLIC = "public"


@dataclass(frozen=True, kw_only=True, slots=True)
class TriggerSettings:
    """How a trigger runs; every field has the reference server's default or ours (PRODUCT §5).

    Attributes:
        run_async: Let calls of this trigger overlap instead of running one at a time.
        error_behavior: `log`, `retry` or `disable` (strings are accepted in any case).
        max_retries: Attempts after the first failure when `error_behavior` is `retry`.
        retry_backoff: Seconds before the first retry; doubled for each further attempt.
        timezone: IANA zone in which cron schedules are read; None means UTC.
        catch_up: Which missed schedule ticks run when the engine falls behind its schedule
            (a long synchronous run, a paused process, a clock jump): `all` (each in order,
            the reference behaviour), `latest` (only the newest) or `skip` (none). As on
            InfluxDB 3, ticks that fell while the engine was stopped are not replayed.
        timeout: Seconds after which a call is reported as overrunning; None for no limit.
            For WAL triggers it is also how long a flush delivery waits for the call before
            treating the trigger as lagging (default 2 s; see `engine.wal_delivery`).
        request_auth: `token` (default) or `public` for request triggers.
    """

    run_async: bool = False
    error_behavior: ErrorBehavior = ErrorBehavior.LOG
    max_retries: int = 5
    retry_backoff: float = 1.0
    timezone: str | None = None
    catch_up: CatchUp = CatchUp.ALL
    timeout: float | None = None
    request_auth: RequestAuth = RequestAuth.TOKEN

    def __post_init__(self) -> None:
        _require_bool("run_async", self.run_async)
        _set(self, "error_behavior", _choice("error_behavior", self.error_behavior, ErrorBehavior))
        _set(self, "max_retries", _non_negative_int("max_retries", self.max_retries))
        _set(self, "retry_backoff", _seconds("retry_backoff", self.retry_backoff, allow_zero=True))
        _check_timezone(self.timezone)
        _set(self, "catch_up", _choice("catch_up", self.catch_up, CatchUp))
        if self.timeout is not None:
            _set(self, "timeout", _seconds("timeout", self.timeout, allow_zero=False))
        _set(self, "request_auth", _choice("request_auth", self.request_auth, RequestAuth))

    @classmethod
    def accepted_keys(cls) -> tuple[str, ...]:
        """The keys a settings mapping may hold, sorted."""
        return tuple(sorted(field.name for field in dataclasses.fields(cls)))

    @classmethod
    def from_value(cls, value: TriggerSettings | Mapping[str, Any] | str | None) -> TriggerSettings:
        """Build settings from what a caller passed as `trigger_settings`.

        Args:
            value: A `TriggerSettings`, a mapping of its fields, a JSON object text of the same,
                or None for the defaults. Missing keys take their defaults.

        Raises:
            TriggerSettingsError: Unknown keys, values of the wrong type, or text that is not a
                JSON object.
        """
        if value is None:
            return cls()
        if isinstance(value, TriggerSettings):
            return value
        if isinstance(value, str):
            value = _json_object(value)
        if not isinstance(value, Mapping):
            raise TriggerSettingsError(
                f"expected a TriggerSettings, a mapping or a JSON object string, "
                f"got {type(value).__name__}; accepted keys: {', '.join(cls.accepted_keys())}"
            )
        return cls._from_mapping(value)

    @classmethod
    def _from_mapping(cls, value: Mapping[Any, Any]) -> TriggerSettings:
        accepted = cls.accepted_keys()
        unknown = [key for key in value if key not in accepted]
        if unknown:
            raise TriggerSettingsError(
                f"unknown key(s) {', '.join(repr(key) for key in unknown)}; "
                f"accepted keys: {', '.join(accepted)}"
            )
        return cls(**{str(key): item for key, item in value.items()})

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON values (enums as their lowercase strings)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            item = getattr(self, field.name)
            out[field.name] = item.value if isinstance(item, enum.Enum) else item
        return out


def _set(settings: TriggerSettings, name: str, value: object) -> None:
    # The dataclass is frozen; normalising in __post_init__ is the one sanctioned write.
    object.__setattr__(settings, name, value)


def _json_object(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TriggerSettingsError(f"the string is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise TriggerSettingsError(
            f"the JSON must be an object, got {type(value).__name__}; accepted keys: "
            f"{', '.join(TriggerSettings.accepted_keys())}"
        )
    return value


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TriggerSettingsError(f"{name} must be true or false, got {value!r}")


_Choice = TypeVar("_Choice", bound=enum.StrEnum)


def _choice(name: str, value: object, kind: type[_Choice]) -> _Choice:
    accepted = ", ".join(member.value for member in kind)
    if isinstance(value, str):
        try:
            return kind(value.strip().lower())
        except ValueError:
            pass
    raise TriggerSettingsError(f"{name} must be one of {accepted} (any case), got {value!r}")


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TriggerSettingsError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def _seconds(name: str, value: object, *, allow_zero: bool) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TriggerSettingsError(f"{name} must be a number of seconds {bound}, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise TriggerSettingsError(f"{name} must be a number of seconds {bound}, got {value!r}")
    return seconds


def _check_timezone(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise TriggerSettingsError(f"timezone must be an IANA zone name or null, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise TriggerSettingsError(
            f"timezone {value!r} is not a known IANA zone name (e.g. 'UTC', 'Europe/Paris')"
        ) from None


def validate_trigger_arguments(value: object) -> Mapping[str, str] | None:
    """Check `trigger_arguments` and return a read-only copy (None stays None).

    Raises:
        TriggerArgumentsError: The value is not a mapping, or a key or value is not a string.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TriggerArgumentsError(f"got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise TriggerArgumentsError(f"key {key!r} is a {type(key).__name__}")
        if not isinstance(item, str):
            kind = type(item).__name__
            raise TriggerArgumentsError(f"the value of {key!r} is {item!r}, a {kind}")
    return MappingProxyType(dict(value))


NodeSpec = str | Mapping[str, Any]


def validate_node_spec(value: object) -> NodeSpec:
    """Check a node spec (where a trigger may run) and return it in a storable form.

    Accepts 'all', 'nodes:a,b', {'all': None} and {'nodes': ['a', 'b']}; None means 'all'. Strings
    are returned stripped, mappings as read-only copies.

    Raises:
        NodeSpecError: Any other value.
    """
    if value is None:
        return "all"
    if isinstance(value, str):
        return _node_spec_text(value)
    if isinstance(value, Mapping):
        return _node_spec_mapping(value)
    raise NodeSpecError(value, f"got {type(value).__name__}")


def _node_spec_text(value: str) -> str:
    text = value.strip()
    if text == "all":
        return text
    prefix, sep, ids = text.partition(":")
    if prefix != "nodes" or not sep:
        raise NodeSpecError(value, "unknown form")
    _check_node_ids(value, [node.strip() for node in ids.split(",")])
    return text


def _node_spec_mapping(value: Mapping[Any, Any]) -> Mapping[str, Any]:
    if dict(value) == {"all": None}:
        return MappingProxyType({"all": None})
    if set(value) != {"nodes"} or not isinstance(value["nodes"], list | tuple):
        raise NodeSpecError(value, "a mapping must be {'all': None} or {'nodes': [...]}")
    nodes = list(value["nodes"])
    _check_node_ids(value, nodes)
    return MappingProxyType({"nodes": tuple(nodes)})


def _check_node_ids(value: object, nodes: list[Any]) -> None:
    if not nodes or not all(isinstance(node, str) and node for node in nodes):
        raise NodeSpecError(value, "node ids must be non-empty strings, at least one")


def node_spec_includes(node_spec: NodeSpec, node_id: str) -> bool:
    """Whether a trigger with this (validated) node spec may run on node `node_id`."""
    if isinstance(node_spec, str):
        if node_spec == "all":
            return True
        return node_id in (node.strip() for node in node_spec.partition(":")[2].split(","))
    return "all" in node_spec or node_id in node_spec["nodes"]
