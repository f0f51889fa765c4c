"""The plugin environment: made on first install, offline installs, no restart, refusals first."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from wheel_support import build_wheel, simple_index

from engine.errors import (
    InvalidEngineOption,
    InvalidPackageSpec,
    NoPluginDirectory,
    PackageInstallDisabled,
    PackageInstallFailed,
    PluginEnvironmentUnavailable,
)
from engine.loader import LoadedPlugin, PluginLoader
from engine.plugin_env import PluginEnvironment
from engine.plugin_imports import PLUGIN_SITES

ALPHA, BETA = "pe_envtest_alpha", "pe_envtest_beta"
GAMMA, DELTA = "pe_envtest_gamma", "pe_envtest_delta"


def _forget_modules() -> None:
    for name in (ALPHA, BETA, GAMMA, DELTA):
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A find-links folder: alpha needs beta; gamma stands alone. Delta lives only in an index."""
    folder = tmp_path_factory.mktemp("wheels")
    build_wheel(folder, BETA, "1.0", {f"{BETA}/__init__.py": "VALUE = 42\n"})
    build_wheel(folder, ALPHA, "1.0", {
        f"{ALPHA}/__init__.py": f"import {BETA}\n\ndef answer():\n    return {BETA}.VALUE\n",
    }, requires=[f"{BETA}>=1"])
    build_wheel(folder, GAMMA, "1.0", {f"{GAMMA}/__init__.py": "NAME = 'gamma'\n"})
    return folder


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory, wheels: Path,
                ) -> Iterator[PluginEnvironment]:
    """One environment for the module (creating one costs ~0.1 s, an install ~1 s), with alpha."""
    plugin_dir = tmp_path_factory.mktemp("plugins")
    env = PluginEnvironment(plugin_dir, find_links=[wheels])
    env.install([ALPHA])
    yield env
    PLUGIN_SITES.remove(env.site_directories())
    _forget_modules()


@pytest.fixture
def fresh(tmp_path: Path, wheels: Path) -> PluginEnvironment:
    """An environment that does not exist yet (so it shows whether anything ran)."""
    plugin_dir = tmp_path / "fresh-plugins"
    plugin_dir.mkdir()
    return PluginEnvironment(plugin_dir, find_links=[wheels])


@pytest.fixture
def loader(environment: PluginEnvironment, monkeypatch: pytest.MonkeyPatch,
           ) -> Iterator[PluginLoader]:
    monkeypatch.delenv("PLUGIN_DIR", raising=False)
    assert environment.plugin_dir is not None
    made = PluginLoader(environment.plugin_dir, builtins={})
    yield made
    for key in made.loaded_keys():
        made.unload(key)


def load(loader: PluginLoader, name: str, source: str) -> LoadedPlugin:
    (loader.plugin_dir / name).write_text(source)
    return loader.load(f"db/{name}", name)


def call(plugin: LoadedPlugin) -> object:
    function = plugin.function("f")
    assert function is not None
    return function()


def test_the_first_install_creates_the_environment_with_dependencies(
        environment: PluginEnvironment) -> None:
    assert environment.plugin_dir is not None
    assert environment.location == environment.plugin_dir / ".venv"
    assert environment.exists()
    site = environment.site_packages()
    assert site.is_relative_to(environment.location)
    assert (site / ALPHA / "__init__.py").is_file()
    assert (site / BETA / "__init__.py").is_file()


def test_a_plugin_imports_an_installed_package(loader: PluginLoader) -> None:
    source = f"import {ALPHA}\ndef f():\n    return {ALPHA}.answer()\n"
    plugin = load(loader, "uses_alpha.py", source)

    assert call(plugin) == 42


def test_a_package_installed_later_is_importable_without_a_restart(
        environment: PluginEnvironment, loader: PluginLoader) -> None:
    source = f"def f():\n    import {GAMMA}\n    return {GAMMA}.NAME\n"
    plugin = load(loader, "uses_gamma.py", source)
    with pytest.raises(ModuleNotFoundError):
        call(plugin)

    output = environment.install([f"{GAMMA}==1.0"])

    assert "Successfully installed" in output
    assert call(plugin) == "gamma"
    assert loader.get("db/uses_gamma.py").version == plugin.version  # same module, no reload


def test_the_host_does_not_see_installed_packages(environment: PluginEnvironment) -> None:
    sys.modules.pop(ALPHA, None)

    assert importlib.util.find_spec(ALPHA) is None
    with pytest.raises(ModuleNotFoundError):
        __import__(ALPHA)


def test_a_package_that_does_not_exist_fails_with_pips_message(
        environment: PluginEnvironment) -> None:
    with pytest.raises(PackageInstallFailed) as caught:
        environment.install(["pe-envtest-missing==1.0"])

    error = caught.value
    assert isinstance(error, ValueError)
    assert error.exit_status == 1
    assert "No matching distribution found for pe-envtest-missing==1.0" in str(error)


INJECTIONS = [
    ("index-url-option", "--index-url=https://evil.example/simple"),
    ("requirements-of-passwd", "-r /etc/passwd"),
    ("vcs", "git+https://github.com/influxdata/x"),
    ("relative-wheel", "../x.whl"),
    ("option-after-marker", 'pkg; os_name=="nt" --x'),
    ("url", "https://example.com/x-1.0-py3-none-any.whl"),
    ("two-names", "a b"),
    ("two-lines", "a\nb"),
    ("direct-reference", "x @ file:///etc/passwd"),
]


@pytest.mark.parametrize("spec", [s for _, s in INJECTIONS], ids=[i for i, _ in INJECTIONS])
def test_an_injection_is_refused_before_anything_runs(fresh: PluginEnvironment, spec: str) -> None:
    with pytest.raises(InvalidPackageSpec):
        fresh.install(["requests", spec])

    assert fresh.location is not None
    assert not fresh.location.exists()  # the environment is made by the first real install


@pytest.mark.parametrize("line", [s for _, s in INJECTIONS if "\n" not in s],
                         ids=[i for i, s in INJECTIONS if "\n" not in s])
def test_a_requirements_file_with_an_injection_is_refused_before_anything_runs(
        fresh: PluginEnvironment, line: str) -> None:
    assert fresh.plugin_dir is not None and fresh.location is not None
    (fresh.plugin_dir / "requirements.txt").write_text(f"{BETA}\n{line}\n")

    with pytest.raises(InvalidPackageSpec, match=r"requirements\.txt line 2"):
        fresh.install_requirements("requirements.txt")

    assert not fresh.location.exists()


def test_a_requirements_file_installs_its_checked_lines(environment: PluginEnvironment) -> None:
    assert environment.plugin_dir is not None
    (environment.plugin_dir / "requirements.txt").write_text(
        f"# for the plugins\n{BETA}==1.0   # pinned\n\n{GAMMA}\n")

    output = environment.install_requirements("requirements.txt")

    assert f"Requirement already satisfied: {BETA}==1.0" in output


def test_an_empty_requirements_file_installs_nothing(fresh: PluginEnvironment) -> None:
    assert fresh.plugin_dir is not None and fresh.location is not None
    (fresh.plugin_dir / "requirements.txt").write_text("# nothing yet\n\n")

    assert fresh.install_requirements("requirements.txt") == ""
    assert not fresh.location.exists()


def test_a_disabled_environment_refuses_installs_with_403_semantics(tmp_path: Path) -> None:
    env = PluginEnvironment(tmp_path, package_manager="disabled")
    (tmp_path / "requirements.txt").write_text("requests\n")

    for attempt in (lambda: env.install(["requests"]),
                    lambda: env.install_requirements("requirements.txt"), env.ensure):
        with pytest.raises(PackageInstallDisabled) as caught:
            attempt()
        assert isinstance(caught.value, PermissionError)
        assert "Package installation has been disabled" in str(caught.value)
    assert not env.activate()
    assert not (tmp_path / ".venv").exists()


def test_requirements_already_met_install_nothing(environment: PluginEnvironment) -> None:
    # Sharing the environment with installs disabled proves that no package manager runs.
    shared = PluginEnvironment(environment.plugin_dir, venv_dir=environment.location,
                               package_manager="disabled")

    assert shared.install_missing([f"{ALPHA}>=1", "packaging>=20", 'absent; python_version<"3"'],
                                  ) == ""
    with pytest.raises(PackageInstallDisabled):
        shared.install_missing([f"{ALPHA}>=1", "pe-envtest-missing"])


def test_unsatisfied_lists_what_plugins_could_not_import(environment: PluginEnvironment) -> None:
    wanted = [f"{ALPHA}>=1", f"{ALPHA}>=2", f"{ALPHA}[extra]", "packaging",
              'absent; python_version < "3"', "pe-envtest-missing"]

    assert environment.unsatisfied(wanted) == [f"{ALPHA}>=2", f"{ALPHA}[extra]",
                                               "pe-envtest-missing"]


def test_an_index_url_is_used_instead_of_find_links(
        environment: PluginEnvironment, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "index-wheels", DELTA, "2.0",
                        {f"{DELTA}/__init__.py": "VERSION = 2\n"})
    url = simple_index(tmp_path / "simple", [wheel])
    indexed = PluginEnvironment(environment.plugin_dir, venv_dir=environment.location,
                                index_url=url)

    indexed.install([DELTA])

    assert (environment.site_packages() / DELTA / "__init__.py").is_file()


def test_installs_take_turns(environment: PluginEnvironment) -> None:
    done = threading.Event()
    worker = threading.Thread(target=lambda: (environment.install([BETA]), done.set()))
    with environment._lock:  # as if another install were running
        worker.start()
        assert not done.wait(0.5)
    worker.join(60)
    assert done.is_set()


def test_an_unusable_location_fails_installs_not_start_up(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("not a virtual environment")
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    for location, reason in ((occupied, "not a virtual environment"),
                             (blocker / "venv", "creating it failed")):
        env = PluginEnvironment(tmp_path, venv_dir=location)
        assert env.activate() is False  # what an engine does at start-up: no error
        with pytest.raises(PluginEnvironmentUnavailable, match=reason):
            env.install(["requests"])


def test_without_a_plugin_dir_there_is_no_environment() -> None:
    env = PluginEnvironment(None)

    assert env.location is None
    assert env.activate() is False
    with pytest.raises(NoPluginDirectory):
        env.install(["requests"])
    with pytest.raises(NoPluginDirectory):
        env.install_requirements("requirements.txt")


def test_an_unknown_package_manager_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidEngineOption, match="package_manager"):
        PluginEnvironment(tmp_path, package_manager="conda")


def test_an_environment_made_by_another_python_is_used_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    location = tmp_path / "old-venv"
    site = location / "lib" / "python3.9" / "site-packages"
    site.mkdir(parents=True)
    (location / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.9.18\n")
    env = PluginEnvironment(tmp_path, venv_dir=location)

    try:
        with caplog.at_level("WARNING", logger="engine.plugin_env"):
            assert env.activate() is True
        assert env.site_directories() == [site]
        assert str(site) + "/" in PLUGIN_SITES.sites
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        assert f"made by Python 3.9.18 but the engine runs Python {running}" in caplog.text
    finally:
        PLUGIN_SITES.remove([site])
