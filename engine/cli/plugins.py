"""CLI for plugins: `install package`, `update trigger`, `show plugins`, over HTTP or locally."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..names import INTERNAL_DATABASE
from .remote import (
    CliFailure,
    ServerClient,
    add_connection_options,
    client,
    guarded,
    read_text,
)

ENV_PATH = "/api/v3/configure/plugin_environment"
SHOW_PLUGINS_SQL = "SELECT * FROM system.plugin_files"
SHOW_COLUMNS = ("plugin_name", "file_name", "file_path", "size_bytes", "last_modified")
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


# install package

def register_install(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `install package`."""
    parser = subparsers.add_parser(
        "install", help="install Python packages for plugins",
        description="Install Python packages into the plugin environment of a server, or "
        "locally with --plugin-dir.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    package = kinds.add_parser(
        "package", help="install packages (PEP 508 requirements) or a requirements file",
        description="Install PACKAGES, or the requirements file -r PATH (a path inside the "
        "plugin directory, relative to it), into the plugin environment. Each entry must be a "
        "PEP 508 requirement such as 'pandas==2.2.2'. Talks to the server at --host, or with "
        "--plugin-dir installs into <plugin-dir>/.venv without a server.")
    package.add_argument("packages", metavar="PACKAGE", nargs="*", help="packages to install")
    package.add_argument("-r", "--requirements", metavar="PATH",
                         help="a requirements file inside the plugin directory")
    add_connection_options(package, timeout=900.0)
    local = package.add_argument_group("local mode (no server)")
    local.add_argument("--plugin-dir", type=Path,
                       help="install into this plugin directory's environment, no server")
    local.add_argument("--virtual-env-location", type=Path,
                       help="the environment's folder (default <plugin-dir>/.venv)")
    local.add_argument("--package-manager", default="discover",
                       choices=("discover", "pip", "uv", "disabled"))
    local.add_argument("--package-index-url", help="install from this package index")
    local.add_argument("--find-links", action="append", default=[], metavar="DIR",
                       help="a folder of wheels; without --package-index-url the only source")
    package.set_defaults(handler=guarded(run_install_package))


def run_install_package(args: argparse.Namespace) -> int:
    """Install the packages or the requirements file; 2 when neither or both are given."""
    if bool(args.packages) == bool(args.requirements):
        raise CliFailure("give either PACKAGE names or -r/--requirements PATH (not both)", 2)
    if args.plugin_dir is not None:
        output = _install_locally(args)
        if output:
            print(output.rstrip())
    elif args.packages:
        client(args).request("POST", f"{ENV_PATH}/install_packages",
                             body={"packages": args.packages})
    else:
        client(args).request("POST", f"{ENV_PATH}/install_requirements",
                             body={"requirements_location": args.requirements})
    what = ", ".join(args.packages) if args.packages else f"requirements from {args.requirements}"
    print(f"Successfully installed {what}")
    return 0


def _install_locally(args: argparse.Namespace) -> str:
    from ..plugin_env import PluginEnvironment

    if not Path(args.plugin_dir).is_dir():
        raise CliFailure(f"--plugin-dir {args.plugin_dir} is not a directory", 2)
    environment = PluginEnvironment(
        args.plugin_dir, venv_dir=args.virtual_env_location,
        package_manager=args.package_manager, index_url=args.package_index_url,
        find_links=args.find_links, timeout=args.timeout)
    if args.packages:
        return environment.install(args.packages)
    return environment.install_requirements(args.requirements)


# update trigger

def register_update(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `update trigger` to the kinds of the `update` noun."""
    parser = kinds.add_parser(
        "trigger", help="replace a trigger's plugin code on the server",
        description="Upload new code for a trigger's plugin: a file replaces its plugin file (or "
        "its package's __init__.py); a folder (with __init__.py) replaces its whole plugin "
        "folder atomically. Every file of the folder is sent except __pycache__, hidden entries "
        "and compiled files. The trigger runs the new code on its next call.")
    parser.add_argument("-d", "--database", default=os.environ.get("INFLUXDB3_DATABASE_NAME"),
                        help="the trigger's database (informational) [INFLUXDB3_DATABASE_NAME]")
    parser.add_argument("-t", "--trigger-name", required=True, help="the trigger to update")
    parser.add_argument("-p", "--path", required=True, type=Path,
                        help="the new plugin file, or plugin folder")
    add_connection_options(parser)
    parser.set_defaults(handler=guarded(run_update_trigger))


def run_update_trigger(args: argparse.Namespace) -> int:
    """Upload the file or folder as the trigger's plugin."""
    path: Path = args.path
    query = {"db": args.database} if args.database else None
    if path.is_dir():
        files = plugin_folder_files(path)
        client(args).request("PUT", "/api/v3/plugins/directory", query=query,
                             body={"plugin_name": args.trigger_name, "files": files})
        print(f"Trigger '{args.trigger_name}' updated successfully (atomic directory replacement)")
        return 0
    if not path.is_file():
        raise CliFailure(f"File not found: {path}")
    content = read_text(path)
    client(args).request("PUT", "/api/v3/plugins/files", query=query,
                         body={"plugin_name": args.trigger_name, "content": content})
    print(f"Trigger '{args.trigger_name}' updated successfully")
    return 0


def plugin_folder_files(folder: Path) -> list[dict[str, str]]:
    """The files of a plugin folder to upload, as `{"relative_path", "content"}` entries.

    Raises:
        CliFailure: There is no `__init__.py`, or a file is not UTF-8 text.
    """
    if not (folder / "__init__.py").is_file():
        raise CliFailure(f"{folder} has no __init__.py; a plugin folder needs one")
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES) or not path.is_file():
                continue
            relative = path.relative_to(folder).as_posix()
            files.append({"relative_path": relative, "content": read_text(path)})
    return files


# show plugins

def register_show(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `show plugins` to the kinds of the `show` noun."""
    parser = kinds.add_parser(
        "plugins", help="list the plugin files of every trigger",
        description=f"List every trigger's plugin files ({SHOW_PLUGINS_SQL}).")
    parser.add_argument("--format", default="pretty", choices=("pretty", "json", "jsonl", "csv"))
    parser.add_argument(
        "-d", "--database",
        help=f"the database whose system tables are read (default {INTERNAL_DATABASE}, or the "
        "first database when the server has no such database)")
    add_connection_options(parser)
    parser.set_defaults(handler=guarded(run_show_plugins))


def run_show_plugins(args: argparse.Namespace) -> int:
    """Print the server's `system.plugin_files` in the chosen format."""
    body = _plugin_files(client(args), args.database,
                         "json" if args.format == "pretty" else args.format)
    if args.format != "pretty":
        sys.stdout.write(body.decode("utf-8"))
        return 0
    rows = json.loads(body or b"[]")
    print(render_table(rows, SHOW_COLUMNS))
    return 0


def _plugin_files(server: ServerClient, database: str | None, wire_format: str) -> bytes:
    def query(db: str) -> bytes:
        return server.request("GET", "/api/v3/query_sql",
                              query={"db": db, "q": SHOW_PLUGINS_SQL, "format": wire_format})

    try:
        return query(database or INTERNAL_DATABASE)
    except CliFailure as failure:
        if database is not None or failure.http_status != 404:
            raise
    # A server without the reference's _internal database shows its system tables everywhere.
    listed = json.loads(server.request("GET", "/api/v3/configure/database",
                                       query={"format": "json"}) or b"[]")
    names = [str(row.get("iox::database")) for row in listed if isinstance(row, dict)]
    if not names:
        return b"[]" if wire_format == "json" else b""
    return query(names[0])


def render_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """Rows as a plain text table with a header line, columns padded to their widest cell."""
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)])
              for i, column in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
              for line in cells]
    return "\n".join(lines)
