"""TriggerSettings, trigger arguments and node specs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.errors import NodeSpecError, TriggerArgumentsError, TriggerSettingsError
from engine.settings import (
    CatchUp,
    ErrorBehavior,
    RequestAuth,
    TriggerSettings,
    validate_node_spec,
    validate_trigger_arguments,
)

ALL_KEYS = ("catch_up, error_behavior, max_retries, request_auth, retry_backoff, run_async, "
            "timeout, timezone")


def test_defaults_match_the_reference_and_product() -> None:
    settings = TriggerSettings()
    assert settings.to_dict() == {
        "run_async": False, "error_behavior": "log", "max_retries": 5, "retry_backoff": 1.0,
        "timezone": None, "catch_up": "all", "timeout": None, "request_auth": "token",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, TriggerSettings()),
        ({}, TriggerSettings()),
        ({"run_async": True, "error_behavior": "retry"},
         TriggerSettings(run_async=True, error_behavior=ErrorBehavior.RETRY)),
        ({"error_behavior": "DISABLE"}, TriggerSettings(error_behavior=ErrorBehavior.DISABLE)),
        ({"error_behavior": " Log "}, TriggerSettings()),
        ('{"run_async": true, "error_behavior": "Retry"}',
         TriggerSettings(run_async=True, error_behavior=ErrorBehavior.RETRY)),
        ({"max_retries": 0, "retry_backoff": 2}, TriggerSettings(max_retries=0, retry_backoff=2.0)),
        ({"timezone": "Europe/Paris"}, TriggerSettings(timezone="Europe/Paris")),
        ({"catch_up": "latest"}, TriggerSettings(catch_up=CatchUp.LATEST)),
        ({"timeout": 1.5}, TriggerSettings(timeout=1.5)),
        ({"request_auth": "PUBLIC"}, TriggerSettings(request_auth=RequestAuth.PUBLIC)),
    ],
    ids=["none", "empty", "reference-fields", "upper-case", "padded", "json-string", "retries",
         "timezone", "catch-up", "timeout", "public"],
)
def test_from_value_accepts_every_form(value: Any, expected: TriggerSettings) -> None:
    assert TriggerSettings.from_value(value) == expected


def test_from_value_returns_a_settings_object_as_is() -> None:
    settings = TriggerSettings(run_async=True)
    assert TriggerSettings.from_value(settings) is settings


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"retries": 3}, f"unknown key\\(s\\) 'retries'; accepted keys: {ALL_KEYS}"),
        ({"run_async": "yes"}, "run_async must be true or false, got 'yes'"),
        ({"run_async": 1}, "run_async must be true or false"),
        ({"error_behavior": "panic"}, "error_behavior must be one of log, retry, disable"),
        ({"error_behavior": 1}, "error_behavior must be one of"),
        ({"max_retries": -1}, "max_retries must be a whole number >= 0"),
        ({"max_retries": 2.5}, "max_retries must be a whole number"),
        ({"max_retries": True}, "max_retries must be a whole number"),
        ({"retry_backoff": -1}, "retry_backoff must be a number of seconds >= 0"),
        ({"retry_backoff": float("nan")}, "retry_backoff must be a number"),
        ({"retry_backoff": "1s"}, "retry_backoff must be a number"),
        ({"timezone": "Mars/Olympus"}, "not a known IANA zone name"),
        ({"timezone": "../etc/passwd"}, "not a known IANA zone name"),
        ({"timezone": 3}, "timezone must be an IANA zone name or null"),
        ({"catch_up": "some"}, "catch_up must be one of all, latest, skip"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0"),
        ({"timeout": float("inf")}, "timeout must be a number of seconds > 0"),
        ({"request_auth": "none"}, "request_auth must be one of token, public"),
        ("not json", "the string is not valid JSON"),
        ("[1, 2]", "the JSON must be an object, got list"),
        (42, "expected a TriggerSettings, a mapping or a JSON object string, got int"),
    ],
    ids=["unknown-key", "run-async-str", "run-async-int", "behavior-unknown", "behavior-int",
         "retries-negative", "retries-float", "retries-bool", "backoff-negative", "backoff-nan",
         "backoff-str", "timezone-unknown", "timezone-path", "timezone-int", "catch-up-unknown",
         "timeout-zero", "timeout-inf", "auth-unknown", "bad-json", "json-list", "int"],
)
def test_bad_settings_are_refused_with_a_clear_message(value: Any, fragment: str) -> None:
    with pytest.raises(TriggerSettingsError, match=fragment):
        TriggerSettings.from_value(value)


def test_settings_are_validated_on_direct_construction_too() -> None:
    with pytest.raises(TriggerSettingsError, match="max_retries"):
        TriggerSettings(max_retries=-3)


def test_to_dict_round_trips_through_json() -> None:
    settings = TriggerSettings(run_async=True, error_behavior=ErrorBehavior.DISABLE,
                               timezone="UTC", catch_up=CatchUp.SKIP, timeout=3.0)
    text = json.dumps(settings.to_dict())
    assert TriggerSettings.from_value(text) == settings


def test_settings_are_frozen() -> None:
    settings = TriggerSettings()
    with pytest.raises(AttributeError):
        settings.run_async = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ({}, {}), ({"k": "v", "n": "1"}, {"k": "v", "n": "1"})],
    ids=["none", "empty", "pairs"],
)
def test_good_trigger_arguments(value: Any, expected: Any) -> None:
    assert validate_trigger_arguments(value) == expected


def test_trigger_arguments_are_copied_read_only() -> None:
    given = {"k": "v"}
    stored = validate_trigger_arguments(given)
    given["k"] = "changed"
    assert stored == {"k": "v"}
    with pytest.raises(TypeError):
        stored["k"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"n": 1}, "the value of 'n' is 1, a int"),
        ({"n": None}, "the value of 'n' is None"),
        ({1: "x"}, "key 1 is a int"),
        (["k", "v"], "got list"),
        ("k=v", "got str"),
    ],
    ids=["int-value", "none-value", "int-key", "list", "string"],
)
def test_bad_trigger_arguments_are_refused(value: Any, fragment: str) -> None:
    with pytest.raises(TriggerArgumentsError, match=fragment) as caught:
        validate_trigger_arguments(value)
    assert "expected a mapping of string keys to string values" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "all"),
        ("all", "all"),
        (" nodes:a,b ", "nodes:a,b"),
        ({"all": None}, {"all": None}),
        ({"nodes": ["a", "b"]}, {"nodes": ("a", "b")}),
    ],
    ids=["none", "all", "nodes-text", "all-mapping", "nodes-mapping"],
)
def test_good_node_specs(value: Any, expected: Any) -> None:
    assert validate_node_spec(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "some", "nodes:", "nodes:a,,b", {"nodes": []}, {"nodes": "a"}, {"x": 1}, 3],
    ids=["empty", "unknown", "no-ids", "empty-id", "empty-list", "nodes-str", "other-key", "int"],
)
def test_bad_node_specs_are_refused(value: Any) -> None:
    with pytest.raises(NodeSpecError, match="expected 'all', 'nodes:<id>"):
        validate_node_spec(value)
