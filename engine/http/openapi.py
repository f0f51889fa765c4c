"""The OpenAPI 3 document of the HTTP API (hand-written, checked against the routes in tests)."""

from __future__ import annotations

import copy
from typing import Any

from .. import __version__

_ERROR = {"$ref": "#/components/responses/Error"}
_STR = {"type": "string"}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_SCALAR = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
_BOOL_TEXT = {"type": "string", "enum": ["true", "false", "1", "0"]}
_DB = {"type": "string", "minLength": 1, "description": "database name"}
_OK = {"description": "Success (empty body)."}
_NO_CONTENT = {"description": "Success (no body)."}


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI 3.0 document describing every route."""
    return copy.deepcopy(_DOCUMENT)


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ERROR for status in statuses}


def _op(summary: str, *, tag: str, ok: dict[str, Any], errors: tuple[int, ...],
        body: dict[str, Any] | None = None, query: list[dict[str, Any]] | None = None,
        public: bool = False, status: str | None = None) -> dict[str, Any]:
    status = status or ("204" if ok is _NO_CONTENT else "200")
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {status: ok, **_errors(*(() if public else (401,)), *errors)},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    if query:
        operation["parameters"] = query
    if public:
        operation["security"] = []
    return operation


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _q(name: str, schema: dict[str, Any], *, required: bool = False,
       description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _json_ok(schema: dict[str, Any], description: str = "Success.") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_TRIGGER_QUERY = [_q("db", _DB, required=True), _q("trigger_name", {"type": "string",
                                                                  "minLength": 1},
                                                    required=True)]
_TRIGGER_CREATE = _obj(
    ["db", "plugin_filename", "trigger_name", "trigger_specification"],
    db=_DB,
    plugin_filename={"type": "string", "minLength": 1,
                     "description": "plugin file or package, relative to the plugin directory"},
    trigger_name={"type": "string", "minLength": 1},
    trigger_specification={"type": "string", "minLength": 1, "example": "every:10s",
                           "description": "table:NAME, all_tables, cron:EXPR, every:DURATION "
                                          "or request:PATH"},
    trigger_settings={"oneOf": [{"type": "object"}, {"type": "string"}],
                      "description": "object (run_async, error_behavior, max_retries, "
                                     "retry_backoff, timezone, catch_up, timeout, request_auth) "
                                     "or its JSON text"},
    trigger_arguments={**_STR_MAP, "nullable": True},
    disabled={"type": "boolean", "default": False},
    node_spec={"oneOf": [{"type": "string"}, {"type": "object"}], "nullable": True},
)
_TEST_FIELDS: dict[str, Any] = {
    "log_lines": {"type": "array", "items": _STR},
    "database_writes": {"type": "object", "additionalProperties": {"type": "array",
                                                                    "items": _STR}},
    "errors": {"type": "array", "items": _STR},
}


def _test_result(**extra: Any) -> dict[str, Any]:
    schema = _obj(["log_lines", "database_writes", "errors"], **_TEST_FIELDS, **extra)
    return _json_ok(schema, "The dry run ran; plugin failures are reported in `errors`.")


_TEST_RESULT = _test_result()
_SCHEDULE_RESULT = _test_result(trigger_time={"type": "string", "format": "date-time",
                                              "nullable": True})
_REQUEST_RESULT = _test_result(response=_obj(
    ["status", "headers", "body"], status={"type": "integer"}, headers=_STR_MAP,
    body={"type": "string", "nullable": True}, body_base64=_STR))
_TEST_COMMON = {"filename": {"type": "string", "minLength": 1}, "database": _DB,
                "input_arguments": {**_STR_MAP, "nullable": True},
                "cache_name": {"type": "string", "nullable": True}}
_NAME_CONTENT = _obj(["plugin_name", "content"], plugin_name={"type": "string", "minLength": 1},
                     content=_STR)
_LP_BODY = {"required": True, "content": {"text/plain": {"schema": _STR}}}
_QUERY_RESULT = {"description": "Rows in the chosen format.", "content": {
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "application/jsonl": {"schema": _STR},
    "text/csv": {"schema": _STR},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}}
_FORMAT = {"type": "string", "enum": ["json", "jsonl", "json_lines", "csv", "parquet"]}


def _write(summary: str, db_param: str, precision: list[str], extra: list[dict[str, Any]],
           ) -> dict[str, Any]:
    operation = _op(summary, tag="data", ok=_NO_CONTENT, errors=(400, 403, 413, 415),
                    query=[_q(db_param, _DB, required=True),
                           _q("precision", {"type": "string", "enum": precision}), *extra])
    operation["requestBody"] = _LP_BODY
    return operation


_REQUEST_TRIGGER = {
    "summary": "Call the request trigger serving PATH",
    "tags": ["processing engine"],
    "parameters": [{"name": "path", "in": "path", "required": True, "schema": _STR}],
    "requestBody": {"required": False, "content": {"*/*": {"schema": _STR}}},
    "responses": {"200": {"description": "Whatever the plugin returns."},
                  **_errors(400, 401, 403, 404, 413, 500)},
}

_PATHS: dict[str, Any] = {
    "/health": {"get": _op("Liveness", tag="system", public=True, errors=(), ok={
        "description": "The server runs.", "content": {"text/plain": {"schema": _STR}}})},
    "/ping": {"get": _op("Version", tag="system", public=True, errors=(), ok=_json_ok(
        _obj(["version"], version=_STR, revision=_STR)))},
    "/api/v3/openapi.json": {"get": _op("This document", tag="system", public=True, errors=(),
                                        ok=_json_ok({"type": "object"}))},
    "/api/v3/configure/processing_engine_trigger": {
        "post": _op("Create a trigger", tag="processing engine", ok=_OK, body=_TRIGGER_CREATE,
                    errors=(400, 403, 404, 409, 413, 415)),
        "delete": _op("Delete a trigger", tag="processing engine", ok=_OK,
                      query=[*_TRIGGER_QUERY, _q("force", _BOOL_TEXT)],
                      errors=(400, 403, 404, 409)),
    },
    "/api/v3/configure/processing_engine_trigger/enable": {"post": _op(
        "Enable a trigger", tag="processing engine", ok=_OK, query=_TRIGGER_QUERY,
        errors=(400, 403, 404))},
    "/api/v3/configure/processing_engine_trigger/disable": {"post": _op(
        "Disable a trigger", tag="processing engine", ok=_OK, query=_TRIGGER_QUERY,
        errors=(400, 403, 404))},
    "/api/v3/engine/{path}": {"get": _REQUEST_TRIGGER, "post": _REQUEST_TRIGGER},
    "/api/v3/plugin_test/wal": {"post": _op(
        "Dry-run a WAL plugin", tag="plugin test", ok=_TEST_RESULT,
        body=_obj(["filename", "database", "input_lp"], input_lp=_STR, **_TEST_COMMON),
        errors=(400, 403, 404, 413, 415, 501))},
    "/api/v3/plugin_test/schedule": {"post": _op(
        "Dry-run a schedule plugin", tag="plugin test", ok=_SCHEDULE_RESULT,
        body=_obj(["filename", "database"], schedule={"type": "string", "nullable": True},
                  **_TEST_COMMON),
        errors=(400, 403, 404, 413, 415, 501))},
    "/api/v3/plugin_test/request": {"post": _op(
        "Dry-run a request plugin", tag="plugin test", ok=_REQUEST_RESULT,
        body=_obj(["filename", "database"], query_parameters={**_STR_MAP, "nullable": True},
                  request_headers={**_STR_MAP, "nullable": True},
                  request_body={"type": "string", "nullable": True}, **_TEST_COMMON),
        errors=(400, 403, 404, 413, 415, 501))},
    "/api/v3/plugins/files": {
        "post": _op("Create a plugin file", tag="plugin files", ok=_OK, body=_NAME_CONTENT,
                    errors=(400, 403, 409, 413, 415, 501)),
        "put": _op("Replace the plugin file of a trigger", tag="plugin files", ok=_OK,
                   body=_NAME_CONTENT, errors=(400, 403, 404, 409, 413, 415, 501)),
    },
    "/api/v3/plugins/directory": {"put": _op(
        "Replace the plugin directory of a trigger", tag="plugin files", ok=_OK,
        body=_obj(["plugin_name", "files"], plugin_name={"type": "string", "minLength": 1},
                  files={"type": "array", "items": _obj(["relative_path", "content"],
                                                        relative_path=_STR, content=_STR)}),
        errors=(400, 403, 404, 409, 413, 415, 501))},
    "/api/v3/configure/plugin_environment/install_packages": {"post": _op(
        "Install Python packages for plugins", tag="plugin environment", ok=_OK,
        body=_obj(["packages"], packages={"type": "array", "items": _STR}),
        errors=(400, 403, 409, 413, 415, 501))},
    "/api/v3/configure/plugin_environment/install_requirements": {"post": _op(
        "Install a requirements file for plugins", tag="plugin environment", ok=_OK,
        body=_obj(["requirements_location"], requirements_location={"type": "string",
                                                                    "minLength": 1}),
        errors=(400, 403, 404, 409, 413, 415, 501))},
    "/api/v3/write_lp": {"post": _write(
        "Write line protocol", "db", ["auto", "ns", "n", "nanosecond", "us", "u", "microsecond",
                                      "ms", "millisecond", "s", "second"],
        [_q("accept_partial", _BOOL_TEXT), _q("no_sync", _BOOL_TEXT)])},
    "/api/v2/write": {"post": _write("Write line protocol (InfluxDB 2)", "bucket",
                                     ["ns", "us", "ms", "s"], [_q("org", _STR)])},
    "/write": {"post": _write("Write line protocol (InfluxDB 1)", "db",
                              ["n", "ns", "u", "us", "ms", "s", "m", "h"],
                              [_q("rp", _STR), _q("p", _STR, description="token")])},
    "/api/v3/query_sql": {
        "get": _op("SQL query", tag="data", ok=_QUERY_RESULT, errors=(400, 403, 404),
                   query=[_q("db", _DB, required=True),
                          _q("q", {"type": "string", "minLength": 1}, required=True),
                          _q("format", _FORMAT),
                          _q("params", _STR, description="JSON object of $name values")]),
        "post": _op("SQL query", tag="data", ok=_QUERY_RESULT, errors=(400, 403, 404, 413, 415),
                    body=_obj(["db", "q"], db=_DB, q={"type": "string", "minLength": 1},
                              format=_FORMAT,
                              params={"type": "object", "additionalProperties": _SCALAR,
                                      "nullable": True})),
    },
    "/api/v3/configure/database": {
        "get": _op("List databases", tag="databases", errors=(400,),
                   query=[_q("format", {"type": "string", "enum": ["json"]})],
                   ok=_json_ok({"type": "array", "items": _obj(["iox::database"], **{
                       "iox::database": _STR})})),
        "post": _op("Create a database", tag="databases", ok=_OK, body=_obj(["db"], db=_DB),
                    errors=(400, 403, 409, 413, 415)),
        "delete": _op("Delete a database", tag="databases", ok=_OK,
                      query=[_q("db", _DB, required=True)], errors=(400, 403, 404)),
    },
}

_PATHS["/api/v3/configure/token"] = {"post": _op(
    "Create a token (shown only in this answer)", tag="tokens", status="201",
    ok={"description": "Created.", "content": {"application/json": {"schema": _obj(
        ["token", "token_id", "name", "permissions", "databases"], token=_STR, token_id=_STR,
        name=_STR, permissions={"type": "array", "items": _STR},
        databases={"type": "array", "items": _STR})}}},
    body=_obj([], admin={"type": "boolean"}, name=_STR,
              databases={"type": "array", "items": _STR, "minItems": 1},
              permissions={"type": "array", "items": {
                  "type": "string", "enum": ["read", "write", "db:read", "db:write"]},
                  "minItems": 1}),
    errors=(400, 403, 405, 413, 415))}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "processing-engine",
        "version": __version__,
        "description": "InfluxDB 3 compatible processing engine API. Every error body is JSON "
                       "with an `error` message (plus `data` for rejected lines).",
    },
    "paths": _PATHS,
    "security": [{"bearer": []}, {"token": []}, {"basic": []}],
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "'Token <token>'"},
            "basic": {"type": "http", "scheme": "basic",
                      "description": "the password is the token"},
        },
        "responses": {"Error": {"description": "Error.", "content": {"application/json": {
            "schema": {"type": "object", "required": ["error"], "properties": {
                "error": _STR, "data": {}}}}}}},
    },
}
