"""Plugin file writes: atomic create/overwrite, whole-directory swaps, and every escape refused."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.catalog import TriggerDefinition
from engine.errors import (
    InvalidPluginFiles,
    NoPluginDirectory,
    NotADirectoryPlugin,
    PluginNotFound,
    PluginPathError,
)
from engine.loader import PluginLoader
from engine.plugin_store import PluginStore, exchange, trigger_plugin
from engine.watcher import PluginWatcher


@pytest.fixture
def store(plugin_dir: Path) -> PluginStore:
    return PluginStore(plugin_dir)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the plugin directory that no write may reach."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "keep.txt").write_text("untouched")
    return path


@pytest.fixture
def loader(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginLoader]:
    monkeypatch.delenv("PLUGIN_DIR", raising=False)
    made = PluginLoader(plugin_dir, builtins={})
    yield made
    for key in made.loaded_keys():
        made.unload(key)


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root`: file bytes, `dir`, or `-> target` for symlinks."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = path.read_bytes()
    return found


def write_package(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def entries(files: dict[str, str]) -> list[dict[str, str]]:
    return [{"relative_path": path, "content": text} for path, text in files.items()]


def test_create_writes_the_file_and_its_parent_folders(store: PluginStore,
                                                       plugin_dir: Path) -> None:
    written = store.create_file("team/alerts/notify.py", "def f():\n    return 'é'\n")

    assert written == plugin_dir / "team" / "alerts" / "notify.py"
    assert written.read_bytes() == "def f():\n    return 'é'\n".encode()
    assert tree(plugin_dir).keys() == {"team", "team/alerts", "team/alerts/notify.py"}


def test_create_overwrites_an_existing_file_and_keeps_its_mode(
        store: PluginStore, plugin_dir: Path) -> None:
    target = plugin_dir / "p.py"
    target.write_text("old")
    target.chmod(0o640)

    store.create_file("p.py", b"new")

    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert tree(plugin_dir).keys() == {"p.py"}  # no temporary file left behind


@pytest.mark.parametrize("name", ["pkg", "pkg/"], ids=["existing-folder", "trailing-slash"])
def test_create_refuses_a_folder_name(store: PluginStore, plugin_dir: Path, name: str) -> None:
    (plugin_dir / "pkg").mkdir()

    with pytest.raises(PluginPathError, match="directory"):
        store.create_file(name, "x")


def test_create_refuses_a_path_through_a_file(store: PluginStore, plugin_dir: Path) -> None:
    (plugin_dir / "p.py").write_text("x")

    with pytest.raises(PluginPathError, match="is a file"):
        store.create_file("p.py/q.py", "y")


def _link_folder_out(plugin_dir: Path, outside: Path) -> str:
    (plugin_dir / "out").symlink_to(outside, target_is_directory=True)
    return "out/escape.py"


def _link_file_out(plugin_dir: Path, outside: Path) -> str:
    (plugin_dir / "linked.py").symlink_to(outside / "escape.py")
    return "linked.py"


def _absolute(plugin_dir: Path, outside: Path) -> str:
    return str(outside / "escape.py")


TRAVERSALS: list[tuple[str, Callable[[Path, Path], str]]] = [
    ("dot-dot", lambda d, o: "../outside/escape.py"),
    ("nested-dot-dot", lambda d, o: "a/../../outside/escape.py"),
    ("absolute", _absolute),
    ("drive-letter", lambda d, o: "C:/escape.py"),
    ("drive-relative", lambda d, o: "C:escape.py"),
    ("unc-share", lambda d, o: "\\\\server\\share\\escape.py"),
    ("backslash-dot-dot", lambda d, o: "..\\outside\\escape.py"),
    ("backslash-nested", lambda d, o: "a\\..\\..\\outside\\escape.py"),
    ("nul-byte", lambda d, o: "escape\0.py"),
    ("empty", lambda d, o: ""),
    ("only-slashes", lambda d, o: "//"),
    ("gh-repository", lambda d, o: "gh:influxdata/escape.py"),
    ("symlinked-folder-out", _link_folder_out),
    ("symlinked-file-out", _link_file_out),
    ("plugin-dir-itself", lambda d, o: "."),
]


@pytest.mark.parametrize("make", [m for _, m in TRAVERSALS], ids=[i for i, _ in TRAVERSALS])
def test_create_refuses_every_escape_and_writes_nothing(
        store: PluginStore, plugin_dir: Path, outside: Path,
        make: Callable[[Path, Path], str]) -> None:
    name = make(plugin_dir, outside)
    before = (tree(plugin_dir), tree(outside))

    with pytest.raises(PluginPathError) as caught:
        store.create_file(name, "import os\n")

    assert isinstance(caught.value, ValueError)
    assert (tree(plugin_dir), tree(outside)) == before


ENTRY_ESCAPES = [(i, m) for i, m in TRAVERSALS if not i.startswith(("symlinked", "gh-"))]


@pytest.mark.parametrize("make", [m for _, m in ENTRY_ESCAPES], ids=[i for i, _ in ENTRY_ESCAPES])
def test_a_directory_replacement_with_an_escaping_entry_writes_nothing(
        store: PluginStore, plugin_dir: Path, outside: Path,
        make: Callable[[Path, Path], str]) -> None:
    write_package(plugin_dir / "pkg", {"__init__.py": "V = 1\n"})
    escape = {"relative_path": make(plugin_dir, outside), "content": "x"}
    files = [*entries({"__init__.py": "V = 2\n"}), escape]
    before = (tree(plugin_dir), tree(outside))

    with pytest.raises(PluginPathError):
        store.replace_directory("pkg", files, trigger="t")

    assert (tree(plugin_dir), tree(outside)) == before


@pytest.mark.parametrize("make", [_link_folder_out, lambda d, o: "../outside"],
                         ids=["symlinked-plugin-folder", "dot-dot-plugin-folder"])
def test_a_directory_replacement_of_a_folder_outside_is_refused(
        store: PluginStore, plugin_dir: Path, outside: Path,
        make: Callable[[Path, Path], str]) -> None:
    name = make(plugin_dir, outside).removesuffix("/escape.py")
    before = (tree(plugin_dir), tree(outside))

    with pytest.raises(PluginPathError):
        store.replace_directory(name, entries({"__init__.py": "V = 2\n"}))

    assert (tree(plugin_dir), tree(outside)) == before


def test_update_overwrites_a_single_file_plugin(store: PluginStore, plugin_dir: Path) -> None:
    (plugin_dir / "p.py").write_text("V = 1\n")

    assert store.replace_file("p.py", "V = 2\n") == plugin_dir / "p.py"
    assert (plugin_dir / "p.py").read_text() == "V = 2\n"


def test_update_of_a_package_overwrites_only_its_init(store: PluginStore,
                                                      plugin_dir: Path) -> None:
    write_package(plugin_dir / "pkg", {"__init__.py": "V = 1\n", "helper.py": "H = 1\n"})

    store.replace_file("pkg", "V = 2\n")

    assert tree(plugin_dir / "pkg") == {"__init__.py": b"V = 2\n", "helper.py": b"H = 1\n"}


def test_update_of_a_missing_plugin_is_not_found(store: PluginStore) -> None:
    with pytest.raises(PluginNotFound):
        store.replace_file("gone.py", "x")


OLD = {"__init__.py": "from .a import A\nVERSION = 'old'\n", "a.py": "A = 'old'\n",
       "old_only.py": "X = 1\n", "sub/x.py": "X = 1\n"}
NEW = {"__init__.py": "from .a import A\nVERSION = 'new'\n", "a.py": "A = 'new'\n",
       "sub/y.py": "Y = 1\n"}


def as_tree(files: dict[str, str]) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {path: text.encode() for path, text in files.items()}
    found.update({str(Path(path).parent): "dir" for path in files if "/" in path})
    return found


def test_a_directory_replacement_leaves_exactly_the_new_files(
        store: PluginStore, plugin_dir: Path) -> None:
    write_package(plugin_dir / "pkg", OLD)

    store.replace_directory("pkg", entries(NEW), trigger="t")

    assert tree(plugin_dir / "pkg") == as_tree(NEW)
    assert tree(plugin_dir / ".pkg.previous") == as_tree(OLD)
    assert {p.name for p in plugin_dir.iterdir()} == {"pkg", ".pkg.previous"}


def test_only_the_latest_previous_version_is_kept(store: PluginStore, plugin_dir: Path) -> None:
    write_package(plugin_dir / "pkg", OLD)
    store.replace_directory("pkg", entries(NEW))
    third = {"__init__.py": "VERSION = 'third'\n"}

    store.replace_directory("pkg/", [{"path": "__init__.py", "content": third["__init__.py"]}])

    assert tree(plugin_dir / "pkg") == as_tree(third)
    assert tree(plugin_dir / ".pkg.previous") == as_tree(NEW)
    assert {p.name for p in plugin_dir.iterdir()} == {"pkg", ".pkg.previous"}


def test_a_directory_replacement_creates_a_missing_plugin_folder(
        store: PluginStore, plugin_dir: Path) -> None:
    store.replace_directory("team/pkg", entries(NEW))

    assert tree(plugin_dir / "team" / "pkg") == as_tree(NEW)


def test_a_directory_replacement_of_a_single_file_plugin_is_refused(
        store: PluginStore, plugin_dir: Path) -> None:
    (plugin_dir / "p.py").write_text("x")

    with pytest.raises(NotADirectoryPlugin, match="plugins/files"):
        store.replace_directory("p.py", entries(NEW), trigger="my_trigger")


BAD_FILE_LISTS: list[tuple[str, object, str]] = [
    ("not-a-list", {"__init__.py": "x"}, "must be a list"),
    ("string", "__init__.py", "must be a list"),
    ("item-not-object", ["__init__.py"], "not an object"),
    ("no-init", [{"relative_path": "a.py", "content": "x"}], "no top-level __init__.py"),
    ("init-only-nested", [{"relative_path": "sub/__init__.py", "content": "x"}],
     "no top-level __init__.py"),
    ("duplicate", entries({"__init__.py": "x"}) * 2, "listed twice"),
    ("duplicate-after-normalising",
     [*entries({"__init__.py": "x"}), {"relative_path": "./__init__.py", "content": "y"}],
     "listed twice"),
    ("file-and-folder", entries({"__init__.py": "x", "a": "x", "a/b.py": "y"}),
     "both a file and a folder"),
    ("content-not-text", [{"relative_path": "__init__.py", "content": 3}], "not text"),
    ("content-missing", [{"relative_path": "__init__.py"}], "not text"),
]


@pytest.mark.parametrize(("files", "reason"), [(f, r) for _, f, r in BAD_FILE_LISTS],
                         ids=[i for i, _, _ in BAD_FILE_LISTS])
def test_a_bad_file_list_is_refused_and_changes_nothing(
        store: PluginStore, plugin_dir: Path, files: object, reason: str) -> None:
    write_package(plugin_dir / "pkg", OLD)
    before = tree(plugin_dir)

    with pytest.raises(InvalidPluginFiles, match=reason):
        store.replace_directory("pkg", files)  # type: ignore[arg-type]

    assert tree(plugin_dir) == before


def test_a_missing_path_field_is_refused(store: PluginStore, plugin_dir: Path) -> None:
    with pytest.raises(PluginPathError, match="empty or not a string"):
        store.replace_directory("pkg", [{"content": "x"}])


VERSION_A = {"__init__.py": "VERSION = 'A'\n", "a.py": "A" * 3000, "only_a.py": "A\n"}
VERSION_B = {"__init__.py": "VERSION = 'B'\n", "a.py": "B" * 5000, "only_b.py": "B\n"}


READER = """
import json, os, sys
package, stop = sys.argv[1], sys.argv[2]
seen, bad = {}, []
def read():
    folder = os.open(package, os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = {}
        for name in os.listdir(folder):
            with os.fdopen(os.open(name, os.O_RDONLY, dir_fd=folder), "rb") as file:
                found[name] = file.read().decode()
        return found
    finally:
        os.close(folder)
print("ready", flush=True)
while not os.path.exists(stop):
    try:
        if not os.path.exists(os.path.join(package, "__init__.py")):
            bad.append("missing __init__.py")
        version = json.dumps(read(), sort_keys=True)
        seen[version] = seen.get(version, 0) + 1
    except OSError as exc:
        bad.append(repr(exc))
print(json.dumps({"seen": seen, "bad": bad[:5]}))
"""


@pytest.mark.parametrize("atomic_exchange", [True, False], ids=["exchange", "renames"])
def test_a_reader_never_sees_a_mixed_plugin(plugin_dir: Path, tmp_path: Path,
                                            atomic_exchange: bool) -> None:
    # The reader is another process, so it runs truly in parallel with the swaps.
    store = PluginStore(plugin_dir, atomic_exchange=atomic_exchange)
    package, stop = plugin_dir / "pkg", tmp_path / "stop"
    write_package(package, VERSION_A)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(package), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    for round_number in range(60):
        store.replace_directory("pkg", entries(VERSION_B if round_number % 2 == 0 else VERSION_A))
    stop.touch()
    output, _ = reader.communicate(timeout=30)

    report = json.loads(output)
    expected = {json.dumps(VERSION_A, sort_keys=True), json.dumps(VERSION_B, sort_keys=True)}
    assert set(report["seen"]) <= expected
    assert sum(report["seen"].values()) > 20
    if atomic_exchange:
        assert report["bad"] == []
    else:  # between the two renames the folder is briefly absent, never partial
        assert all(item == "missing __init__.py" or item.startswith("FileNotFoundError")
                   for item in report["bad"])


def test_a_watched_package_reloads_after_a_replacement_and_after_later_edits(
        store: PluginStore, plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUGIN_DIR", raising=False)
    write_package(plugin_dir / "pkg", {"__init__.py": "from .a import f\n",
                                       "a.py": "def f():\n    return 1\n"})
    loader = PluginLoader(plugin_dir, builtins={}, watching=True)
    loader.load("db/t", "pkg")
    with PluginWatcher(plugin_dir, loader.mark_changed):
        store.replace_directory("pkg", entries({"__init__.py": "from .a import f\n",
                                                "a.py": "def f():\n    return 2\n"}))
        assert eventually(lambda: call_f(loader) == 2)
        (plugin_dir / "pkg" / "a.py").write_text("def f():\n    return 3\n")
        assert eventually(lambda: call_f(loader) == 3)
    loader.unload("db/t")


def call_f(loader: PluginLoader) -> object:
    function = loader.get("db/t").function("f")
    assert function is not None
    return function()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_loaded_file_plugin_picks_up_an_update(store: PluginStore, plugin_dir: Path,
                                                 loader: PluginLoader) -> None:
    (plugin_dir / "p.py").write_text("def f():\n    return 1\n")
    first = loader.load("db/t", "p.py")

    store.replace_file("p.py", "def f():\n    return 2\n")

    current = loader.get("db/t")
    function = current.function("f")
    assert function is not None and function() == 2
    assert current.version == first.version + 1


def test_a_loaded_package_plugin_picks_up_a_directory_replacement(
        store: PluginStore, plugin_dir: Path, loader: PluginLoader) -> None:
    write_package(plugin_dir / "pkg", {**OLD, "__init__.py": OLD["__init__.py"]
                                       + "def f():\n    return (VERSION, A)\n"})
    loader.load("db/t", "pkg")

    store.replace_directory("pkg", entries({**NEW, "__init__.py": NEW["__init__.py"]
                                            + "def f():\n    return (VERSION, A)\n"}))

    function = loader.get("db/t").function("f")
    assert function is not None and function() == ("new", "new")


def test_exchange_swaps_two_folders_atomically(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_package(first, {"one.txt": "1"})
    write_package(second, {"two.txt": "2"})

    assert exchange(first, second) is True
    assert tree(first) == {"two.txt": b"2"} and tree(second) == {"one.txt": b"1"}


def test_writes_need_a_plugin_dir() -> None:
    store = PluginStore(None)
    for attempt in (lambda: store.create_file("p.py", "x"),
                    lambda: store.replace_file("p.py", "x"),
                    lambda: store.replace_directory("pkg", entries(NEW))):
        with pytest.raises(NoPluginDirectory):
            attempt()


def definition(db: str, name: str, plugin: str) -> TriggerDefinition:
    return TriggerDefinition(db=db, trigger_name=name, plugin_filename=plugin,
                             trigger_specification="every:10s")


def test_updates_find_the_first_trigger_of_that_name_in_any_database() -> None:
    triggers = [definition("db1", "other", "o.py"), definition("db2", "t", "first.py"),
                definition("db3", "t", "second.py")]

    assert trigger_plugin(triggers, "t").plugin_filename == "first.py"
    with pytest.raises(PluginNotFound, match="no trigger has that name") as caught:
        trigger_plugin(triggers, "t.py")
    assert isinstance(caught.value, LookupError)
