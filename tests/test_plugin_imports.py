"""Plugin-only imports: plugin code finds plugin environment packages; the host never does."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.loader import LoadedPlugin, PluginLoader
from engine.plugin_imports import (
    PLUGIN_SITES,
    install_plugin_sites,
    installed_version,
    plugin_code_running,
)

PROBE = "pe_imports_probe"
HELPER = "pe_imports_helper"
SITE_MODULES = (PROBE, f"{PROBE}.sub", HELPER)


def _forget_site_modules() -> None:
    for name in SITE_MODULES:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages folder registered with the plugin finder, like an installed environment."""
    monkeypatch.delenv("PLUGIN_DIR", raising=False)
    site = tmp_path / "site-packages"
    package = site / PROBE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 'from the plugin environment'\n")
    (package / "sub.py").write_text(f"import {HELPER}\nHELPER = {HELPER}.NAME\n")
    (site / f"{HELPER}.py").write_text("NAME = 'helper'\n")
    (site / "croniter").mkdir()
    (site / "croniter" / "__init__.py").write_text("SHADOW = True\n")
    metadata = site / "pe_imports_probe-1.2.3.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pe-imports-probe\nVersion: 1.2.3\n")
    _forget_site_modules()
    install_plugin_sites().add([site])
    yield site
    PLUGIN_SITES.remove([site])
    _forget_site_modules()


@pytest.fixture
def loader(plugin_dir: Path) -> Iterator[PluginLoader]:
    made = PluginLoader(plugin_dir, builtins={})
    yield made
    for key in made.loaded_keys():
        made.unload(key)


def load(loader: PluginLoader, source: str) -> LoadedPlugin:
    (loader.plugin_dir / "plugin.py").write_text(source)
    return loader.load("db/trigger", "plugin.py")


def call(plugin: LoadedPlugin, name: str = "f") -> object:
    function = plugin.function(name)
    assert function is not None
    return function()


def test_a_plugin_imports_an_environment_package_at_import_time(
        site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, f"import {PROBE}\ndef f():\n    return {PROBE}.VALUE\n")

    assert call(plugin) == "from the plugin environment"


def test_the_host_does_not_see_environment_packages(site: Path) -> None:
    assert importlib.util.find_spec(PROBE) is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(HELPER)
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("pe-imports-probe")


def test_the_hosts_own_packages_are_never_shadowed(site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, "import croniter\ndef f():\n    return croniter\n")

    module = call(plugin)

    assert module is sys.modules["croniter"]
    assert not hasattr(module, "SHADOW")


def test_environment_packages_import_their_own_dependencies(
        site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, f"from {PROBE} import sub\ndef f():\n    return sub.HELPER\n")

    assert call(plugin) == "helper"


def test_a_lazy_import_inside_a_plugin_function_works_at_call_time(
        site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, f"def f():\n    import {HELPER}\n    return {HELPER}.NAME\n")

    assert call(plugin) == "helper"


def test_library_code_called_by_a_plugin_finds_environment_packages(
        site: Path, loader: PluginLoader) -> None:
    # importlib (host code) does the import here, as pandas does for its optional engines.
    plugin = load(loader, f"import importlib\ndef f():\n"
                          f"    return importlib.import_module('{HELPER}').NAME\n")

    assert call(plugin) == "helper"


def test_a_thread_started_by_a_plugin_finds_environment_packages(
        site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, (
        "import threading\n"
        "def work(out):\n"
        f"    import {PROBE}\n"
        f"    out.append({PROBE}.VALUE)\n"
        "def f():\n"
        "    out = []\n"
        "    thread = threading.Thread(target=work, args=(out,))\n"
        "    thread.start()\n"
        "    thread.join()\n"
        "    return out\n"
    ))

    assert call(plugin) == ["from the plugin environment"]


def test_plugins_see_environment_distributions_in_importlib_metadata(
        site: Path, loader: PluginLoader) -> None:
    plugin = load(loader, "import importlib.metadata\ndef f():\n"
                          "    return importlib.metadata.version('pe-imports-probe')\n")

    assert call(plugin) == "1.2.3"


def test_a_removed_site_is_no_longer_searched(site: Path, loader: PluginLoader) -> None:
    PLUGIN_SITES.remove([site])
    plugin = load(loader, f"def f():\n    import {HELPER}\n")

    with pytest.raises(ModuleNotFoundError):
        call(plugin)


def test_adding_a_site_twice_changes_nothing(site: Path) -> None:
    before = PLUGIN_SITES.sites

    assert PLUGIN_SITES.add([site]) is False
    assert PLUGIN_SITES.sites == before
    assert sys.meta_path.count(PLUGIN_SITES) == 1
    assert sys.meta_path[-1] is PLUGIN_SITES or sys.meta_path.index(PLUGIN_SITES) > 0


def test_code_loaded_from_a_site_counts_as_plugin_code(site: Path) -> None:
    sites = PLUGIN_SITES.sites
    code = compile("result = check(sites)", str(site / "somewhere.py"), "exec")
    namespace = {"__name__": "somewhere", "check": plugin_code_running, "sites": sites}

    exec(code, namespace)

    assert namespace["result"] is True
    assert plugin_code_running(sites) is False


@pytest.mark.parametrize(("name", "expected"), [
    ("packaging", importlib.metadata.version("packaging")),
    ("pe-imports-probe", "1.2.3"),
    ("pe_imports_probe", "1.2.3"),
    ("pe-imports-nowhere", None),
], ids=["host", "site", "site-normalised-name", "missing"])
def test_installed_version_prefers_the_host_then_the_sites(
        site: Path, name: str, expected: str | None) -> None:
    assert installed_version(name, [site]) == expected
