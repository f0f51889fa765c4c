"""Plugin-only imports: plugin environment packages are found for plugin code, not the host."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from importlib.machinery import ModuleSpec, PathFinder
from importlib.metadata import Distribution, DistributionFinder, MetadataPathFinder
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from .loader import SYNTHETIC_ROOT

#: Modules whose `__name__` starts like this are plugin code (see `engine.loader`).
PLUGIN_MODULE_PREFIX = SYNTHETIC_ROOT + "."
_ALL_DISTRIBUTIONS = DistributionFinder.Context()


def plugin_code_running(sites: tuple[str, ...], frame: FrameType | None = None) -> bool:
    """Whether the calling thread is running plugin code, at any depth of its stack.

    Plugin code is a plugin module (synthetic name under `_pe_plugins.`) or code loaded from one
    of `sites` (a plugin environment package, e.g. in a thread it started). Library code called
    by a plugin counts too, since the plugin frame is further up the stack: `pandas.read_excel`
    importing the `openpyxl` a plugin installed finds it.

    Args:
        sites: Site directories, each ending with the path separator.
        frame: Where to start looking; the caller's frame by default.
    """
    current: FrameType | None = frame if frame is not None else sys._getframe(1)
    while current is not None:
        name = current.f_globals.get("__name__")
        if isinstance(name, str) and name.startswith(PLUGIN_MODULE_PREFIX):
            return True
        if sites and current.f_code.co_filename.startswith(sites):
            return True
        current = current.f_back
    return False


class PluginSitePackages(DistributionFinder):
    """A `sys.meta_path` finder over the site-packages of plugin environments.

    It sits at the end of `sys.meta_path`, so the host's own packages always win, and it answers
    only while plugin code is running: a plugin can import what was installed for it, without a
    restart, while the host's `import x` cannot see it (until a plugin has imported `x`, which then
    sits in `sys.modules` like any module). `.pth` files in the environment are not processed.
    """

    def __init__(self) -> None:
        self._sites: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @property
    def sites(self) -> tuple[str, ...]:
        """The site directories searched, each with a trailing separator, in the order added."""
        return self._sites

    def add(self, directories: Iterable[Path]) -> bool:
        """Search these site directories too; returns whether any was new."""
        with self._lock:
            new = [_as_prefix(d) for d in directories if _as_prefix(d) not in self._sites]
            self._sites = (*self._sites, *dict.fromkeys(new))
            return bool(new)

    def remove(self, directories: Iterable[Path]) -> None:
        """Stop searching these site directories (modules already imported stay imported)."""
        gone = {_as_prefix(d) for d in directories}
        with self._lock:
            self._sites = tuple(site for site in self._sites if site not in gone)

    def find_spec(self, fullname: str, path: Any = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        """A spec for a top-level module in a plugin environment, for plugin code only.

        Submodules need no help: they are found through their package's `__path__`.
        """
        sites = self._sites
        if path is not None or not sites or not plugin_code_running(sites, sys._getframe(1)):
            return None
        return PathFinder.find_spec(fullname, [site.rstrip(os.sep) for site in sites], target)

    def find_distributions(
        self, context: DistributionFinder.Context = _ALL_DISTRIBUTIONS,
    ) -> Iterator[Distribution]:
        """Distributions of the plugin environments, for `importlib.metadata` calls by plugins."""
        sites = self._sites
        if not sites or context.path is not sys.path:
            return iter(())
        if not plugin_code_running(sites, sys._getframe(1)):
            return iter(())
        scoped = DistributionFinder.Context(
            name=context.name, path=[site.rstrip(os.sep) for site in sites])
        return iter(MetadataPathFinder.find_distributions(scoped))


def _as_prefix(directory: Path) -> str:
    return str(Path(directory).absolute()).rstrip(os.sep) + os.sep


#: The one finder of this process; every engine's environment registers its site directories here.
PLUGIN_SITES = PluginSitePackages()
_install_lock = threading.Lock()


def install_plugin_sites() -> PluginSitePackages:
    """Put `PLUGIN_SITES` at the end of `sys.meta_path` (once) and return it."""
    with _install_lock:
        if PLUGIN_SITES not in sys.meta_path:
            sys.meta_path.append(PLUGIN_SITES)
    return PLUGIN_SITES


def installed_version(name: str, sites: Iterable[Path]) -> str | None:
    """The version of distribution `name` a plugin would import: the host's, else the sites'."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    paths = [str(site) for site in sites]
    if not paths:
        return None
    context = DistributionFinder.Context(name=name, path=paths)
    for distribution in MetadataPathFinder.find_distributions(context):
        return str(distribution.version)
    return None
