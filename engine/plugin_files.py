"""Plugin files on disk: safe paths inside the plugin directory, resolution, entry-point checks."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import (
    NoPluginDirectory,
    PluginContractError,
    PluginLoadError,
    PluginNotFound,
    PluginPathError,
)

PACKAGE_ENTRY_FILE = "__init__.py"


@dataclass(frozen=True, slots=True)
class PluginLocation:
    """Where a `plugin_filename` points.

    Attributes:
        filename: The name as given (e.g. `my_plugin.py`, `my_pkg/`, `team/pkg`).
        path: The resolved plugin file, or package directory.
        is_package: True for a directory plugin (its entry point is `__init__.py`).
    """

    filename: str
    path: Path
    is_package: bool

    @property
    def entry_file(self) -> Path:
        """The file whose top level defines the entry function."""
        return self.path / PACKAGE_ENTRY_FILE if self.is_package else self.path


def safe_plugin_path(plugin_dir: str | os.PathLike[str] | None, relative: str) -> Path:
    """Join a relative path to the plugin directory, refusing anything that would leave it.

    Follows the reference server's check: no `..` component, no absolute path or Windows drive,
    and after resolving symlinks (of the deepest existing ancestor, for paths that do not exist
    yet) the result must still be inside the resolved plugin directory. The target need not exist.

    Args:
        plugin_dir: The plugin directory; it must exist.
        relative: The path inside it, `/`-separated.

    Returns:
        The resolved absolute path.

    Raises:
        NoPluginDirectory: `plugin_dir` is None.
        PluginPathError: The path is empty, absolute, has `..`, or leads outside.
    """
    if plugin_dir is None:
        raise NoPluginDirectory()
    _check_relative_form(relative)
    try:
        root = Path(plugin_dir).resolve(strict=True)
    except OSError as exc:
        raise PluginNotFound(relative, f"the plugin directory is unusable: {exc}") from None
    # resolve() follows every symlink that exists, including ones in the middle of the path.
    target = (root / relative).resolve(strict=False)
    if target != root and not target.is_relative_to(root):
        raise PluginPathError(relative, "it leads outside the plugin directory")
    return target


def _check_relative_form(relative: str) -> None:
    if not isinstance(relative, str) or not relative.strip():
        raise PluginPathError(str(relative), "it is empty")
    if "\0" in relative:
        raise PluginPathError(relative, "it contains a NUL character")
    if relative.startswith("gh:"):
        raise PluginPathError(
            relative, "plugins from the gh: repository are not fetched by this engine; "
            "download the file into the plugin directory"
        )
    windows = PureWindowsPath(relative)
    if PurePosixPath(relative).is_absolute() or windows.drive or windows.root:
        raise PluginPathError(relative, "it is an absolute path")
    if ".." in relative.replace("\\", "/").split("/"):
        raise PluginPathError(relative, "it has a '..' component")


def resolve_plugin(plugin_dir: str | os.PathLike[str] | None, filename: str) -> PluginLocation:
    """Find the plugin file or package that `plugin_filename` names (reference §6.1).

    A trailing `/` is ignored. A directory is a plugin only if it holds `__init__.py`.

    Raises:
        NoPluginDirectory: `plugin_dir` is None.
        PluginPathError: The name would leave the plugin directory (see `safe_plugin_path`).
        PluginNotFound: Nothing is there, or a directory lacks `__init__.py`.
    """
    trimmed = filename.rstrip("/") if isinstance(filename, str) else filename
    path = safe_plugin_path(plugin_dir, trimmed)
    if path == Path(plugin_dir or "").resolve():
        raise PluginPathError(filename, "it names the plugin directory itself")
    if path.is_dir():
        if not (path / PACKAGE_ENTRY_FILE).is_file():
            raise PluginNotFound(
                filename, f"a multi-file plugin directory must contain {PACKAGE_ENTRY_FILE}: {path}"
            )
        return PluginLocation(filename, path, is_package=True)
    if path.is_file():
        return PluginLocation(filename, path, is_package=False)
    raise PluginNotFound(filename, f"no such file or directory: {path}")


def read_plugin_source(location: PluginLocation) -> str:
    """The text of the plugin's entry file.

    Raises:
        PluginLoadError: It cannot be read or is not UTF-8.
    """
    try:
        return location.entry_file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PluginLoadError(location.filename, f"the file is not valid UTF-8 ({exc})") from None
    except OSError as exc:
        detail = f"cannot read {location.entry_file}: {exc}"
        raise PluginLoadError(location.filename, detail) from None


def check_entry_point(location: PluginLocation, name: str, signature: str) -> None:
    """Check, without importing the plugin, that its top level binds the entry function `name`.

    A `def`, a class, an assignment or an import of that name counts, also inside top-level
    `if`/`try`/`with` blocks. A star import (`from .impl import *`) might bind it, so it counts too.

    Args:
        location: The resolved plugin.
        name: The entry function, e.g. `process_writes`.
        signature: How it should be defined, quoted in the error.

    Raises:
        PluginContractError: Nothing binds `name`; the message quotes `signature`.
        PluginLoadError: The entry file cannot be read or has a syntax error.
    """
    source = read_plugin_source(location)
    try:
        tree = ast.parse(source, filename=str(location.entry_file))
    except SyntaxError as exc:
        raise PluginLoadError(
            location.filename, f"syntax error in {location.entry_file.name} at line {exc.lineno}: "
            f"{exc.msg}"
        ) from None
    bindings = top_level_bindings(tree.body)
    if name not in bindings and STAR not in bindings:
        where = f"{location.filename}/{PACKAGE_ENTRY_FILE}" if location.is_package else "the file"
        raise PluginContractError(
            location.filename, signature,
            f"the {name} function is not present in the plugin: nothing in {where} defines, "
            "assigns or imports it at the top level",
        )


STAR = "*"


def top_level_bindings(statements: Iterable[ast.stmt]) -> set[str]:
    """Names a module body binds at its top level; `*` stands for a star import."""
    names: set[str] = set()
    for statement in statements:
        names |= _statement_bindings(statement)
    return names


def _statement_bindings(statement: ast.stmt) -> set[str]:
    match statement:
        case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name) | ast.ClassDef(name=name):
            return {name}
        case ast.Assign(targets=targets):
            return {n for target in targets for n in _target_names(target)}
        case ast.AnnAssign(target=target, value=value) if value is not None:
            return _target_names(target)
        case ast.Import(names=aliases):
            return {alias.asname or alias.name.split(".")[0] for alias in aliases}
        case ast.ImportFrom(names=aliases):
            return {alias.asname or alias.name for alias in aliases}
    return top_level_bindings(_nested_blocks(statement))


def _nested_blocks(statement: ast.stmt) -> list[ast.stmt]:
    # Blocks that run at import time; function and class bodies do not.
    blocks: list[ast.stmt] = []
    for attribute in ("body", "orelse", "finalbody"):
        blocks.extend(getattr(statement, attribute, ()))
    for handler in getattr(statement, "handlers", ()):
        blocks.extend(handler.body)
    return blocks


def _target_names(target: ast.expr) -> set[str]:
    match target:
        case ast.Name(id=name):
            return {name}
        case ast.Tuple(elts=elements) | ast.List(elts=elements):
            return {n for element in elements for n in _target_names(element)}
        case ast.Starred(value=value):
            return _target_names(value)
    return set()
