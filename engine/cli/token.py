"""`processing-engine create token`: make an admin or database token and print it once."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import EngineError

DEFAULT_DATA_DIR = ".processing-engine"

_DESCRIPTION = (
    "Create an API token in the catalog of a data directory and print it. The token is shown "
    "only this once; the catalog keeps just its SHA-256 hash. Use --admin for a token that may "
    "do everything, or --database DB --permission read|write (repeatable, or comma-separated) "
    "for one limited to databases. Run it while no server uses the data directory: a running "
    "server does not see tokens created behind its back and may overwrite them."
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
    parser.add_argument(
        "--data-dir", default=os.environ.get("INFLUXDB3_DB_DIR", DEFAULT_DATA_DIR),
        help=f"the server's data directory (default {DEFAULT_DATA_DIR}) [INFLUXDB3_DB_DIR]",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Create the token and print it; 2 for bad options."""
    from ..engine import Engine
    from ..tokens import TokenStore

    if args.admin and args.permission:
        print("error: --permission applies to --database tokens, not --admin", file=sys.stderr)
        return 2
    try:
        engine = Engine(None, data_dir=args.data_dir, background=False)
        store = TokenStore(engine.catalog)
        if args.admin:
            token, record = store.create_admin_token(args.name or "_admin")
        else:
            permissions = [p for item in args.permission or [] for p in item.split(",") if p]
            if not permissions:
                print("error: --database needs --permission read, write or read,write",
                      file=sys.stderr)
                return 2
            token, record = store.create_database_token(
                _split(args.database), permissions, name=args.name)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    scope = "admin" if record.is_admin else (
        f"{', '.join(record.permissions)} on {', '.join(record.databases)}")
    print(f"Token {record.name!r} (id {record.token_id}, {scope}). It is shown only this once:",
          file=sys.stderr)
    print(token)
    return 0


def _split(values: list[str]) -> list[str]:
    return [db.strip() for item in values for db in item.split(",") if db.strip()]
