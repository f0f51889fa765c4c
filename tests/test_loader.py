"""PluginLoader: resolution, per-trigger isolation, injected builtins, reload and keep-last-good."""

from __future__ import annotations

import builtins
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.errors import PluginLoadError, PluginNotFound, PluginNotLoaded, PluginPathError
from engine.loader import SYNTHETIC_ROOT, LoadedPlugin, PluginLoader


class FakeLineBuilder:
    """Stands in for engine.linebuilder.LineBuilder: only its identity matters here."""


INJECTED: dict[str, object] = {"LineBuilder": FakeLineBuilder, "PluginRuntimeError": KeyError}


@pytest.fixture(autouse=True)
def _restore_plugin_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loader sets PLUGIN_DIR process-wide; monkeypatch puts the old value back afterwards.
    monkeypatch.delenv("PLUGIN_DIR", raising=False)


@pytest.fixture
def loader(plugin_dir: Path) -> Iterator[PluginLoader]:
    made = PluginLoader(plugin_dir, builtins=INJECTED)
    yield made
    for key in made.loaded_keys():
        made.unload(key)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def atomic_write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def call(plugin: LoadedPlugin, name: str = "f") -> object:
    function = plugin.function(name)
    assert function is not None, f"{name} missing from {plugin.filename}"
    return function()


def plugin_modules() -> set[str]:
    return {name for name in sys.modules if name.startswith(SYNTHETIC_ROOT + ".")}


VERSION_PLUGIN = "V = {n}\ndef f():\n    return V\n"


def test_single_file_plugin_loads_once_and_keeps_module_state(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "count.py", "N = 0\ndef f():\n    global N\n    N += 1\n    return N\n")
    loader.load("db/t", "count.py")
    assert [call(loader.get("db/t")) for _ in range(3)] == [1, 2, 3]
    assert loader.get("db/t").version == 1


@pytest.mark.parametrize(
    ("source", "name", "found"),
    [
        ("def f():\n    return 1\n", "f", True),
        ("f = 3\n", "f", False),
        ("def g():\n    return 1\n", "f", False),
        ("class f:\n    pass\n", "f", True),
    ],
    ids=["function", "not-callable", "absent", "class"],
)
def test_function_returns_module_level_callables_only(
    plugin_dir: Path, loader: PluginLoader, source: str, name: str, found: bool
) -> None:
    write(plugin_dir / "p.py", source)
    assert (loader.load("k", "p.py").function(name) is not None) is found


def test_two_triggers_on_the_same_file_share_no_globals(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "p.py", "SEEN = []\ndef f():\n    SEEN.append(1)\n    return len(SEEN)\n")
    first, second = loader.load("db/a", "p.py"), loader.load("db/b", "p.py")
    assert (call(first), call(first), call(second)) == (1, 2, 1)
    assert first.module is not second.module
    assert first.module.__name__ != second.module.__name__


def test_two_directory_plugins_with_the_same_name_do_not_collide(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    for team in ("a", "b"):
        write(plugin_dir / team / "tools" / "__init__.py", "from .which import f\n")
        write(plugin_dir / team / "tools" / "which.py", f"def f():\n    return {team!r}\n")
    assert call(loader.load("x", "a/tools")) == "a"
    assert call(loader.load("y", "b/tools/")) == "b"


def test_directory_plugin_named_like_a_stdlib_module_shadows_nothing(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    import json

    write(plugin_dir / "json" / "__init__.py", "import json\ndef f():\n    return json.dumps(1)\n")
    assert call(loader.load("k", "json")) == "1"
    assert sys.modules["json"] is json


def test_relative_imports_work_in_packages_and_subpackages(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    package = plugin_dir / "pkg"
    write(package / "__init__.py", "from .sub.deep import g\nfrom . import util\n"
          "def f():\n    return util.NAME, g()\n")
    write(package / "util.py", "NAME = 'util'\n")
    write(package / "sub" / "__init__.py", "")
    write(package / "sub" / "deep.py", "from ..util import NAME\ndef g():\n    return NAME * 2\n")
    assert call(loader.load("k", "pkg")) == ("util", "utilutil")


def test_lazy_relative_import_inside_a_function_works(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "pkg" / "__init__.py", "def f():\n    from .late import X\n    return X\n")
    write(plugin_dir / "pkg" / "late.py", "X = 'late'\n")
    assert call(loader.load("k", "pkg")) == "late"


def test_injected_names_are_bare_names_in_every_module_of_a_plugin(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "pkg" / "__init__.py", "from .sub import g\n"
          "def f():\n    return LineBuilder, g()\n")
    write(plugin_dir / "pkg" / "sub.py", "def g():\n    return LineBuilder, PluginRuntimeError\n")
    assert call(loader.load("k", "pkg")) == (FakeLineBuilder, (FakeLineBuilder, KeyError))
    write(plugin_dir / "single.py", "def f():\n    return LineBuilder\n")
    assert call(loader.load("s", "single.py")) is FakeLineBuilder


def test_the_engines_plugin_builtins_work_bare_in_a_submodule(plugin_dir: Path) -> None:
    from engine.linebuilder import PLUGIN_BUILTINS

    loader = PluginLoader(plugin_dir, builtins=PLUGIN_BUILTINS)
    write(plugin_dir / "pkg" / "__init__.py", "from .lines import f\n")
    write(plugin_dir / "pkg" / "lines.py", "def f():\n"
          "    try:\n        LineBuilder('a b')\n    except InfluxDBError as exc:\n"
          "        return type(LineBuilder('m')).__name__, type(exc).__name__\n")
    assert call(loader.load("k", "pkg")) == ("LineBuilder", "InvalidMeasurementError")
    loader.unload("k")


def test_nothing_leaks_into_host_modules_or_builtins(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    before = set(sys.modules)
    write(plugin_dir / "pkg" / "__init__.py", "from .helper import h\nimport builtins\n"
          "__builtins__['LEAK'] = 1\n")
    write(plugin_dir / "pkg" / "helper.py", "def h():\n    return 1\n")
    write(plugin_dir / "one.py", "def f():\n    return 1\n")
    loader.load("a", "pkg")
    loader.load("b", "one.py")
    added = set(sys.modules) - before
    assert added and all(name.startswith(SYNTHETIC_ROOT + ".") for name in added)
    assert not hasattr(builtins, "LineBuilder") and not hasattr(builtins, "LEAK")
    loader.unload("a")
    loader.unload("b")
    assert set(sys.modules) - before == set()


def test_injected_builtins_are_not_shared_between_triggers(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "p.py", "def f():\n    __builtins__['MINE'] = 1\n"
          "def g():\n    return 'MINE' in __builtins__\n")
    first, second = loader.load("a", "p.py"), loader.load("b", "p.py")
    call(first)
    assert (call(first, "g"), call(second, "g")) == (True, False)


def test_plugins_can_use_dataclasses_and_see_their_file(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    path = write(plugin_dir / "dc.py", "from dataclasses import dataclass\n"
                 "@dataclass\nclass P:\n    x: int\n"
                 "def f():\n    return P(3).x, __file__, f.__annotations__\n")
    assert call(loader.load("k", "dc.py")) == (3, str(path), {})


def test_plugin_code_does_not_inherit_the_loaders_future_flags(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "ann.py", "def f(x: int) -> None:\n    pass\n")
    assert loader.load("k", "ann.py").module.f.__annotations__["x"] is int


def test_a_plugin_file_named_after_a_keyword_loads(plugin_dir: Path, loader: PluginLoader) -> None:
    write(plugin_dir / "import" / "import.py", "def f():\n    return 'ok'\n")
    assert call(loader.load("k", "import/import.py")) == "ok"


def test_single_file_plugins_cannot_import_their_siblings(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "sibling_mod.py", "X = 1\n")
    write(plugin_dir / "rel.py", "from . import sibling_mod\n")
    write(plugin_dir / "absolute.py", "import sibling_mod\n")
    for name in ("rel.py", "absolute.py"):
        with pytest.raises(PluginLoadError, match="sibling_mod"):
            loader.load(name, name)


def test_plugin_dir_is_exported_to_the_environment(plugin_dir: Path) -> None:
    PluginLoader(plugin_dir, builtins={})
    assert os.environ["PLUGIN_DIR"] == str(plugin_dir.resolve())


def test_an_existing_plugin_dir_variable_is_kept(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGIN_DIR", "/somewhere/else")
    PluginLoader(plugin_dir, builtins={})
    assert os.environ["PLUGIN_DIR"] == "/somewhere/else"


@pytest.mark.parametrize(
    ("filename", "error", "message"),
    [
        ("missing.py", PluginNotFound, "missing.py"),
        ("nopkg", PluginNotFound, "must contain __init__.py"),
        ("../outside.py", PluginPathError, r"'\.\.'"),
        ("/etc/passwd", PluginPathError, "absolute"),
        ("escape.py", PluginPathError, "outside the plugin directory"),
        ("", PluginPathError, "empty"),
        ("gh:examples/x.py", PluginPathError, "gh:"),
    ],
    ids=["missing", "dir-without-init", "dotdot", "absolute", "symlink-out", "empty", "gh"],
)
def test_bad_plugin_names_are_refused(
    plugin_dir: Path, loader: PluginLoader, filename: str, error: type[Exception], message: str
) -> None:
    (plugin_dir / "nopkg").mkdir()
    write(plugin_dir.parent / "outside.py", "X = 1\n")
    (plugin_dir / "escape.py").symlink_to(plugin_dir.parent / "outside.py")
    with pytest.raises(error, match=message):
        loader.load("k", filename)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("X = (\n", "SyntaxError"),
        ("def helper():\n    raise ValueError('boom at import')\nhelper()\n",
         "ValueError: boom at import"),
        ("import no_such_module_anywhere\n", "ModuleNotFoundError"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
    ],
    ids=["syntax", "raises", "missing-dependency", "sys-exit"],
)
def test_a_failing_first_load_raises_with_the_plugins_traceback(
    plugin_dir: Path, loader: PluginLoader, source: str, expected: str
) -> None:
    before = set(sys.modules)
    write(plugin_dir / "bad.py", source)
    with pytest.raises(PluginLoadError, match=r"bad\.py") as caught:
        loader.load("k", "bad.py")
    assert expected in caught.value.detail
    assert str(plugin_dir / "bad.py") in caught.value.detail
    assert "loader.py" not in caught.value.detail
    assert set(sys.modules) == before and loader.loaded_keys() == []


def test_get_and_unload_of_unknown_keys(loader: PluginLoader) -> None:
    with pytest.raises(PluginNotLoaded, match="nope"):
        loader.get("nope")
    loader.unload("nope")


@pytest.mark.parametrize("save", [Path.write_text, atomic_write], ids=["in-place", "atomic"])
def test_without_watching_a_change_is_seen_at_call_time(
    plugin_dir: Path, loader: PluginLoader, save: object
) -> None:
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    loader.load("k", "p.py")
    save(path, VERSION_PLUGIN.format(n=2))  # type: ignore[operator]
    current = loader.get("k")
    assert (current.version, call(current)) == (2, 2)
    assert loader.get("k") is current


def test_same_size_edit_right_after_loading_is_not_missed(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    # Same size, same second: stat may not change, and a bytecode cache keyed on whole-second
    # mtimes would serve the old code.
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    loader.load("k", "p.py")
    path.write_text(VERSION_PLUGIN.format(n=7))
    assert call(loader.get("k")) == 7
    assert not (plugin_dir / "__pycache__").exists()


def test_touch_does_not_reload(plugin_dir: Path, loader: PluginLoader) -> None:
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    first = loader.load("k", "p.py")
    os.utime(path, ns=(1, 1))
    path.write_text(path.read_text())
    assert loader.get("k").module is first.module and loader.get("k").version == 1


def test_a_failed_reload_keeps_the_last_good_code_and_logs_once(
    plugin_dir: Path, loader: PluginLoader, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    loader.load("k", "p.py")
    path.write_text("def f():\n    return 1\nraise RuntimeError('half-written')\n")
    with caplog.at_level(logging.ERROR, logger="engine.loader"):
        results = [loader.get("k") for _ in range(3)]
    assert all(call(plugin) == 1 and plugin.version == 1 for plugin in results)
    error = results[-1].last_error
    assert error is not None and "RuntimeError: half-written" in error and "line 3" in error
    assert len(caplog.records) == 1 and "half-written" in caplog.records[0].getMessage()
    path.write_text(VERSION_PLUGIN.format(n=2))
    fixed = loader.get("k")
    assert (fixed.version, call(fixed), fixed.last_error) == (2, 2, None)


def test_reverting_after_a_failed_reload_clears_the_error_without_reloading(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    first = loader.load("k", "p.py")
    path.write_text("X = (\n")
    assert loader.get("k").last_error is not None
    path.write_text(VERSION_PLUGIN.format(n=1))
    current = loader.get("k")
    assert (current.module, current.version, current.last_error) == (first.module, 1, None)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda pkg: write(pkg / "util.py", "NAME = 'changed'\n"), "changed"),
        (lambda pkg: atomic_write(pkg / "util.py", "NAME = 'atomic'\n"), "atomic"),
        (lambda pkg: write(pkg / "sub" / "new.py", "NAME = 'new file'\n"), "util"),
    ],
    ids=["submodule-in-place", "submodule-atomic", "new-file-in-subdir"],
)
def test_directory_plugins_reload_when_any_module_changes(
    plugin_dir: Path, loader: PluginLoader, change: object, expected: str
) -> None:
    package = plugin_dir / "pkg"
    write(package / "__init__.py", "from . import util\ndef f():\n    return util.NAME\n")
    write(package / "util.py", "NAME = 'util'\n")
    write(package / "sub" / "__init__.py", "")
    loader.load("k", "pkg")
    change(package)  # type: ignore[operator]
    current = loader.get("k")
    assert (current.version, call(current)) == (2, expected)


def test_with_watching_on_only_marked_changes_are_checked(plugin_dir: Path) -> None:
    loader = PluginLoader(plugin_dir, builtins={}, watching=True)
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    write(plugin_dir / "pkg" / "__init__.py", "X = 1\n")
    loader.load("k", "p.py")
    loader.load("d", "pkg")
    path.write_text(VERSION_PLUGIN.format(n=2))
    write(plugin_dir / "pkg" / "more.py", "Y = 2\n")
    assert loader.get("k").version == 1 and loader.get("d").version == 1
    loader.mark_changed({plugin_dir.resolve() / "other.py", plugin_dir.resolve() / "pkg.py"})
    assert loader.get("k").version == 1 and loader.get("d").version == 1
    loader.mark_changed({path.resolve(), plugin_dir.resolve() / "pkg" / "more.py"})
    assert loader.get("k").version == 2 and loader.get("d").version == 2
    for key in loader.loaded_keys():
        loader.unload(key)


def test_loading_a_key_again_replaces_its_plugin(plugin_dir: Path, loader: PluginLoader) -> None:
    write(plugin_dir / "a.py", "def f():\n    return 'a'\n")
    write(plugin_dir / "b.py", "def f():\n    return 'b'\n")
    old = loader.load("k", "a.py")
    new = loader.load("k", "b.py")
    assert (new.version, call(loader.get("k"))) == (2, "b")
    assert old.module.__name__ not in sys.modules and new.module.__name__ in sys.modules


def test_a_failed_load_of_a_loaded_key_keeps_the_old_plugin(
    plugin_dir: Path, loader: PluginLoader
) -> None:
    write(plugin_dir / "a.py", "def f():\n    return 'a'\n")
    write(plugin_dir / "bad.py", "1/0\n")
    loader.load("k", "a.py")
    with pytest.raises(PluginLoadError, match="ZeroDivisionError"):
        loader.load("k", "bad.py")
    assert call(loader.get("k")) == "a"


def test_loaded_at_comes_from_the_clock(plugin_dir: Path) -> None:
    clock = ManualClock()
    loader = PluginLoader(plugin_dir, builtins={}, clock=clock)
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    assert loader.load("k", "p.py").loaded_at == clock.now()
    clock.advance(5)
    path.write_text(VERSION_PLUGIN.format(n=2))
    assert loader.get("k").loaded_at == clock.now()
    loader.unload("k")


def test_callers_keep_the_old_version_while_a_reload_is_importing(plugin_dir: Path) -> None:
    entered, release = threading.Event(), threading.Event()
    loader = PluginLoader(plugin_dir, builtins={"ENTERED": entered, "RELEASE": release})
    path = write(plugin_dir / "p.py", VERSION_PLUGIN.format(n=1))
    loader.load("k", "p.py")
    path.write_text("ENTERED.set()\nRELEASE.wait(10)\n" + VERSION_PLUGIN.format(n=2))
    reloader = threading.Thread(target=loader.get, args=("k",))
    reloader.start()
    assert entered.wait(10)
    during = loader.get("k")
    release.set()
    reloader.join(10)
    assert (during.version, call(during)) == (1, 1)
    assert call(loader.get("k")) == 2
    loader.unload("k")
