"""`create|delete|enable|disable trigger` against a running server, as `influxdb3` spells them."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..errors import TriggerSpecError
from ..spec import TriggerSpec
from .plugins import plugin_folder_files
from .remote import (
    CliFailure,
    ServerClient,
    add_connection_options,
    add_kind,
    add_output_format,
    client,
    read_text,
)

TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"
ERROR_BEHAVIORS = ("log", "retry", "disable")


def add_trigger_options(parser: argparse.ArgumentParser) -> None:
    """The trigger's name, database, output format and connection options."""
    parser.add_argument("trigger_name", metavar="TRIGGER_NAME", help="the trigger's name")
    parser.add_argument("-d", "--database", default=os.environ.get("INFLUXDB3_DATABASE_NAME"),
                        help="the trigger's database [INFLUXDB3_DATABASE_NAME]")
    add_output_format(parser)
    add_connection_options(parser)


def register_create(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `create trigger` to the kinds of the `create` noun."""
    parser = add_kind(
        kinds, "trigger", run_create, help="create a trigger on the server",
        description="Create a trigger that runs a plugin on writes (table:NAME, all_tables), on "
        "a schedule (cron:EXPR, every:DURATION) or on requests (request:PATH). The spec is "
        "checked here first and sent in canonical form.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--path", help="the plugin: a file or folder name in the server's "
                        "plugin directory, or with --upload a local file or folder")
    source.add_argument("--plugin-filename", help="the plugin file or folder name on the "
                        "server (the older name of --path)")
    parser.add_argument("--trigger-spec", required=True, help="when it runs, e.g. every:10s")
    parser.add_argument("--trigger-arguments", help="arguments for the plugin: k=v,k2=v2")
    parser.add_argument("--disabled", action="store_true", help="create it disabled")
    parser.add_argument("--run-asynchronous", action="store_true",
                        help="let its calls run concurrently")
    parser.add_argument("--error-behavior", choices=ERROR_BEHAVIORS, default="log",
                        help="what a failed call does: log (default), retry or disable")
    parser.add_argument("--upload", action="store_true",
                        help="upload the local --path file or folder to the server first")
    add_trigger_options(parser)


def register_delete(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `delete trigger` to the kinds of the `delete` noun."""
    parser = add_kind(kinds, "trigger", run_delete, help="delete a trigger on the server",
                      description="Delete a trigger; --force also stops a running call.")
    parser.add_argument("--force", action="store_true",
                        help="delete it even while its plugin is running")
    add_trigger_options(parser)


def register_enable(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `enable trigger` to the kinds of the `enable` noun."""
    add_trigger_options(add_kind(
        kinds, "trigger", run_enable, help="enable a trigger on the server",
        description="Enable a trigger (an enabled one stays enabled)."))


def register_disable(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `disable trigger` to the kinds of the `disable` noun."""
    add_trigger_options(add_kind(
        kinds, "trigger", run_disable, help="disable a trigger on the server",
        description="Disable a trigger (a disabled one stays disabled)."))


def run_create(args: argparse.Namespace) -> int:
    """Check the inputs, upload the plugin if asked, and create the trigger."""
    database = _database(args)
    spec = _canonical_spec(args.trigger_spec)
    arguments = parse_trigger_arguments(args.trigger_arguments)
    server = client(args)
    plugin = args.path or args.plugin_filename
    if args.upload:
        plugin = upload_plugin(server, Path(plugin))
    body = {
        "db": database, "trigger_name": args.trigger_name, "plugin_filename": plugin,
        "trigger_specification": spec, "trigger_arguments": arguments,
        "trigger_settings": {"run_async": args.run_asynchronous,
                             "error_behavior": args.error_behavior},
        "disabled": args.disabled,
    }
    server.request("POST", TRIGGER_PATH, body=body)
    return _done(args, "created", {"plugin_filename": plugin, "trigger_specification": spec})


def run_delete(args: argparse.Namespace) -> int:
    """Delete the trigger."""
    query = {"db": _database(args), "trigger_name": args.trigger_name,
             "force": "true" if args.force else "false"}
    client(args).request("DELETE", TRIGGER_PATH, query=query)
    return _done(args, "deleted")


def run_enable(args: argparse.Namespace) -> int:
    """Enable the trigger."""
    _switch(args, "enable")
    return _done(args, "enabled")


def run_disable(args: argparse.Namespace) -> int:
    """Disable the trigger."""
    _switch(args, "disable")
    return _done(args, "disabled")


def _switch(args: argparse.Namespace, action: str) -> None:
    query = {"db": _database(args), "trigger_name": args.trigger_name}
    client(args).request("POST", f"{TRIGGER_PATH}/{action}", query=query)


def _done(args: argparse.Namespace, verb: str, extra: dict[str, Any] | None = None) -> int:
    if args.format == "json":
        print(json.dumps({"trigger_name": args.trigger_name, "database": args.database,
                          "status": verb, **(extra or {})}))
    else:
        print(f"Trigger {args.trigger_name} {verb} successfully")
    return 0


def _database(args: argparse.Namespace) -> str:
    if not args.database:
        raise CliFailure("a database is needed: -d/--database or INFLUXDB3_DATABASE_NAME", 2)
    database: str = args.database
    return database


def _canonical_spec(text: str) -> str:
    try:
        return str(TriggerSpec.parse(text))
    except TriggerSpecError as error:
        raise CliFailure(str(error), 2) from None


def parse_trigger_arguments(text: str | None) -> dict[str, str] | None:
    """`k=v,k2=v2` as a dict (each item split on its first `=`); None when not given.

    Raises:
        CliFailure: An item has no `=` or an empty key (usage error, status 2).
    """
    if text is None:
        return None
    arguments: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliFailure(f'trigger argument {item!r} must be formatted as "key=value"', 2)
        arguments[key.strip()] = value
    return arguments


def upload_plugin(server: ServerClient, path: Path) -> str:
    """Send a local plugin file or folder to the server; returns the name the trigger uses.

    Raises:
        CliFailure: The path does not exist, or a folder has no `__init__.py`.
    """
    if path.is_dir():
        for item in plugin_folder_files(path):
            server.request("POST", "/api/v3/plugins/files", body={
                "plugin_name": f"{path.name}/{item['relative_path']}",
                "content": item["content"]})
        return path.name
    if not path.is_file():
        raise CliFailure(f"File not found: {path}")
    server.request("POST", "/api/v3/plugins/files",
                   body={"plugin_name": path.name, "content": read_text(path)})
    return path.name
