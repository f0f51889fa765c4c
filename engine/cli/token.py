"""`processing-engine create token`: make an admin or database token and print it once."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import EngineError

DEFAULT_DATA_DIR = ".processing-engine"

_DESCRIPTION = (
    "Create an API token and print it; it is shown only this once (only its SHA-256 hash is "
    "stored). Use --admin for a token that may do everything, or --database DB --permission "
    "read|write (both repeatable or comma-separated) for one limited to databases. With "
    "--host (or INFLUXDB3_HOST_URL) the running server creates it, authorised by an admin "
    "--token; otherwise it is written to the catalog of --data-dir, which no server may be "
    "using at the time."
)


def register_create(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `create token` to the kinds of the `create` noun."""
    parser = kinds.add_parser("token", help="create an API token and print it once",
                              description=_DESCRIPTION)
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--admin", action="store_true", help="a token that may do everything")
    scope.add_argument("--database", "-d", action="append", metavar="DB",
                       help="a database the token may use ('*' for all); repeatable")
    parser.add_argument("--permission", action="append", metavar="read|write",
                        help="with --database: read, write or both (read,write); repeatable")
    parser.add_argument("--name", default="", help="a label for the token")
    parser.add_argument("--data-dir", help=f"create it offline in this data directory (default "
                        f"{DEFAULT_DATA_DIR}) [INFLUXDB3_DB_DIR]")
    parser.add_argument("-H", "--host", help="create it on the server at this URL "
                        "[INFLUXDB3_HOST_URL]")
    parser.add_argument("--token", default=os.environ.get("INFLUXDB3_AUTH_TOKEN"),
                        help="with --host: an admin token [INFLUXDB3_AUTH_TOKEN]")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Create the token and print it (alone on stdout); 2 for bad options, 1 if refused."""
    request = _request(args)
    if isinstance(request, str):
        print(f"error: {request}", file=sys.stderr)
        return 2
    host = args.host or (None if args.data_dir else os.environ.get("INFLUXDB3_HOST_URL"))
    if host:
        answer = _on_server(host, args.token, request)
        if isinstance(answer, str):
            print(f"error: {answer}", file=sys.stderr)
            return 1
    else:
        try:
            answer = _offline(args, request)
        except EngineError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    scope = "admin" if answer["permissions"] == ["admin"] else (
        f"{', '.join(answer['permissions'])} on {', '.join(answer['databases'])}")
    print(f"Token {answer['name']!r} (id {answer['token_id']}, {scope}). It is shown only this "
          "once:", file=sys.stderr)
    print(answer["token"])
    return 0


def _request(args: argparse.Namespace) -> dict[str, Any] | str:
    if args.admin:
        if args.permission:
            return "--permission applies to --database tokens, not --admin"
        return {"admin": True, "name": args.name or "_admin"}
    permissions = [p for item in args.permission or [] for p in item.split(",") if p]
    if not permissions:
        return "--database needs --permission read, write or read,write"
    databases = [db.strip() for item in args.database for db in item.split(",") if db.strip()]
    return {"databases": databases, "permissions": permissions, "name": args.name}


def _offline(args: argparse.Namespace, request: dict[str, Any]) -> dict[str, Any]:
    from ..engine import Engine
    from ..http.routes_tokens import token_fields
    from ..tokens import TokenStore

    data_dir = args.data_dir or os.environ.get("INFLUXDB3_DB_DIR", DEFAULT_DATA_DIR)
    engine = Engine(None, data_dir=data_dir, background=False)
    try:
        store = TokenStore(engine.catalog)
        if request.get("admin"):
            token, record = store.create_admin_token(request["name"])
        else:
            token, record = store.create_database_token(
                request["databases"], request["permissions"], name=request["name"])
    finally:
        engine.stop()
    return {"token": token, **token_fields(record)}


def _on_server(host: str, token: str | None, request: dict[str, Any]) -> dict[str, Any] | str:
    """The server's answer, or why there is none."""
    from .remote import CliFailure, ServerClient

    if not token:
        return "--host needs an admin --token (or INFLUXDB3_AUTH_TOKEN)"
    try:
        body = ServerClient(host, token, timeout=30).request(
            "POST", "/api/v3/configure/token", body=request)
    except CliFailure as failure:
        return str(failure)
    answer: dict[str, Any] = json.loads(body)
    return answer
