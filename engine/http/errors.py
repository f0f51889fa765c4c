"""The one table mapping engine errors to HTTP statuses, and JSON error responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors as e

logger = logging.getLogger(__name__)

# Every EngineError subclass the HTTP edge can see, and its status (PRODUCT.md §5: bad input 400,
# missing 404, duplicate or busy 409, wrong content type 415, too large 413). A subclass that is
# not listed takes the status of its nearest listed ancestor, then of its builtin base.
STATUS_BY_ERROR: dict[type[e.EngineError], int] = {
    # 400: the request (or what it carries) is wrong, and saying so is the whole answer.
    e.InvalidName: 400,
    e.TriggerSpecError: 400,
    e.InvalidDuration: 400,
    e.InvalidCronExpression: 400,
    e.TriggerSettingsError: 400,
    e.TriggerArgumentsError: 400,
    e.InvalidTriggerField: 400,
    e.NodeSpecError: 400,
    e.PluginPathError: 400,
    e.PluginContractError: 400,
    e.PluginLoadError: 400,
    e.WriteError: 400,
    e.InvalidPrecision: 400,
    e.SchemaConflict: 400,
    e.QueryError: 400,
    e.InvalidRequest: 400,
    e.MalformedAuthorization: 400,
    e.InvalidTokenPermission: 400,
    e.UnknownEngineOption: 400,
    e.InvalidEngineOption: 400,
    e.InvalidServerOption: 400,
    e.NotAScheduleTrigger: 400,
    e.NotAWalTrigger: 400,
    e.InvalidReplayRange: 400,
    e.InvalidTestInput: 400,
    e.InvalidPackageSpec: 400,
    e.PackageInstallFailed: 400,
    e.RequirementsFileError: 400,
    e.ManifestError: 400,
    e.InvalidPluginFiles: 400,
    e.NotADirectoryPlugin: 400,
    # 401 / 403: who is asking, and what they may do.
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.InternalDatabaseWrite: 403,
    e.PackageInstallDisabled: 403,
    # 404: the thing named does not exist.
    e.DatabaseNotFound: 404,
    e.TriggerNotFound: 404,
    e.TableNotFound: 404,
    e.PluginNotFound: 404,
    # 409: the request clashes with the current state.
    e.DatabaseAlreadyExists: 409,
    e.TriggerAlreadyExists: 409,
    e.TriggerBusy: 409,
    e.NoPluginDirectory: 409,
    # 413 / 415: the body itself.
    e.RequestTooLarge: 413,
    e.UnsupportedContentType: 415,
    # 5xx: the server's side failed, or cannot serve this now.
    e.WalWriteFailed: 500,
    e.CatalogCorrupt: 500,
    e.TableStoreCorrupt: 500,
    e.SyncWriteFailed: 500,
    e.PluginEnvironmentUnavailable: 500,
    e.OperationNotSupported: 501,
    e.EngineNotStarted: 503,
    e.EngineStopped: 503,
}

_STATUS_BY_BUILTIN: tuple[tuple[type[BaseException], int], ...] = (
    (ValueError, 400),
    (TypeError, 400),
    (PermissionError, 403),
    (LookupError, 404),
)


def status_for(error: e.EngineError) -> int:
    """The HTTP status for an engine error (500 when nothing more specific applies)."""
    for klass in type(error).__mro__:
        status = STATUS_BY_ERROR.get(klass)
        if status is not None:
            return status
    for builtin, status in _STATUS_BY_BUILTIN:
        if isinstance(error, builtin):
            return status
    return 500


def error_response(
    status: int, message: str, *, data: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error body `{"error": message}`, plus `"data"` when given."""
    body: dict[str, Any] = {"error": message}
    if data is not None:
        body["data"] = data
    return JSONResponse(body, status_code=status, headers=headers)


def engine_error_response(error: e.EngineError) -> JSONResponse:
    """The response for an engine error, with the partial-write `data` where there is one."""
    status = status_for(error)
    if status >= 500 and status != 501:
        logger.error("request failed: %s", error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, str(error), data=_error_data(error), headers=headers)


def _error_data(error: e.EngineError) -> Any:
    if isinstance(error, e.WriteError) and error.errors:
        return [line_error_dict(item) for item in error.errors]
    return None


def line_error_dict(item: Any) -> dict[str, Any]:
    """One bad line as the reference reports it: message, 1-based line number, line start."""
    original = str(getattr(item, "original_line", ""))
    return {
        "error_message": str(getattr(item, "message", item)),
        "line_number": getattr(item, "line_number", None),
        "original_line": original[:20],
    }


async def handle_engine_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for `EngineError`."""
    assert isinstance(exc, e.EngineError)
    return engine_error_response(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Starlette handler for any other exception (a bug): logged with its traceback, and
    answered 500 with a JSON body like every other error."""
    logger.error("unexpected error serving %s %s", request.method, request.url.path,
                 exc_info=exc)
    return error_response(500, f"internal server error: {type(exc).__name__}: {exc}")


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette exception handler turning routing errors (404, 405) into JSON bodies."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    elif exc.status_code == 404:
        message = f"not found: no route for {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, headers=exc.headers)
