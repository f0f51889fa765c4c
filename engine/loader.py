"""Plugin loading: one isolated, content-hashed, hot-reloadable module namespace per trigger."""

from __future__ import annotations

import builtins as _builtins_module
import hashlib
import importlib.abc
import importlib.util
import itertools
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from .clock import Clock, SystemClock, now_ns
from .errors import PluginLoadError, PluginNotFound, PluginNotLoaded
from .plugin_files import resolve_plugin

logger = logging.getLogger(__name__)

#: Every plugin module lives in `sys.modules` under this prefix and nowhere else.
SYNTHETIC_ROOT = "_pe_plugins"

# File timestamps come from a coarse kernel clock (up to ~10 ms per tick), so a file written
# within this window of our stat could change again without its stat changing: hash it next time.
_RACY_WINDOW_NS = 100_000_000

_build_numbers = itertools.count(1)
_Sig = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """One loaded version of a trigger's plugin; a reload replaces it, never changes it."""

    key: str
    filename: str
    path: Path
    is_package: bool
    module: ModuleType
    version: int
    files: Mapping[Path, str]
    loaded_at: datetime
    last_error: str | None = None

    def function(self, name: str) -> Callable[..., Any] | None:
        """The module-level callable called `name`, or None if there is none."""
        value = self.module.__dict__.get(name)
        return value if callable(value) else None


def _plugin_files(path: Path, is_package: bool) -> tuple[list[Path], list[Path]]:
    """The plugin's source files and, for a package, its directories (whose mtime shows adds)."""
    if not is_package:
        return [path], []
    files: list[Path] = []
    dirs: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirs.append(Path(dirpath))
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        files.extend(
            Path(dirpath, name) for name in sorted(filenames)
            if name.endswith(".py") and not name.startswith(".")
        )
    return files, dirs


def _stat_sig(path: str) -> _Sig:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The plugin's files as read once: their bytes, hashes and stat signatures."""

    sources: dict[Path, bytes]
    hashes: dict[Path, str]
    sigs: dict[str, _Sig]  # str keys: os.stat on a str skips a Path conversion per call


def _take_snapshot(path: Path, is_package: bool) -> _Snapshot:
    """Read every source file; stat before reading, so that a later write shows as a change."""
    files, dirs = _plugin_files(path, is_package)
    sigs = {str(item): _stat_sig(str(item)) for item in [*dirs, *files]}
    sources = {item: item.read_bytes() for item in files}
    hashes = {item: hashlib.sha256(data).hexdigest() for item, data in sources.items()}
    return _Snapshot(sources, hashes, sigs)


@dataclass(frozen=True, slots=True)
class _Build:
    """What the import hook needs to execute one version of one plugin."""

    name: str
    root: Path
    is_package: bool
    sources: Mapping[Path, bytes]
    builtins: dict[str, object]


class _PluginImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and executes plugin modules from a build's snapshot, never from `sys.path`.

    Executing the hashed bytes (not re-reading the file) keeps the running code equal to the
    recorded hash, writes no `__pycache__` into the plugin directory, and avoids bytecode caches
    keyed on whole-second mtimes that miss two same-sized saves within one second.
    """

    def __init__(self) -> None:
        self._builds: dict[str, _Build] = {}

    def add(self, build: _Build) -> None:
        self._builds[build.name] = build

    def remove(self, name: str) -> None:
        self._builds.pop(name, None)

    def _build_of(self, fullname: str) -> _Build | None:
        if not fullname.startswith(SYNTHETIC_ROOT + "."):
            return None
        return self._builds.get(".".join(fullname.split(".", 2)[:2]))

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """A spec for a submodule of a loaded directory plugin, found in its snapshot."""
        build = self._build_of(fullname)
        if build is None or not build.is_package or fullname == build.name:
            return None
        base = build.root.joinpath(*fullname.split(".")[2:])
        init = base / "__init__.py"
        if init in build.sources:
            return self.spec(fullname, init, package_dir=base)
        module_file = base.with_name(base.name + ".py")
        if module_file in build.sources:
            return self.spec(fullname, module_file, package_dir=None)
        return None

    def spec(self, fullname: str, origin: Path, *, package_dir: Path | None) -> ModuleSpec:
        """A file-located spec that this importer executes."""
        locations = None if package_dir is None else [str(package_dir)]
        spec = importlib.util.spec_from_file_location(
            fullname, origin, loader=self, submodule_search_locations=locations
        )
        if spec is None:  # only when the location is unusable, which ours never is
            raise ImportError(f"cannot make a module spec for {origin}", name=fullname)
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        """Use the default module object."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Run the snapshot's source with the plugin's own builtins (LineBuilder etc.)."""
        spec = module.__spec__
        build = None if spec is None else self._build_of(spec.name)
        if spec is None or build is None or spec.origin is None:
            raise ImportError(f"{module.__name__} is not a loaded plugin module")
        origin = Path(spec.origin)
        module.__dict__["__builtins__"] = build.builtins
        # dont_inherit: this module's `from __future__` flags must not leak into plugin code.
        code = compile(build.sources[origin], str(origin), "exec", dont_inherit=True)
        exec(code, module.__dict__)


_IMPORTER = _PluginImporter()
_install_lock = threading.Lock()


def _install_importer() -> None:
    with _install_lock:
        if _IMPORTER not in sys.meta_path:
            sys.meta_path.insert(0, _IMPORTER)
        # `from . import x` ends in `__import__("_pe_plugins.pN.x")`, which needs the root.
        if SYNTHETIC_ROOT not in sys.modules:
            root = ModuleType(SYNTHETIC_ROOT, "Parent of every loaded plugin module.")
            root.__path__ = []
            sys.modules[SYNTHETIC_ROOT] = root


def _plugin_traceback(exc: BaseException, files: Iterable[Path]) -> str:
    """The traceback from the first plugin frame on, without the loader's own frames."""
    names = {str(item) for item in files}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in names:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


@dataclass(eq=False)
class _Entry:
    """A trigger's loader state; `plugin` is swapped whole, so readers need no lock."""

    plugin: LoadedPlugin
    build: _Build
    sigs: dict[str, _Sig]
    racy: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    dirty: bool = False
    failed: Mapping[Path, str] | None = None


class PluginLoader:
    """Loads each trigger's plugin into its own namespace and reloads it when its files change.

    Every version of every plugin gets a fresh synthetic module name under `_pe_plugins.`, so two
    triggers on the same file share nothing, two packages with the same name never collide, and
    nothing is added to the host's modules or to the real `builtins`. Creating a loader sets the
    process-wide environment variable `PLUGIN_DIR` (unless it is already set), because real
    plugins read their config files from there.

    With `watching` off, `get` notices changes itself: it stats the files on every call and hashes
    them only when a stat changed. With `watching` on, a `PluginWatcher` calls `mark_changed`.
    """

    def __init__(
        self,
        plugin_dir: Path,
        *,
        builtins: Mapping[str, object],
        clock: Clock | None = None,
        watching: bool = False,
    ) -> None:
        self.plugin_dir = Path(plugin_dir).resolve()
        self.watching = watching
        self._injected = dict(builtins)
        self._clock: Clock = clock or SystemClock()
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        os.environ.setdefault("PLUGIN_DIR", str(self.plugin_dir))
        _install_importer()

    def load(self, key: str, plugin_filename: str) -> LoadedPlugin:
        """Load a plugin for one trigger, replacing whatever that key had before.

        Args:
            key: Unique per trigger, e.g. `f"{db}/{trigger}"`.
            plugin_filename: A file or package directory relative to the plugin directory.

        Returns:
            The loaded plugin.

        Raises:
            PluginPathError: The name leaves the plugin directory.
            PluginNotFound: There is no such plugin.
            PluginLoadError: Importing it raised; the message carries the traceback. A plugin
                already loaded under `key` stays loaded.
        """
        location = resolve_plugin(self.plugin_dir, plugin_filename)
        path, is_package = location.path, location.is_package
        try:
            snapshot = _take_snapshot(path, is_package)
        except OSError as exc:
            raise PluginNotFound(plugin_filename, str(exc)) from exc
        build, module = self._build(key, plugin_filename, path, is_package, snapshot)
        with self._lock:
            previous = self._entries.get(key)
            version = 1 if previous is None else previous.plugin.version + 1
            plugin = LoadedPlugin(
                key=key, filename=plugin_filename, path=path, is_package=is_package,
                module=module, version=version, files=MappingProxyType(snapshot.hashes),
                loaded_at=self._clock.now(),
            )
            racy = self._is_racy(snapshot.sigs)
            self._entries[key] = _Entry(plugin, build, snapshot.sigs, racy)
        if previous is not None:
            with previous.lock:  # waits for a reload in flight, so its build is discarded too
                _discard(previous.build)
        return plugin

    def get(self, key: str) -> LoadedPlugin:
        """The current version of a trigger's plugin, reloaded first if its files changed.

        While another thread is reloading the same plugin, this returns the version still in
        use rather than waiting, so a caller never sees a half-initialised module.

        Raises:
            PluginNotLoaded: Nothing is loaded under `key`.
        """
        entry = self._entries.get(key)
        if entry is None:
            raise PluginNotLoaded(key)
        if self.watching and not entry.dirty:
            return entry.plugin
        if not entry.lock.acquire(blocking=False):
            return entry.plugin
        try:
            self._refresh(entry)
        finally:
            entry.lock.release()
        return entry.plugin

    def unload(self, key: str) -> None:
        """Forget a trigger's plugin and remove its modules from `sys.modules` (no-op if absent)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            with entry.lock:
                _discard(entry.build)

    def loaded_keys(self) -> list[str]:
        """The keys that have a plugin loaded."""
        with self._lock:
            return list(self._entries)

    def mark_changed(self, paths: Iterable[Path]) -> None:
        """Note that files changed; plugins using them are re-hashed on their next `get`."""
        changed = [Path(item) for item in paths]
        changed = [item for item in changed if "__pycache__" not in item.parts]
        with self._lock:
            entries = list(self._entries.values())
        for entry in entries:
            plugin = entry.plugin
            if any(_affects(plugin.path, plugin.is_package, item) for item in changed):
                entry.dirty = True

    def _refresh(self, entry: _Entry) -> None:
        """Reload `entry` if its content differs from the version in use; caller holds its lock."""
        entry.dirty = False
        plugin = entry.plugin
        if not self.watching and not entry.racy and _sigs_unchanged(entry.sigs):
            return
        try:
            snapshot = _take_snapshot(plugin.path, plugin.is_package)
        except OSError as exc:
            # Editors briefly remove the file (vim renames it away); the next event retries.
            logger.debug("plugin %s not readable right now: %s", plugin.filename, exc)
            return
        entry.sigs = snapshot.sigs
        entry.racy = self._is_racy(snapshot.sigs)
        if snapshot.hashes == plugin.files:
            if plugin.last_error is not None:
                entry.plugin = replace(plugin, last_error=None)
            entry.failed = None
        elif snapshot.hashes != entry.failed:
            self._reload(entry, snapshot)

    def _reload(self, entry: _Entry, snapshot: _Snapshot) -> None:
        plugin = entry.plugin
        try:
            build, module = self._build(
                plugin.key, plugin.filename, plugin.path, plugin.is_package, snapshot
            )
        except PluginLoadError as error:
            entry.failed = snapshot.hashes
            entry.plugin = replace(plugin, last_error=error.detail)
            logger.error(
                "plugin %s (%s) failed to reload; version %d keeps running:\n%s",
                plugin.filename, plugin.key, plugin.version, error.detail,
            )
            return
        old_build, entry.build, entry.failed = entry.build, build, None
        entry.plugin = replace(
            plugin, module=module, version=plugin.version + 1,
            files=MappingProxyType(snapshot.hashes), loaded_at=self._clock.now(), last_error=None,
        )
        _discard(old_build)
        logger.info("plugin %s (%s) reloaded as version %d",
                    plugin.filename, plugin.key, plugin.version + 1)

    def _build(
        self, key: str, filename: str, path: Path, is_package: bool, snapshot: _Snapshot
    ) -> tuple[_Build, ModuleType]:
        """Import one version under a fresh synthetic name; fully, or not at all."""
        name = f"{SYNTHETIC_ROOT}.p{next(_build_numbers)}_{_sanitize(key)}"
        namespace = dict(vars(_builtins_module))
        namespace.update(self._injected)
        build = _Build(name, path, is_package, snapshot.sources, namespace)
        _IMPORTER.add(build)
        origin = path / "__init__.py" if is_package else path
        spec = _IMPORTER.spec(name, origin, package_dir=path if is_package else None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            _IMPORTER.exec_module(module)
        except BaseException as exc:  # a plugin raising KeyboardInterrupt must not reach the host
            _discard(build)
            raise PluginLoadError(filename, _plugin_traceback(exc, snapshot.sources)) from exc
        return build, module

    def _is_racy(self, sigs: Mapping[str, _Sig]) -> bool:
        now = now_ns(self._clock)
        # ctime, not mtime: tools may set mtime to the past, but any change sets ctime to now.
        return any(now - sig[3] < _RACY_WINDOW_NS for sig in sigs.values())


def _sigs_unchanged(sigs: Mapping[str, _Sig]) -> bool:
    try:
        return all(_stat_sig(item) == sig for item, sig in sigs.items())
    except OSError:
        return False


def _affects(plugin_path: Path, is_package: bool, changed: Path) -> bool:
    if changed == plugin_path:
        return True
    return is_package and changed.is_relative_to(plugin_path)


def _sanitize(key: str) -> str:
    return re.sub(r"\W", "_", key)[:48] or "plugin"


def _discard(build: _Build) -> None:
    """Drop a build's modules from `sys.modules` and its snapshot from the import hook."""
    _IMPORTER.remove(build.name)
    prefix = build.name + "."
    for name in list(sys.modules):
        if name == build.name or name.startswith(prefix):
            sys.modules.pop(name, None)
