"""Every error the engine raises: `EngineError` and its subclasses, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class InvalidName(EngineError, ValueError):
    """A database, table or trigger name breaks the naming rules."""

    def __init__(self, kind: str, name: str, reason: str) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        super().__init__(f"invalid {kind} name {name!r}: {reason}")


class TriggerSpecError(EngineError, ValueError):
    """A trigger specification string could not be parsed."""

    ACCEPTED_FORMS = (
        "'table:<TABLE_NAME>', 'all_tables', 'cron:<CRON_EXPRESSION>' "
        "(6 fields with seconds first, 7 with a year, or a 5-field crontab), "
        "'every:<DURATION>' (units s m h d w M y, e.g. 10s or 1h30m, at most 1y), "
        "or 'request:<PATH>'"
    )

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(
            f"invalid trigger specification {spec!r}: {problem}; "
            f"expected one of {self.ACCEPTED_FORMS}"
        )


class TriggerSettingsError(EngineError, ValueError):
    """`trigger_settings` holds an unknown key or a value of the wrong kind."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid trigger_settings: {problem}")


class DatabaseNotFound(EngineError, LookupError):
    """No database has that name."""

    def __init__(self, db: str) -> None:
        self.db = db
        super().__init__(f"database not found: {db!r}")


class DatabaseAlreadyExists(EngineError):
    """A database with that name already exists."""

    def __init__(self, db: str) -> None:
        self.db = db
        super().__init__(f"database already exists: {db!r}")


class TriggerNotFound(EngineError, LookupError):
    """No trigger has that name in the database."""

    def __init__(self, db: str, name: str) -> None:
        self.db = db
        self.name = name
        super().__init__(f"no trigger named {name!r} in database {db!r}")


class TriggerAlreadyExists(EngineError):
    """A trigger name, or a request path, is already taken."""

    def __init__(self, db: str, name: str, *, path: str | None = None, owner: str = "") -> None:
        self.db = db
        self.name = name
        self.path = path
        if path is None:
            message = f"a trigger named {name!r} already exists in database {db!r}"
        else:
            message = (
                f"cannot create trigger {name!r}: request path {path!r} is already served "
                f"by trigger {owner!r}"
            )
        super().__init__(message)


class TriggerBusy(EngineError):
    """The trigger is running a plugin call, so it cannot be deleted without force."""

    def __init__(self, db: str, name: str) -> None:
        self.db = db
        self.name = name
        super().__init__(
            f"trigger {name!r} in database {db!r} is running a plugin call; "
            "wait for it to finish, disable it first, or delete with force=True"
        )


class PluginNotFound(EngineError, LookupError):
    """`plugin_filename` does not name a plugin file or package inside the plugin directory."""

    def __init__(self, filename: str, detail: str = "") -> None:
        self.filename = filename
        tail = f": {detail}" if detail else ""
        super().__init__(f"plugin not found: {filename!r}{tail}")


class PluginPathError(EngineError, ValueError):
    """A plugin path would leave the plugin directory or is otherwise unsafe."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"invalid plugin path {path!r}: {reason}; "
            "use a relative path inside the plugin directory"
        )


class PluginContractError(EngineError, ValueError):
    """A plugin does not define the entry function its trigger kind needs."""

    def __init__(self, filename: str, expected_signature: str, detail: str = "") -> None:
        self.filename = filename
        self.expected_signature = expected_signature
        tail = f" ({detail})" if detail else ""
        super().__init__(
            f"plugin {filename!r} must define `{expected_signature}`{tail}"
        )


class PluginLoadError(EngineError):
    """A plugin failed to import."""

    def __init__(self, filename: str, detail: str) -> None:
        self.filename = filename
        self.detail = detail
        super().__init__(f"plugin {filename!r} failed to load: {detail}")


class NoPluginDirectory(EngineError):
    """An operation needs a plugin directory but the engine was created without one."""

    def __init__(self) -> None:
        super().__init__("the engine has no plugin directory; pass plugin_dir=... to Engine")


class WriteError(EngineError):
    """Line protocol was refused: nothing written, or a bad line with accept_partial=False."""

    def __init__(self, message: str, errors: Sequence[Any] = ()) -> None:
        self.errors = list(errors)
        detail = ""
        if self.errors:
            first = self.errors[0]
            detail = f"; first error: {getattr(first, 'message', first)}"
        super().__init__(f"{message}{detail}")


class QueryError(EngineError):
    """A SQL query failed."""

    def __init__(self, db: str, sql: str, reason: str) -> None:
        self.db = db
        self.sql = sql
        self.reason = reason
        super().__init__(f"query failed in database {db!r}: {reason}\nSQL: {sql}")


class CatalogCorrupt(EngineError):
    """The catalog file exists but cannot be read; start-up stops rather than losing it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"catalog file {path} is unreadable ({reason}); refusing to start so that it is not "
            "replaced by an empty catalog. Restore it from a backup or move it aside."
        )


class EngineStopped(EngineError):
    """The engine was stopped and cannot take this call."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"cannot {operation}: the engine is stopped")


class TriggerArgumentsError(EngineError, ValueError):
    """`trigger_arguments` is not a mapping of strings to strings."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"invalid trigger_arguments: {problem}; expected a mapping of string keys to string "
            "values, or None"
        )


class NodeSpecError(EngineError, ValueError):
    """`node_spec` is neither 'all', 'nodes:<id>,...' nor a mapping of that shape."""

    def __init__(self, value: object, problem: str) -> None:
        self.value = value
        super().__init__(
            f"invalid node_spec {value!r}: {problem}; expected 'all', 'nodes:<id>[,<id>...]', "
            "{'all': None} or {'nodes': ['<id>', ...]}"
        )


class UnknownEngineOption(EngineError, TypeError):
    """`Engine(...)` was given a keyword option it does not know."""

    def __init__(self, names: Sequence[str], accepted: Sequence[str]) -> None:
        self.names = list(names)
        self.accepted = list(accepted)
        super().__init__(
            f"unknown Engine option(s): {', '.join(sorted(self.names))}; "
            f"accepted options: {', '.join(self.accepted)}"
        )


class InvalidEngineOption(EngineError, ValueError):
    """An `Engine(...)` option has a value of the wrong kind or out of range."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid Engine option {name}={value!r}: expected {expected}")


class InvalidRequest(EngineError, ValueError):
    """An HTTP request is missing a field, has a field of the wrong kind, or is not valid JSON."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid request: {problem}")


class UnsupportedContentType(EngineError, ValueError):
    """An HTTP request body has a content type (or encoding) the endpoint does not accept."""

    def __init__(self, got: str, expected: str) -> None:
        self.got = got
        self.expected = expected
        super().__init__(f"unacceptable content type {got!r}, expected: {expected}")


class RequestTooLarge(EngineError, ValueError):
    """An HTTP request body (after gzip decoding) is larger than the server accepts."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"max request size ({limit} bytes) exceeded; send a smaller body or raise "
            "--max-http-request-size"
        )


class MalformedAuthorization(EngineError, ValueError):
    """The Authorization header is not '<scheme> <token>' with a known scheme."""

    def __init__(self) -> None:
        super().__init__(
            "Authorization header was malformed, the request was not in the form of "
            "'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, "
            "Token and Basic"
        )


class NotAuthenticated(EngineError, PermissionError):
    """A request carries no token, or a token the server does not know."""

    def __init__(self) -> None:
        super().__init__(
            "the request was not authenticated: send 'Authorization: Bearer <token>' with a "
            "token created by 'processing-engine create token'"
        )


class PermissionDenied(EngineError, PermissionError):
    """A valid token lacks the permission an operation needs."""

    def __init__(self, needed: str) -> None:
        self.needed = needed
        super().__init__(f"forbidden: this operation needs a token with {needed}")


class InvalidTokenPermission(EngineError, ValueError):
    """A token permission is not one of admin, db:read or db:write."""

    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(
            f"invalid token permission {permission!r}: expected 'admin', 'db:read' or 'db:write'"
        )


class OperationNotSupported(EngineError, NotImplementedError):
    """The engine this server runs has no implementation of the requested operation."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"this engine does not support {operation} yet")


class InvalidDuration(EngineError, ValueError):
    """A duration such as `1h30m` could not be parsed or is out of range."""

    ACCEPTED = (
        "<number><unit> spans, largest first or in any order, e.g. 30s, 5m, 1h30m, 1.5h; units "
        "s m h d w M (30.44 days) y (365.25 days)"
    )

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"invalid duration {text!r}: {problem}; expected {self.ACCEPTED}")


class InvalidCronExpression(EngineError, ValueError):
    """A cron expression breaks the engine's cron dialect."""

    ACCEPTED = (
        "'SEC MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK [YEAR]' or a 5-field crontab "
        "'MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK', each field '*', N, A-B, lists A,B and steps "
        "*/N or A-B/N ('?' allowed for the day fields), or @yearly @annually @monthly @weekly "
        "@daily @midnight @hourly"
    )

    def __init__(self, expression: str, problem: str) -> None:
        self.expression = expression
        self.problem = problem
        super().__init__(
            f"invalid cron expression {expression!r}: {problem}; expected {self.ACCEPTED}"
        )


class PluginNotLoaded(EngineError, LookupError):
    """The plugin loader has nothing loaded under that key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"no plugin is loaded for {key!r}; load it with PluginLoader.load(key, filename) first"
        )


class WatcherUnavailable(EngineError, RuntimeError):
    """Watching the plugin directory for changes could not start."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"cannot watch the plugin directory: {reason}; hot reload needs the 'watchdog' "
            "package (pip install watchdog) and a working file-system notification backend. "
            "Without it, plugin changes are still picked up when a trigger next runs"
        )


class InvalidCacheTTL(EngineError, ValueError):
    """A plugin passed a cache `ttl` that is not a usable number of seconds."""

    def __init__(self, ttl: object, problem: str) -> None:
        self.ttl = ttl
        self.problem = problem
        super().__init__(
            f"invalid cache ttl {ttl!r}: {problem}; expected a finite number of seconds >= 0 "
            "(int or float), or None for no expiry"
        )


class InvalidCacheKey(EngineError, TypeError):
    """A plugin used a cache key that is not a string."""

    def __init__(self, key: object) -> None:
        self.key = key
        super().__init__(
            f"invalid cache key {key!r}: expected a str, got {type(key).__name__}"
        )


class NotAScheduleTrigger(EngineError, TypeError):
    """Next fire times were asked of a trigger specification that is not `cron:` or `every:`."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        super().__init__(
            f"{spec!r} is not a schedule: only 'cron:<CRON_EXPRESSION>' and 'every:<DURATION>' "
            "specifications have fire times"
        )


class SchemaConflict(EngineError, ValueError):
    """Rows do not fit a table's schema: a column's type or kind differs, or it is not a
    column type the table store can hold."""

    def __init__(self, table: str, column: str, reason: str) -> None:
        self.table = table
        self.column = column
        self.reason = reason
        where = f"table {table!r}, " if table else ""
        super().__init__(f"schema conflict in {where}column {column!r}: {reason}")


class InvalidPluginCallArgument(EngineError, TypeError):
    """A plugin called an `influxdb3_local` method with an argument of the wrong kind."""

    def __init__(self, method: str, argument: str, expected: str, got: object) -> None:
        self.method = method
        self.argument = argument
        self.expected = expected
        super().__init__(
            f"influxdb3_local.{method}(): {argument} must be {expected}, "
            f"got {type(got).__name__} {_short_repr(got)}"
        )


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InternalDatabaseWrite(EngineError, PermissionError):
    """A plugin tried to write to the engine's own `_internal` database."""

    def __init__(self) -> None:
        super().__init__("Python plugins cannot write to the _internal database")


class SyncWriteFailed(EngineError):
    """`write_sync`/`write_sync_to_db` could not write; the text matches InfluxDB 3's."""

    def __init__(self, db: str, detail: str) -> None:
        self.db = db
        self.detail = detail
        super().__init__(f"error writing line protocol to {db}: {detail}")


class PluginCallCancelled(KeyboardInterrupt):
    """The trigger was stopped while its plugin ran; raised from `influxdb3_local` calls.

    Deliberately not an `EngineError`: like InfluxDB 3 this is a `KeyboardInterrupt`, so a
    plugin's `except Exception` cannot swallow it and the plugin unwinds promptly.
    """

    def __init__(self, reason: str = "the trigger was stopped") -> None:
        self.reason = reason
        super().__init__(f"{reason}; aborting plugin execution")


class InvalidPrecision(EngineError, ValueError):
    """A write precision is not one InfluxDB 3 accepts."""

    ACCEPTED = (
        "auto, ns (n, nanosecond), us (u, microsecond), ms (millisecond), s (second)"
    )

    def __init__(self, precision: object) -> None:
        self.precision = precision
        super().__init__(f"unknown precision {precision!r}; accepted values: {self.ACCEPTED}")


class UnrepresentablePoint(EngineError, ValueError):
    """A point cannot be written as line protocol that InfluxDB 3 would read back unchanged."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"cannot format point as line protocol: {problem}")


class InvalidTriggerField(EngineError, ValueError):
    """A field of a trigger definition (`disabled`, `plugin_filename`, ...) has the wrong kind."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"invalid {field} {value!r}: expected {expected}")


class TableNotFound(EngineError, LookupError):
    """No table has that name in the database."""

    def __init__(self, db: str, table: str) -> None:
        self.db = db
        self.table = table
        super().__init__(f"table not found: {table!r} in database {db!r}")


class TableStoreCorrupt(EngineError):
    """A table snapshot (manifest or Parquet file) on disk cannot be read."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"table snapshot {path} is unreadable ({reason}); refusing to start so that its "
            "data is not silently dropped. Restore it from a backup or move it aside."
        )


class InvalidPluginResponse(EngineError, TypeError):
    """A request plugin returned something that cannot become an HTTP response."""

    ACCEPTED = (
        "a dict or list (JSON), a str (text/html), bytes (served as is), an iterable of str/bytes, "
        "a (body, status), (body, headers) or (body, status, headers) tuple, or a response object "
        "with status_code, headers and get_data()/body"
    )

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid request plugin response: {problem}; return {self.ACCEPTED}")


class WalWriteFailed(WriteError):
    """Writes could not be made durable because writing the WAL failed (disk full, I/O error).

    Their rows stay buffered and are retried with the next flush, so they may still be
    stored; writing the same lines again is safe (identical points merge).
    """

    def __init__(self, db: str | None, reason: str) -> None:
        self.db = db
        self.reason = reason
        what = f"write to database {db!r} was" if db is not None else "buffered writes were"
        super().__init__(
            f"{what} not acknowledged: the write-ahead log could not be written ({reason}); "
            "the lines stay buffered and are retried with the next flush, so writing them "
            "again is safe"
        )


class InvalidPackageSpec(EngineError, ValueError):
    """A package to install is not a plain PEP 508 requirement (or a requirements line is bad)."""

    ACCEPTED = (
        "a PEP 508 requirement: a project name with optional [extras], version specifiers and "
        "'; markers', e.g. 'requests', 'pandas==2.2.2', 'httpx[http2]>=0.27,<1; "
        "python_version >= \"3.11\"' (pip options, URLs, VCS references and file paths are "
        "refused unless the engine was created with allow_unsafe_package_specs=True)"
    )

    def __init__(self, spec: object, reason: str, *, where: str = "") -> None:
        self.spec = spec
        self.reason = reason
        self.where = where
        at = f" ({where})" if where else ""
        super().__init__(
            f"invalid package specification {spec!r}{at}: {reason}; expected {self.ACCEPTED}"
        )


class PackageInstallFailed(EngineError, ValueError):
    """The package manager ran and failed; the message carries its own error output."""

    def __init__(self, requirements: Sequence[str], detail: str,
                 exit_status: int | None = None) -> None:
        self.requirements = list(requirements)
        self.detail = detail
        self.exit_status = exit_status
        status = f" (exit status {exit_status})" if exit_status is not None else ""
        super().__init__(
            f"installing {', '.join(self.requirements)} failed{status}: {detail}"
        )


class PackageInstallDisabled(EngineError, PermissionError):
    """Package installation is switched off (`package_manager='disabled'`)."""

    def __init__(self) -> None:
        super().__init__(
            "Package installation has been disabled. Contact your administrator for more "
            "information. (The engine runs with package_manager='disabled'; use 'discover', "
            "'pip' or 'uv' to allow installs.)"
        )


class PluginEnvironmentUnavailable(EngineError, RuntimeError):
    """The plugin virtual environment cannot be created or used; plugins still run."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(
            f"the plugin environment at {location} cannot be used: {reason}; plugins keep "
            "running with the packages the engine itself has. Fix the problem, or point "
            "virtual_env_location at a usable directory"
        )


class RequirementsFileError(EngineError, ValueError):
    """A requirements file to install from is missing, unreadable or too large."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(
            f"cannot install from requirements file {location!r}: {reason}; expected a UTF-8 "
            "pip requirements file inside the plugin directory (a path relative to it, or an "
            "absolute path within it), one PEP 508 requirement per line"
        )


class ManifestError(EngineError, ValueError):
    """A plugin's `manifest.toml` cannot be read or breaks the plugin SDK's format."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"invalid plugin manifest {path}: {problem}; expected the plugin SDK's manifest.toml "
            "(manifest_schema_version = \"1.<minor>\", and under [dependencies] an optional "
            "python = [\"<PEP 508 requirement>\", ...])"
        )


class InvalidPluginFiles(EngineError, ValueError):
    """Plugin file content is not text, or the files for a plugin directory are not a package."""

    def __init__(self, plugin: str, problem: str) -> None:
        self.plugin = plugin
        self.problem = problem
        super().__init__(
            f"cannot write plugin {plugin!r}: {problem}; expected text content, and for a "
            "directory a list of {\"relative_path\": ..., \"content\": ...} objects with "
            "distinct relative paths, one of them __init__.py"
        )


class NotADirectoryPlugin(EngineError, ValueError):
    """A directory update names a trigger whose plugin is a single file."""

    def __init__(self, trigger: str, plugin_filename: str) -> None:
        self.trigger = trigger
        self.plugin_filename = plugin_filename
        super().__init__(
            f"the plugin of trigger {trigger!r} is the single file {plugin_filename!r}, not a "
            "directory; update it with PUT /api/v3/plugins/files (update_plugin_file) instead"
        )


class EngineNotStarted(EngineError):
    """The call needs a started engine: call `start()` or use it as a context manager."""

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"cannot {operation}: the engine is not started; call engine.start() or use "
            "`with Engine(...) as engine:`"
        )


class InvalidTestInput(EngineError, ValueError):
    """The line protocol given to a WAL plugin dry run cannot be used as its input."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"invalid input_lp for a WAL plugin test: {problem}; expected line protocol with "
            "nanosecond timestamps (or none, for the current time), every line valid"
        )


class PluginRunFailed(EngineError, AssertionError):
    """A plugin run by the test harness failed, or its writes would be refused.

    `result` holds the whole run (log lines, captured writes, errors with tracebacks).
    """

    def __init__(self, filename: str, result: Any) -> None:
        self.filename = filename
        self.result = result
        errors = "\n".join(getattr(result, "errors", []))
        logs = "\n".join(f"  {line}" for line in getattr(result, "log_lines", []))
        super().__init__(
            f"plugin {filename} failed:\n{errors}\nlog lines:\n{logs or '  (none)'}\n"
            "(pass check=False to get the result back instead of this error)"
        )


class NotAWalTrigger(EngineError, TypeError):
    """A replay names a trigger that does not run on writes."""

    def __init__(self, trigger_name: str, spec: str) -> None:
        self.trigger_name = trigger_name
        self.spec = spec
        super().__init__(
            f"cannot replay data through trigger {trigger_name!r}: its specification {spec!r} "
            "does not run on writes; replay needs a 'table:<TABLE_NAME>' or 'all_tables' trigger"
        )


class InvalidReplayRange(EngineError, ValueError):
    """A replay's time range is empty or its batch size is not positive."""

    def __init__(self, start_ns: int, end_ns: int, batch_rows: int) -> None:
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.batch_rows = batch_rows
        super().__init__(
            f"cannot replay from {start_ns} to {end_ns} ns in batches of {batch_rows} rows; "
            "expected start < end (datetimes, int nanoseconds, or None for no bound) and "
            "batch_rows >= 1"
        )


class DataDirInUse(EngineError, RuntimeError):
    """Another engine (in this or another process) has the data directory open."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"data directory {path} is in use by another engine (a running 'serve', or another "
            "Engine in this process); stop it first, or use another --data-dir: two writers "
            "would corrupt its write-ahead log"
        )


class BenchTemplateError(EngineError, ValueError):
    """A `bench --template` for synthetic line protocol has a placeholder it cannot fill."""

    ACCEPTED = (
        "{i} (line number from 0), {i%N}, {i//N}, {rand} (float in [0, 1)), {rand:N} (float in "
        "[0, N)), {randint:N} (integer in [0, N)), {choice:a|b|c}, {time} (increasing "
        "nanosecond timestamp); '{{' and '}}' for literal braces"
    )

    def __init__(self, template: str, problem: str) -> None:
        self.template = template
        self.problem = problem
        super().__init__(f"invalid line template {template!r}: {problem}; accepted "
                         f"placeholders: {self.ACCEPTED}")


class BenchLoadMismatch(EngineError, ValueError):
    """The load given to a plugin benchmark does not fit its trigger specification's kind."""

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(
            f"cannot benchmark trigger specification {spec!r}: {problem}; table: and all_tables "
            "specs take line protocol (a file or generated lines, at least one line), request: "
            "specs take --requests N >= 1 calls with --concurrency C >= 1, cron: and every: "
            "specs take --requests N >= 1 runs"
        )


class InvalidServerOption(EngineError, ValueError):
    """An HTTP server option (`create_app` argument or `serve` flag) has a bad value."""

    def __init__(self, option: str, value: object, expected: str) -> None:
        self.option = option
        self.value = value
        super().__init__(f"invalid {option} {value!r}: expected {expected}")


class WriteBackFailed(EngineError, RuntimeError):
    """Some of a plugin's batched writes (`write`/`write_to_db`) were refused after its call."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        details = "; ".join(f"to {db!r}: {reason}" for db, reason in failures.items())
        super().__init__(
            f"batched writes to {len(failures)} database(s) were refused ({details}); "
            "writes to the other databases were applied"
        )
