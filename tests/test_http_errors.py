"""Specification of the error table (engine.http.errors): engine errors to HTTP statuses."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from http_support import api_client

from engine import errors as e
from engine.engine import Engine
from engine.http import create_app
from engine.http.errors import STATUS_BY_ERROR, engine_error_response, status_for
from engine.lineprotocol import parse

EXAMPLES: list[tuple[e.EngineError, int]] = [
    (e.TriggerSpecError("every:0s", "too short"), 400),
    (e.TriggerSettingsError("bad"), 400),
    (e.InvalidName("database", "a b", "space"), 400),
    (e.PluginPathError("../x.py", "leaves the plugin directory"), 400),
    (e.InvalidRequest("missing field"), 400),
    (e.MalformedAuthorization(), 400),
    (e.NotAuthenticated(), 401),
    (e.PermissionDenied("admin permission"), 403),
    (e.DatabaseNotFound("db"), 404),
    (e.TriggerNotFound("db", "t"), 404),
    (e.PluginNotFound("p.py"), 404),
    (e.DatabaseAlreadyExists("db"), 409),
    (e.TriggerAlreadyExists("db", "t"), 409),
    (e.TriggerAlreadyExists("db", "t", path="p", owner="db/u"), 409),
    (e.TriggerBusy("db", "t"), 409),
    (e.RequestTooLarge(10), 413),
    (e.UnsupportedContentType("text/plain", "application/json"), 415),
    (e.CatalogCorrupt("/x/catalog.json", "bad json"), 500),
    (e.OperationNotSupported("Engine.x"), 501),
    (e.EngineStopped("write"), 503),
]


@pytest.mark.parametrize(("error", "status"), EXAMPLES,
                         ids=[f"{type(err).__name__}-{status}" for err, status in EXAMPLES])
def test_status_and_json_body(error: e.EngineError, status: int) -> None:
    assert status_for(error) == status
    response = engine_error_response(error)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == {"error": str(error)}


class _UnlistedValueError(e.EngineError, ValueError):
    pass


class _UnlistedLookupError(e.EngineError, LookupError):
    pass


class _UnlistedServerError(e.EngineError):
    pass


class _SubclassOfListed(e.TriggerBusy):
    pass


@pytest.mark.parametrize(
    ("error", "status"),
    [(_UnlistedValueError(), 400), (_UnlistedLookupError(), 404), (_UnlistedServerError(), 500),
     (_SubclassOfListed("db", "t"), 409)],
    ids=["value-error", "lookup-error", "plain", "subclass-of-listed"],
)
def test_unlisted_errors_fall_back_by_ancestry(error: e.EngineError, status: int) -> None:
    assert status_for(error) == status


def test_every_listed_status_is_an_http_error_status() -> None:
    for klass, status in STATUS_BY_ERROR.items():
        assert issubclass(klass, e.EngineError)
        assert 400 <= status <= 599, klass


def test_every_engine_error_has_a_deliberate_status() -> None:
    # Only the server's own failures may become 5xx; everything else is the caller's to fix.
    server_side = {"CatalogCorrupt", "TableStoreCorrupt", "SyncWriteFailed", "WalWriteFailed",
                   "WatcherUnavailable", "OperationNotSupported", "EngineStopped",
                   "EngineNotStarted", "PluginEnvironmentUnavailable"}
    for name, klass in inspect.getmembers(e, inspect.isclass):
        if not issubclass(klass, e.EngineError) or klass is e.EngineError:
            continue
        status = next((STATUS_BY_ERROR[k] for k in klass.__mro__ if k in STATUS_BY_ERROR), None)
        if status is None:
            continue  # resolved by its builtin base, checked by the fallback test
        assert (status >= 500) == (name in server_side), name


def test_write_error_lists_the_bad_lines() -> None:
    result = parse("cpu value=1\nbroken line here\n")
    error = e.WriteError("no lines written", result.errors)
    body = json.loads(bytes(engine_error_response(error).body))
    assert body["data"] == [{"error_message": result.errors[0].message, "line_number": 2,
                             "original_line": "broken line here"}]


class _BrokenEngine(Engine):
    """A real engine with one bug: listing databases fails with a non-engine error."""

    def list_databases(self) -> list[str]:
        raise RuntimeError("disk on fire")


def test_unexpected_exceptions_are_500_json(plugin_dir: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    with _BrokenEngine(plugin_dir) as engine, api_client(
            create_app(engine, auth=False), raise_app_exceptions=False) as client:
        response = client.get("/api/v3/configure/database")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error: RuntimeError: disk on fire"}
    assert "unexpected error serving GET /api/v3/configure/database" in caplog.text
