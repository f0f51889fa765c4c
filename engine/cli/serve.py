"""The `serve` verb: run the engine behind the HTTP API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ..durations import parse_duration
from ..errors import EngineError, InvalidServerOption

logger = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8181"
DEFAULT_DATA_DIR = ".processing-engine"
DEFAULT_MAX_REQUEST_SIZE = 10 * 1024 * 1024

_DESCRIPTION = (
    "Run the processing engine with the InfluxDB 3 compatible HTTP API. Every option can also "
    "be set with the environment variable InfluxDB 3 uses (shown in brackets); options on the "
    "command line win. On first start with authentication on and no token yet, an admin token "
    "is created and printed once. SIGINT or SIGTERM stops the server gracefully: requests in "
    "flight finish, the WAL is flushed and triggers are stopped, then it exits with status 0."
)

# Option name, environment variable, default, help.
_OPTIONS: tuple[tuple[str, str, str | None, str], ...] = (
    ("--plugin-dir", "INFLUXDB3_PLUGIN_DIR", None, "directory holding the plugins"),
    ("--data-dir", "INFLUXDB3_DB_DIR", DEFAULT_DATA_DIR,
     "where the catalog, WAL and data are kept"),
    ("--http-bind", "INFLUXDB3_HTTP_BIND_ADDR", DEFAULT_BIND, "HOST:PORT to listen on"),
    ("--wal-flush-interval", "INFLUXDB3_WAL_FLUSH_INTERVAL", "1s",
     "time between WAL flushes: a duration (1s, 0.5s, 1m) or a number of seconds"),
    ("--max-http-request-size", "INFLUXDB3_MAX_HTTP_REQUEST_SIZE",
     str(DEFAULT_MAX_REQUEST_SIZE), "largest accepted request body in bytes"),
    ("--tls-cert", "INFLUXDB3_TLS_CERT", None, "PEM certificate file; serve HTTPS"),
    ("--tls-key", "INFLUXDB3_TLS_KEY", None, "PEM private key file for --tls-cert"),
    ("--node-id", "INFLUXDB3_NODE_IDENTIFIER_PREFIX", "local",
     "this node's id (matched against triggers' node_spec)"),
    ("--log-filter", "LOG_FILTER", "info", "log level: debug, info, warning or error"),
    ("--flight-bind", "PROCESSING_ENGINE_FLIGHT_BIND", None,
     "HOST:PORT for Arrow Flight (gRPC) SQL queries, as influxdb3 clients send them; "
     "off when unset (clients reach it with their query port option)"),
)
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, kw_only=True, slots=True)
class ServeConfig:
    """The validated settings of one `serve` run."""

    plugin_dir: Path | None
    data_dir: Path
    host: str
    port: int
    without_auth: bool
    wal_flush_interval: float
    max_request_size: int
    tls_cert: Path | None
    tls_key: Path | None
    node_id: str
    log_level: str
    flight_bind: tuple[str, int] | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeConfig:
        """Check the parsed options.

        Raises:
            InvalidServerOption: An option has a bad value (the message names it).
        """
        host, port = parse_bind(args.http_bind)
        if (args.tls_cert is None) != (args.tls_key is None):
            given = "--tls-cert" if args.tls_key is None else "--tls-key"
            raise InvalidServerOption(given, args.tls_cert or args.tls_key,
                                      "--tls-cert and --tls-key together")
        level = args.log_filter.strip().lower()
        if level not in ("debug", "info", "warning", "error"):
            raise InvalidServerOption("--log-filter", args.log_filter,
                                      "debug, info, warning or error")
        return cls(
            plugin_dir=_existing_dir(args.plugin_dir, "--plugin-dir"),
            data_dir=Path(args.data_dir),
            host=host,
            port=port,
            without_auth=args.without_auth,
            wal_flush_interval=_interval(args.wal_flush_interval),
            max_request_size=_positive_int(args.max_http_request_size, "--max-http-request-size"),
            tls_cert=None if args.tls_cert is None else Path(args.tls_cert),
            tls_key=None if args.tls_key is None else Path(args.tls_key),
            node_id=args.node_id,
            log_level=level,
            flight_bind=None if args.flight_bind is None else parse_bind(args.flight_bind),
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` subcommand."""
    parser = subparsers.add_parser("serve", help="run the engine with its HTTP API",
                                   description=_DESCRIPTION)
    for flag, env, default, text in _OPTIONS:
        value = os.environ.get(env, default)
        shown = f" (default {default})" if default is not None else ""
        parser.add_argument(flag, default=value, metavar="VALUE", help=f"{text}{shown} [{env}]")
    parser.add_argument(
        "--without-auth", action="store_true",
        default=os.environ.get("INFLUXDB3_START_WITHOUT_AUTH", "").strip().lower() in _TRUE,
        help="accept every request without a token [INFLUXDB3_START_WITHOUT_AUTH]",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve until a stop signal; 0 after a graceful stop, 2 for bad options or start-up."""
    try:
        config = ServeConfig.from_args(args)
    except InvalidServerOption as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    early = EarlyStop()
    previous = early.install()
    try:
        return serve(config, early)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class EarlyStop:
    """Catches SIGINT/SIGTERM before uvicorn takes them over (while the engine starts), so a
    stop requested during start-up is still graceful: the server starts, stops at once, and the
    engine is stopped with its WAL flushed."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.server: Any = None

    def install(self) -> dict[int, Any]:
        """Take over the stop signals; returns the previous handlers (none off the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        self.signal = sig
        if self.server is not None:
            self.server.should_exit = True


def serve(config: ServeConfig, early: EarlyStop | None = None) -> int:
    """Start the engine, serve HTTP until told to stop, then stop the engine."""
    from ..engine import Engine
    from ..http import create_app
    from ..tokens import TokenStore

    engine = Engine(config.plugin_dir, data_dir=config.data_dir,
                    wal_flush_interval=config.wal_flush_interval, node_id=config.node_id)
    tokens = None if config.without_auth else TokenStore(engine.catalog)
    if tokens is not None and not tokens.has_tokens():
        token, _record = tokens.create_admin_token()
        print("Created the first admin token. It is shown only this once; keep it safe:")
        print(token, flush=True)
    app = create_app(engine, auth=not config.without_auth,
                     max_request_size=config.max_request_size, tokens=tokens)
    server = _graceful_server(_uvicorn_config(app, config))
    early = early or EarlyStop()
    early.server = server
    server.should_exit = early.signal is not None
    engine.start()
    flight = None
    try:
        flight = _flight_server(engine, tokens, config)
        server.run()
    finally:
        if flight is not None:
            flight.shutdown()
        engine.stop()
    stopped_by = server.stop_signal or early.signal
    logger.info("stopped%s", "" if stopped_by is None else
                f" after {signal.Signals(stopped_by).name}")
    return 0


def _flight_server(engine: Any, tokens: Any, config: ServeConfig) -> Any:
    """The Arrow Flight query server when `--flight-bind` is set (TLS like the HTTP side)."""
    if config.flight_bind is None:
        return None
    import pyarrow as pa

    from ..http.flight import FlightQueryServer

    host, port = config.flight_bind
    certificates = None
    if config.tls_cert is not None and config.tls_key is not None:
        certificates = [(config.tls_cert.read_bytes(), config.tls_key.read_bytes())]
    scheme = "grpc+tcp" if certificates is None else "grpc+tls"
    try:
        server = FlightQueryServer(engine, f"{scheme}://{host}:{port}", tokens=tokens,
                                   tls_certificates=certificates)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidServerOption("--flight-bind", f"{host}:{port}",
                                  f"an address this process can listen on ({exc})") from exc
    logger.info("Arrow Flight queries on %s://%s:%d", scheme, host, server.port)
    return server


def _uvicorn_config(app: Any, config: ServeConfig) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=config.host, port=config.port, lifespan="off",
        log_level=config.log_level, access_log=config.log_level == "debug",
        ssl_certfile=None if config.tls_cert is None else str(config.tls_cert),
        ssl_keyfile=None if config.tls_key is None else str(config.tls_key),
        timeout_graceful_shutdown=10,
    )


def _graceful_server(uvicorn_config: Any) -> Any:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, except that a stop signal is not re-raised after shutting down.

        uvicorn re-raises the signal it caught once the server has stopped, which would kill the
        process before the engine is stopped and make the exit status the signal's.
        """

        stop_signal: int | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.stop_signal = sig
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            else:
                self.should_exit = True

    return GracefulServer(uvicorn_config)


def parse_bind(text: str) -> tuple[str, int]:
    """Split `HOST:PORT` (IPv6 as `[::1]:8181`)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidServerOption("--http-bind", text, "HOST:PORT with a port 1-65535")
    return host.strip("[]"), int(port)


def _existing_dir(value: str | None, flag: str) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(value)
    if not path.is_dir():
        raise InvalidServerOption(flag, value, "an existing directory")
    return path


def _interval(text: str) -> float:
    expected = "a duration longer than zero (1s, 0.5s, 1m) or a number of seconds"
    try:
        seconds = float(text) if _is_number(text) else parse_duration(text)
    except EngineError:
        raise InvalidServerOption("--wal-flush-interval", text, expected) from None
    if not seconds > 0:
        raise InvalidServerOption("--wal-flush-interval", text, expected)
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _positive_int(text: str, flag: str) -> int:
    if not str(text).isdigit() or int(text) <= 0:
        raise InvalidServerOption(flag, text, "a whole number of bytes > 0")
    return int(text)
