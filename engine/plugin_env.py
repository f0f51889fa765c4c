"""The plugin environment: a virtual environment for plugin packages, and installing into it."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from .errors import (
    InvalidEngineOption,
    NoPluginDirectory,
    PackageInstallDisabled,
    PackageInstallFailed,
    PluginEnvironmentUnavailable,
)
from .plugin_imports import install_plugin_sites, installed_version
from .requirements import check_requirements, raw_specs, read_requirements_file

logger = logging.getLogger(__name__)

PACKAGE_MANAGERS = ("discover", "pip", "uv", "disabled")
DEFAULT_VENV_NAME = ".venv"
DEFAULT_INSTALL_TIMEOUT = 900.0
_OUTPUT_TAIL = 4_000
# pip would put packages somewhere else than the environment with these set.
_REDIRECTING_PIP_VARIABLES = ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_PYTHON")
_WINDOWS = os.name == "nt"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(location: Path | None) -> threading.Lock:
    # One lock per environment directory, so two engines sharing one also take turns.
    key = str(location)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


@functools.cache
def host_pip_can_target() -> bool:
    """Whether the engine's own pip can install into another interpreter (`--python`, 22.3+)."""
    if importlib.util.find_spec("pip") is None:
        return False
    try:
        return Version(importlib.metadata.version("pip")) >= Version("22.3")
    except (importlib.metadata.PackageNotFoundError, InvalidVersion):
        return False


class PluginEnvironment:
    """A virtual environment whose packages plugins can import (and the host cannot).

    Created on first need: the first install, never at start-up, so an unusable location only
    makes installs fail (`PluginEnvironmentUnavailable`). Installs are synchronous and take
    turns. Packages become importable by plugins as soon as an install returns.

    Creating the environment with `--without-pip` and installing with the engine's own pip
    (`pip --python <venv python>`) takes about 0.1 s instead of 5-7 s for bootstrapping pip into
    it; without a usable host pip, the environment gets its own pip.
    """

    def __init__(
        self,
        plugin_dir: str | os.PathLike[str] | None,
        *,
        venv_dir: str | os.PathLike[str] | None = None,
        package_manager: str = "discover",
        index_url: str | None = None,
        find_links: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
        allow_unsafe: bool = False,
        timeout: float = DEFAULT_INSTALL_TIMEOUT,
    ) -> None:
        """Describe the environment; nothing is created or run here.

        Args:
            plugin_dir: The plugin directory (requirements files live there), or None.
            venv_dir: Where the environment lives; default `<plugin_dir>/.venv`.
            package_manager: `discover` (pip, else uv), `pip`, `uv` (pip when uv is missing), or
                `disabled` (installs raise `PackageInstallDisabled`).
            index_url: Package index to install from instead of pip's configured one.
            find_links: Directories of wheels; without `index_url` they are the only source.
            allow_unsafe: Pass package specifications to pip unchecked (options, URLs, paths).
            timeout: Seconds an install may take before it is stopped and reported as failed.
        """
        if package_manager not in PACKAGE_MANAGERS:
            raise InvalidEngineOption("package_manager", package_manager,
                                      "one of " + ", ".join(map(repr, PACKAGE_MANAGERS)))
        self.plugin_dir = Path(plugin_dir) if plugin_dir is not None else None
        self.location = _location(self.plugin_dir, venv_dir)
        self.package_manager = package_manager
        self.index_url = index_url
        self.find_links = _paths(find_links)
        self.allow_unsafe = allow_unsafe
        self.timeout = timeout
        self._lock = _lock_for(self.location)

    @property
    def enabled(self) -> bool:
        """False when package installation is switched off."""
        return self.package_manager != "disabled"

    def exists(self) -> bool:
        """Whether the virtual environment has been created."""
        return self.location is not None and (self.location / "pyvenv.cfg").is_file()

    def python(self) -> Path:
        """The environment's interpreter (which need not exist yet)."""
        location = self._require_location()
        return location / ("Scripts/python.exe" if _WINDOWS else "bin/python")

    def site_packages(self) -> Path:
        """The environment's site-packages directory (which need not exist yet)."""
        return self.site_directories()[0]

    def site_directories(self) -> list[Path]:
        """Where installed packages go: purelib, then platlib when it differs."""
        base = str(self._require_location())
        scheme = "nt" if _WINDOWS else "posix_prefix"
        paths = [Path(sysconfig.get_path(kind, scheme, vars={"base": base, "platbase": base}))
                 for kind in ("purelib", "platlib")]
        if not paths[0].is_dir():
            # An environment made by another Python version has another lib/pythonX.Y.
            paths = sorted(Path(base).glob("lib/python3*/site-packages")) or paths
        return list(dict.fromkeys(paths))

    def activate(self) -> bool:
        """Make the environment's packages importable by plugins (idempotent, never raises).

        Returns:
            Whether an environment is active (False when disabled or not created yet).
        """
        if not self.enabled or not self.exists():
            return False
        try:
            sites = [path for path in self.site_directories() if path.is_dir()]
        except OSError as exc:
            logger.warning("plugin environment %s is not usable: %s", self.location, exc)
            return False
        if install_plugin_sites().add(sites):
            logger.info("plugin environment %s active: %s", self.location,
                        ", ".join(map(str, sites)))
            self._warn_on_other_python()
        importlib.invalidate_caches()
        return True

    def ensure(self) -> Path:
        """Create the environment if it does not exist yet; returns its interpreter.

        Raises:
            PackageInstallDisabled: Installation is switched off.
            NoPluginDirectory: There is neither a plugin directory nor a `venv_dir`.
            PluginEnvironmentUnavailable: It cannot be created or is not a usable environment.
        """
        if not self.enabled:
            raise PackageInstallDisabled()
        with self._lock:
            return self._ensure_locked()

    def install(self, packages: Sequence[str]) -> str:
        """Install packages given as PEP 508 requirements; returns the package manager's output.

        Raises:
            PackageInstallDisabled: Installation is switched off.
            InvalidPackageSpec: An entry is not a plain requirement (checked before anything runs).
            PackageInstallFailed: The package manager failed; the message carries its errors.
            PluginEnvironmentUnavailable: The environment cannot be created or used.
        """
        if not self.enabled:
            raise PackageInstallDisabled()
        specs = raw_specs(packages) if self.allow_unsafe else check_requirements(packages)
        return self._install(specs, specs, None)

    def install_requirements(self, requirements_location: str) -> str:
        """Install a requirements file from the plugin directory, every line checked first.

        Pip reads a copy holding only the checked lines, so nothing else can be pulled in.

        Raises:
            PackageInstallDisabled, InvalidPackageSpec, PackageInstallFailed,
            PluginEnvironmentUnavailable: As `install`.
            NoPluginDirectory: There is no plugin directory.
            PluginPathError: The path leaves the plugin directory.
            RequirementsFileError: The file is missing, unreadable, too large or not UTF-8.
        """
        if not self.enabled:
            raise PackageInstallDisabled()
        lines = read_requirements_file(self.plugin_dir, requirements_location,
                                       allow_unsafe=self.allow_unsafe)
        if not lines:
            return ""
        text = "".join(line.render() + "\n" for line in lines)
        return self._install([requirements_location], [line.requirement for line in lines], text)

    def install_missing(self, requirements: Sequence[str]) -> str:
        """Install those of `requirements` that plugins cannot import yet (a manifest's).

        Requirements already met by the engine's or the environment's packages cause no install,
        so this works offline and with installation disabled once everything is present.

        Raises:
            As `install`, for the requirements that are missing.
        """
        if not requirements:
            return ""
        specs = raw_specs(requirements) if self.allow_unsafe else check_requirements(requirements)
        missing = self.unsatisfied(specs)
        if not missing:
            return ""
        if not self.enabled:
            raise PackageInstallDisabled()
        return self._install(missing, missing, None)

    def unsatisfied(self, requirements: Sequence[str]) -> list[str]:
        """The requirements not met by what plugins would import (markers are evaluated).

        A requirement with extras or a URL always counts as unmet: the package manager decides.
        """
        sites = self.site_directories() if self.exists() else []
        missing = []
        for text in requirements:
            try:
                requirement = Requirement(text)
            except ValueError:
                missing.append(text)
                continue
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            version = installed_version(requirement.name, sites)
            if (requirement.extras or requirement.url or version is None
                    or not requirement.specifier.contains(version, prereleases=True)):
                missing.append(text)
        return missing

    def _warn_on_other_python(self) -> None:
        # Compiled extensions built for another Python version fail to import in plugins.
        config = self._require_location() / "pyvenv.cfg"
        try:
            lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        values = dict(line.partition("=")[::2] for line in lines)
        made_by = {key.strip(): value.strip() for key, value in values.items()}.get("version", "")
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if made_by and made_by != running and not made_by.startswith(running + "."):
            logger.warning("plugin environment %s was made by Python %s but the engine runs "
                           "Python %s; packages with compiled code may not import",
                           self.location, made_by, running)

    def _require_location(self) -> Path:
        if self.location is None:
            raise NoPluginDirectory()
        return self.location

    def _ensure_locked(self) -> Path:
        location = self._require_location()
        if self.exists():
            python = self.python()
            if not python.exists():
                raise PluginEnvironmentUnavailable(str(location), f"it has no interpreter {python}")
            return python
        if location.exists() and (not location.is_dir() or any(location.iterdir())):
            raise PluginEnvironmentUnavailable(
                str(location), "it exists and is not a virtual environment (no pyvenv.cfg)")
        without_pip = ["--without-pip"] if host_pip_can_target() else []
        command = [sys.executable, "-m", "venv", *without_pip, str(location)]
        with tempfile.TemporaryDirectory(prefix="pe-venv-") as work:
            result = self._run(command, Path(work), [])
        if result.returncode != 0 or not self.exists():
            raise PluginEnvironmentUnavailable(
                str(location), f"creating it failed: {_tail(result)}")
        logger.info("created plugin environment %s", location)
        self.activate()
        return self.python()

    def _install(self, labels: list[str], specs: list[str], requirements_text: str | None) -> str:
        with self._lock:
            python = self._ensure_locked()
            tool, command = self._install_command(python)
            with tempfile.TemporaryDirectory(prefix="pe-install-") as work:
                command += self._source_options()
                if requirements_text is not None:
                    path = Path(work, "requirements.txt")
                    path.write_text(requirements_text, encoding="utf-8")
                    command += ["-r", str(path)]
                elif self.allow_unsafe or tool != "pip":
                    command += specs
                else:
                    command += ["--", *specs]  # nothing after this can be read as an option
                logger.info("installing %s with %s", ", ".join(labels), tool)
                result = self._run(command, Path(work), labels)
            if result.returncode != 0:
                raise PackageInstallFailed(labels, _tail(result), result.returncode)
        self.activate()
        return result.stdout

    def _install_command(self, python: Path) -> tuple[str, list[str]]:
        uv = shutil.which("uv") if self.package_manager in ("uv", "discover") else None
        if self.package_manager == "uv" and uv:
            return "uv", [uv, "pip", "install", "--python", str(python)]
        if self.package_manager == "uv":
            logger.warning("package_manager='uv' but no uv on PATH; installing with pip")
        pip_options = ["install", "--disable-pip-version-check", "--no-input"]
        if any((site / "pip").is_dir() for site in self.site_directories()):
            return "pip", [str(python), "-m", "pip", *pip_options]
        if host_pip_can_target():
            return "pip", [sys.executable, "-m", "pip", "--python", str(python), *pip_options]
        if uv:
            return "uv", [uv, "pip", "install", "--python", str(python)]
        raise PluginEnvironmentUnavailable(
            str(self.location), "neither the environment nor the engine has pip 22.3 or later, "
            "and uv is not on PATH")

    def _source_options(self) -> list[str]:
        options: list[str] = []
        if self.index_url:
            options += ["--index-url", self.index_url]
        elif self.find_links:
            options.append("--no-index")
        for directory in self.find_links:
            options += ["--find-links", str(directory)]
        return options

    def _run(self, command: list[str], cwd: Path,
             labels: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                command, cwd=cwd, env=_subprocess_env(), stdin=subprocess.DEVNULL,
                capture_output=True, text=True, encoding="utf-8", errors="replace",
                timeout=self.timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise PackageInstallFailed(
                labels or [command[0]], f"stopped after {self.timeout:g} s") from None
        except OSError as exc:
            raise PluginEnvironmentUnavailable(
                str(self.location), f"cannot run {command[0]}: {exc.strerror}") from None


def _location(plugin_dir: Path | None, venv_dir: str | os.PathLike[str] | None) -> Path | None:
    if venv_dir is not None:
        return Path(venv_dir).absolute()
    return plugin_dir / DEFAULT_VENV_NAME if plugin_dir is not None else None


def _paths(value: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    if isinstance(value, str | os.PathLike):
        return (Path(value).absolute(),)
    return tuple(Path(item).absolute() for item in value)


def _subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_PIP_VARIABLES}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONIOENCODING="utf-8")
    return env


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or "").strip() or (result.stdout or "").strip() or "no output"
    return text if len(text) <= _OUTPUT_TAIL else "..." + text[-_OUTPUT_TAIL:]
