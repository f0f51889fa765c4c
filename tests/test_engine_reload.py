"""Hot reload through the Engine: each way editors save a file leads to the new code.

With `watch_plugins=False` the engine checks the plugin's files on every call, so the very next
call runs the new code. With `watch_plugins=True` a file watcher notices the save; the new code
is in use within a bound (P6 measures it), and every call after that runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine import Engine

WATCH_BOUND_SECONDS = 3.0

REQUEST = """
VERSION = {n}


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {{"version": VERSION}}
"""

WAL = """
VERSION = {n}


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("version", VERSION)
"""

PACKAGE_INIT = """
from .rules import VERSION


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"version": VERSION}
"""

RULES = "VERSION = {n}\n"


def save_in_place(path: Path, text: str) -> None:
    """Truncate and rewrite the same inode (nano, most IDEs' default)."""
    with open(path, "w") as handle:
        handle.write(text)


def save_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside it and rename it over (VS Code, JetBrains safe write)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)


def save_like_vim(path: Path, text: str) -> None:
    """Vim's dance: probe file 4913, rename the original to a backup, write anew, drop backup."""
    probe = path.parent / "4913"
    probe.touch()
    probe.unlink()
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    path.write_text(text)
    backup.unlink()


def save_with_sed(path: Path, text: str) -> None:
    """`sed -i`: the real tool writes a temporary file and renames it over the original."""
    old = path.read_text()
    before = next(line for line in old.splitlines() if line.startswith("VERSION"))
    after = next(line for line in text.splitlines() if line.startswith("VERSION"))
    sed = shutil.which("sed")
    assert sed is not None, "the sed-i save style needs the sed tool"
    subprocess.run([sed, "-i", f"s/^{before}$/{after}/", str(path)], check=True)
    assert path.read_text() == text


SAVES = [
    pytest.param(save_in_place, id="in-place"),
    pytest.param(save_atomically, id="atomic-rename"),
    pytest.param(save_like_vim, id="vim"),
    pytest.param(save_with_sed, id="sed-i"),
]


@pytest.fixture(params=[False, True], ids=["stat-on-call", "watcher"])
def engine(plugin_dir: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    (plugin_dir / "req.py").write_text(REQUEST.format(n=1))
    (plugin_dir / "wal.py").write_text(WAL.format(n=1))
    package = plugin_dir / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT)
    (package / "rules.py").write_text(RULES.format(n=1))
    with Engine(plugin_dir, background=True, watch_plugins=request.param) as eng:
        eng.create_database("db")
        yield eng


def version_of(engine: Engine, path: str = "req") -> int:
    version: int = engine.handle_request(path).json()["version"]
    return version


def expect_new_code(engine: Engine, read: Callable[[], int], wanted: int) -> None:
    """The next call runs `wanted` (stat on call), or every call does from some point on."""
    if not engine.options.watch_plugins:
        assert read() == wanted
        return
    deadline = time.monotonic() + WATCH_BOUND_SECONDS
    while (seen := read()) != wanted:
        assert time.monotonic() < deadline, f"still version {seen} after {WATCH_BOUND_SECONDS}s"
        time.sleep(0.01)
    assert [read() for _ in range(5)] == [wanted] * 5


@pytest.mark.parametrize("save", SAVES)
def test_each_save_style_leads_to_the_new_code(
    engine: Engine, plugin_dir: Path, save: Callable[[Path, str], None],
) -> None:
    engine.create_trigger("db", "req", plugin_filename="req.py",
                          trigger_specification="request:req")
    assert version_of(engine) == 1
    save(plugin_dir / "req.py", REQUEST.format(n=2))  # same size, within the same second
    expect_new_code(engine, lambda: version_of(engine), 2)
    save(plugin_dir / "req.py", REQUEST.format(n=3))
    expect_new_code(engine, lambda: version_of(engine), 3)


@pytest.mark.parametrize("save", SAVES)
def test_editing_a_module_of_a_directory_plugin_reloads_it(
    engine: Engine, plugin_dir: Path, save: Callable[[Path, str], None],
) -> None:
    engine.create_trigger("db", "pkg", plugin_filename="pkg", trigger_specification="request:pkg")
    assert version_of(engine, "pkg") == 1
    save(plugin_dir / "pkg" / "rules.py", RULES.format(n=2))
    expect_new_code(engine, lambda: version_of(engine, "pkg"), 2)


def test_a_wal_trigger_uses_the_new_code_for_the_next_flush(
    engine: Engine, plugin_dir: Path,
) -> None:
    engine.create_trigger("db", "wal", plugin_filename="wal.py",
                          trigger_specification="all_tables")

    def flushed_version() -> int:
        engine.write_lp("db", "m f=1")
        engine.flush()
        last = [e.message for e in engine.observability.logs_for("db", "wal")
                if e.message.startswith("version")][-1]
        return int(last.split()[1])

    assert flushed_version() == 1
    save_atomically(plugin_dir / "wal.py", WAL.format(n=2))
    expect_new_code(engine, flushed_version, 2)


def test_a_save_that_breaks_the_plugin_keeps_the_last_good_code_running(
    engine: Engine, plugin_dir: Path,
) -> None:
    engine.create_trigger("db", "req", plugin_filename="req.py",
                          trigger_specification="request:req")
    assert version_of(engine) == 1
    save_atomically(plugin_dir / "req.py", "VERSION = (\n")  # a syntax error mid-edit
    time.sleep(0.3)  # give the watcher time to see it, if there is one
    assert [version_of(engine) for _ in range(3)] == [1, 1, 1]
    assert engine.running
    [error] = [e for e in engine.observability.logs_for("db", "req") if e.level == "ERROR"]
    assert error.message == "plugin req.py failed to reload; version 1 keeps running"
    assert error.traceback is not None and "SyntaxError" in error.traceback
    save_atomically(plugin_dir / "req.py", REQUEST.format(n=4))
    expect_new_code(engine, lambda: version_of(engine), 4)


def test_every_trigger_on_a_file_picks_up_the_change(engine: Engine, plugin_dir: Path) -> None:
    for name in ("one", "two"):
        engine.create_trigger("db", name, plugin_filename="req.py",
                              trigger_specification=f"request:{name}")
    assert (version_of(engine, "one"), version_of(engine, "two")) == (1, 1)
    save_in_place(plugin_dir / "req.py", REQUEST.format(n=5))
    expect_new_code(engine, lambda: version_of(engine, "one"), 5)
    expect_new_code(engine, lambda: version_of(engine, "two"), 5)
