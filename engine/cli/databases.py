"""`create|delete database` and `show databases` against a running server."""

from __future__ import annotations

import argparse
import json

from .plugins import render_table
from .remote import add_connection_options, add_kind, add_output_format, client

DATABASE_PATH = "/api/v3/configure/database"


def _add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database_name", metavar="DATABASE_NAME", help="the database's name")
    add_output_format(parser)
    add_connection_options(parser)


def register_create(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `create database` to the kinds of the `create` noun."""
    _add_name(add_kind(kinds, "database", run_create, help="create a database on the server",
                       description="Create a database on the server."))


def register_delete(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `delete database` to the kinds of the `delete` noun."""
    _add_name(add_kind(kinds, "database", run_delete, help="delete a database and its triggers",
                       description="Delete a database, its tables and its triggers."))


def register_show(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `show databases` to the kinds of the `show` noun."""
    parser = add_kind(kinds, "databases", run_show, help="list the server's databases",
                      description="List the server's databases.")
    add_output_format(parser)
    add_connection_options(parser)


def run_create(args: argparse.Namespace) -> int:
    """Create the database."""
    client(args).request("POST", DATABASE_PATH, body={"db": args.database_name})
    return _done(args, "created")


def run_delete(args: argparse.Namespace) -> int:
    """Delete the database."""
    client(args).request("DELETE", DATABASE_PATH, query={"db": args.database_name})
    return _done(args, "deleted")


def run_show(args: argparse.Namespace) -> int:
    """Print the server's databases in the chosen format."""
    body = client(args).request("GET", DATABASE_PATH, query={"format": "json"})
    if args.format == "json":
        print(body.decode("utf-8").rstrip("\n"))
        return 0
    print(render_table(json.loads(body or b"[]"), ("iox::database",)))
    return 0


def _done(args: argparse.Namespace, verb: str) -> int:
    if args.format == "json":
        print(json.dumps({"database": args.database_name, "status": verb}))
    else:
        print(f"Database {args.database_name!r} {verb} successfully")
    return 0
