"""Writing plugin files: atomic file create/overwrite and whole-directory replacement, path-safe."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import cast

from .catalog import TriggerDefinition
from .durable import fsync_directory
from .errors import (
    InvalidPluginFiles,
    NoPluginDirectory,
    NotADirectoryPlugin,
    PluginNotFound,
    PluginPathError,
)
from .plugin_files import PACKAGE_ENTRY_FILE, resolve_plugin, safe_plugin_path

logger = logging.getLogger(__name__)

#: The previous version of a replaced plugin directory is kept beside it under this name
#: (`.<name>.previous`) until the next replacement, so a reader that opened the old directory
#: can finish reading it, and an operator can roll back by hand.
PREVIOUS_SUFFIX = ".previous"
MAX_DIRECTORY_FILES = 10_000


def trigger_plugin(triggers: Iterable[TriggerDefinition], trigger_name: str) -> TriggerDefinition:
    """The first trigger called `trigger_name`, in any database (the reference's lookup).

    Raises:
        PluginNotFound: No trigger has that name.
    """
    for trigger in triggers:
        if trigger.trigger_name == trigger_name:
            return trigger
    raise PluginNotFound(
        trigger_name, "no trigger has that name in any database (the update calls take a "
        "trigger name; create a new plugin file with POST /api/v3/plugins/files)")


class PluginStore:
    """Creates and replaces plugin files inside the plugin directory.

    Every write is atomic (temporary file, fsync, rename, fsync of the folder), and every path is
    checked before anything is written: `..`, absolute paths, drive letters, NUL bytes,
    backslashes and symlinks leading out of the plugin directory are refused.
    """

    def __init__(self, plugin_dir: str | os.PathLike[str] | None, *,
                 atomic_exchange: bool = False) -> None:
        """Write inside `plugin_dir`.

        Args:
            plugin_dir: The plugin directory, or None (every write raises `NoPluginDirectory`).
            atomic_exchange: Swap directories with one atomic exchange (Linux), so the path never
                goes missing. Leave it off while a watchdog observer watches the plugin
                directory: watchdog (up to 7.x) keeps tracking the exchanged folders under each
                other's names, so later edits would be reported for the wrong path.
        """
        self.plugin_dir = Path(plugin_dir).resolve() if plugin_dir is not None else None
        self.atomic_exchange = atomic_exchange
        self._lock = threading.Lock()

    def create_file(self, plugin_name: str, content: str | bytes) -> Path:
        """Write `content` to `plugin_name` (relative to the plugin directory), creating folders.

        An existing file is overwritten, as the reference server does.

        Returns:
            The file written.

        Raises:
            NoPluginDirectory: The engine has no plugin directory.
            PluginPathError: The path is unsafe, names a directory, or crosses a file.
            InvalidPluginFiles: `content` is not text.
        """
        data = _encode(plugin_name, content)
        target = self._target(plugin_name)
        if target.is_dir() or plugin_name.endswith("/"):
            raise PluginPathError(plugin_name, "it names a directory, not a file")
        with self._lock:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise PluginPathError(plugin_name, "a folder on its path is a file") from None
            self._target(plugin_name)  # again: a folder made above must not have become a link
            atomic_write(target, data)
        return target

    def replace_file(self, plugin_filename: str, content: str | bytes) -> Path:
        """Overwrite a trigger's plugin file, or its package's `__init__.py`.

        Raises:
            NoPluginDirectory, PluginPathError: As `create_file`.
            PluginNotFound: The plugin does not exist.
        """
        data = _encode(plugin_filename, content)
        location = resolve_plugin(self._root(), plugin_filename)
        with self._lock:
            atomic_write(location.entry_file, data)
        return location.entry_file

    def replace_directory(self, plugin_filename: str, files: Sequence[Mapping[str, object]],
                          *, trigger: str = "") -> Path:
        """Replace a plugin package with exactly `files`, atomically.

        The new tree is built and fsynced in a hidden sibling folder, then renamed into place:
        the path always names a complete version, old or new (with two renames it is absent for
        the microseconds between them; with `atomic_exchange` on Linux, never). The previous
        version is kept as `.<name>.previous` until the next replacement.

        Args:
            plugin_filename: The trigger's plugin directory, relative to the plugin directory.
            files: `{"relative_path" (or "path"): str, "content": str}` entries; one must be
                `__init__.py`. Files not listed are gone afterwards.
            trigger: The trigger's name, for error messages.

        Raises:
            NoPluginDirectory, PluginPathError: As `create_file` (also for each file's path).
            NotADirectoryPlugin: The plugin is a single file.
            InvalidPluginFiles: The list is malformed, has duplicates or lacks `__init__.py`.
        """
        name = plugin_filename.rstrip("/") if isinstance(plugin_filename, str) else plugin_filename
        target = self._target(name)
        if target.is_file():
            raise NotADirectoryPlugin(trigger or name, plugin_filename)
        entries = checked_entries(plugin_filename, files)
        staging = _sibling(target, f"new-{secrets.token_hex(4)}")
        with self._lock:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                build_tree(staging, entries)
                swap_in(staging, target, use_exchange=self.atomic_exchange)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        return target

    def _root(self) -> Path:
        if self.plugin_dir is None:
            raise NoPluginDirectory()
        return self.plugin_dir

    def _target(self, relative: str) -> Path:
        check_member_path(relative, relative)
        target = safe_plugin_path(self._root(), relative)
        if target == self._root():
            raise PluginPathError(relative, "it names the plugin directory itself")
        return target


def check_member_path(shown: str, relative: object) -> PurePosixPath:
    """Check a `/`-separated relative path before anything is written; returns it normalised.

    Raises:
        PluginPathError: Not a string, empty, absolute, a drive, `..`, NUL, or a backslash.
    """
    if not isinstance(relative, str) or not relative.strip("/ "):
        raise PluginPathError(str(relative), "it is empty or not a string")
    if "\0" in relative:
        raise PluginPathError(shown, "it contains a NUL character")
    if "\\" in relative:
        raise PluginPathError(shown, "it contains a backslash; separate folders with /")
    windows = PureWindowsPath(relative)
    if relative.startswith("/") or windows.drive or windows.root:
        raise PluginPathError(shown, "it is an absolute path")
    path = PurePosixPath(relative)
    if ".." in path.parts:
        raise PluginPathError(shown, "it has a '..' component")
    if not path.parts:
        raise PluginPathError(shown, "it names no file")
    return path


def checked_entries(plugin: str, files: object) -> dict[PurePosixPath, bytes]:
    """The files of a directory replacement, every path and content checked.

    Raises:
        PluginPathError: A path is unsafe.
        InvalidPluginFiles: Malformed entries, duplicate or clashing paths, no `__init__.py`.
    """
    if isinstance(files, str | bytes | Mapping) or not isinstance(files, Sequence):
        raise InvalidPluginFiles(plugin, "files must be a list")
    if len(files) > MAX_DIRECTORY_FILES:
        raise InvalidPluginFiles(plugin, f"more than {MAX_DIRECTORY_FILES} files")
    entries: dict[PurePosixPath, bytes] = {}
    for index, item in enumerate(files):
        if not isinstance(item, Mapping):
            raise InvalidPluginFiles(plugin, f"files[{index}] is not an object")
        relative = item.get("relative_path", item.get("path"))
        path = check_member_path(str(relative), relative)
        if path in entries:
            raise InvalidPluginFiles(plugin, f"{str(path)!r} is listed twice")
        entries[path] = _encode(str(path), item.get("content"), plugin)
    folders = {parent for path in entries for parent in path.parents}
    clash = sorted(str(path) for path in entries if path in folders)
    if clash:
        raise InvalidPluginFiles(plugin, f"{clash[0]!r} is both a file and a folder")
    if PurePosixPath(PACKAGE_ENTRY_FILE) not in entries:
        raise InvalidPluginFiles(plugin, f"there is no top-level {PACKAGE_ENTRY_FILE}")
    return entries


def build_tree(root: Path, entries: Mapping[PurePosixPath, bytes]) -> None:
    """Write `entries` under a new folder `root`, everything fsynced."""
    root.mkdir()
    folders = {root}
    for relative, data in entries.items():
        path = root.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        folders.update(parent for parent in path.parents if parent.is_relative_to(root))
        with open(path, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    for folder in sorted(folders, key=lambda item: len(item.parts), reverse=True):
        fsync_folder(folder)


def swap_in(staging: Path, target: Path, *, use_exchange: bool = False) -> None:
    """Put the complete tree `staging` at `target`; the old one becomes `.<name>.previous`."""
    previous = _sibling(target, PREVIOUS_SUFFIX.lstrip("."))
    if previous.exists():
        discard = _sibling(target, f"old-{secrets.token_hex(4)}")
        os.rename(previous, discard)
        shutil.rmtree(discard, ignore_errors=True)
    if not target.exists():
        os.rename(staging, target)
    elif use_exchange and exchange(staging, target):
        os.rename(staging, previous)  # staging now holds the old version
    else:
        os.rename(target, previous)
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(previous, target)
            raise
    fsync_folder(target.parent)


def exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths with Linux `renameat2(RENAME_EXCHANGE)`.

    Returns:
        False when the platform or file system cannot (the caller falls back to renames).
    """
    function = _renameat2()
    if function is None:
        return False
    if function(-100, os.fsencode(first), -100, os.fsencode(second), 2) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None
    if function is None:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(Callable[..., int], function)


def atomic_write(target: Path, data: bytes) -> None:
    """Replace `target` with `data`: temporary file, fsync, rename, fsync of the folder.

    An existing file keeps its permission bits.
    """
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def fsync_folder(path: Path) -> None:
    """Make a folder's entries durable; best effort (folders cannot be opened everywhere)."""
    try:
        fsync_directory(path)
    except OSError as exc:
        logger.debug("fsync of folder %s failed: %s", path, exc)


def _sibling(target: Path, tag: str) -> Path:
    return target.with_name(f".{target.name}.{tag}")


def _encode(name: str, content: object, plugin: str = "") -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes):
        return content
    raise InvalidPluginFiles(plugin or name, f"the content of {name!r} is not text")
