"""PluginWatcher with real watchdog: every save style gives exactly one reload, touch none."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.errors import WatcherUnavailable
from engine.loader import PluginLoader
from engine.watcher import PluginWatcher

VERSION_PLUGIN = "V = {n}\ndef f():\n    return V\n"
_settle_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _restore_plugin_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUGIN_DIR", raising=False)


@dataclass
class Watched:
    """A watching loader, its watcher, and every batch the watcher delivered."""

    root: Path
    loader: PluginLoader
    batches: list[set[Path]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_change(self, paths: set[Path]) -> None:
        self.loader.mark_changed(paths)
        with self.lock:
            self.batches.append(paths)

    def batches_with(self, path: Path) -> int:
        with self.lock:
            return sum(path in batch for batch in self.batches)

    def settle(self) -> None:
        """Wait until every event before this call has been delivered (events stay in order)."""
        sentinel = self.root / f"settle-{next(_settle_numbers)}.txt"
        sentinel.write_text("x")
        wait_until(lambda: self.batches_with(sentinel) > 0, f"the batch with {sentinel.name}")


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.002)


@pytest.fixture
def watched(plugin_dir: Path) -> Iterator[Watched]:
    loader = PluginLoader(plugin_dir, builtins={}, watching=True)
    state = Watched(plugin_dir.resolve(), loader)
    watcher = PluginWatcher(plugin_dir, state.on_change, debounce_seconds=0.05)
    watcher.start()
    yield state
    watcher.stop()
    for key in loader.loaded_keys():
        loader.unload(key)


def save_in_place(path: Path, text: str) -> None:
    path.write_text(text)


def save_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temp, path)


def save_like_vim(path: Path, text: str) -> None:
    probe = path.with_name("4913")
    probe.write_text("")
    probe.unlink()
    backup = path.with_name(path.name + "~")
    os.rename(path, backup)
    path.write_text(text)
    backup.unlink()


def save_with_sed(path: Path, text: str) -> None:
    sed = shutil.which("sed")
    assert sed is not None, "these tests need sed on PATH"
    old_value = path.read_text().splitlines()[0]
    subprocess.run([sed, "-i", f"s/^{old_value}$/{text.splitlines()[0]}/", str(path)], check=True)
    assert path.read_text() == text


def save_by_delete_and_recreate(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text)


SAVE_STYLES = [save_in_place, save_atomically, save_like_vim, save_with_sed,
               save_by_delete_and_recreate]
SAVE_IDS = ["in-place", "atomic", "vim", "sed-i", "delete-recreate"]


@pytest.mark.parametrize("save", SAVE_STYLES, ids=SAVE_IDS)
def test_each_save_style_reloads_exactly_once(
    watched: Watched, save: Callable[[Path, str], None], caplog: pytest.LogCaptureFixture
) -> None:
    path = watched.root / "plugin.py"
    path.write_text(VERSION_PLUGIN.format(n=1))
    watched.loader.load("db/t", "plugin.py")
    with caplog.at_level(logging.ERROR, logger="engine.loader"):
        save(path, VERSION_PLUGIN.format(n=2))
        wait_until(lambda: watched.loader.get("db/t").version > 1, "the reload")
        watched.settle()
        current = watched.loader.get("db/t")
    function = current.function("f")
    assert function is not None and function() == 2
    assert (current.version, current.last_error, caplog.records) == (2, None, [])


@pytest.mark.parametrize(
    "touch",
    [
        lambda path: subprocess.run(["touch", str(path)], check=True),
        lambda path: open(path, "a").close(),
        lambda path: path.write_text(path.read_text()),
    ],
    ids=["touch-command", "open-append-close", "rewrite-same-content"],
)
def test_a_change_without_new_content_does_not_reload(
    watched: Watched, touch: Callable[[Path], object]
) -> None:
    path = watched.root / "plugin.py"
    path.write_text(VERSION_PLUGIN.format(n=1))
    first = watched.loader.load("k", "plugin.py")
    touch(path)
    wait_until(lambda: watched.batches_with(path) > 0, "the watcher to report the touch")
    current = watched.loader.get("k")
    assert current.module is first.module and current.version == 1


def test_a_directory_plugin_reloads_when_a_submodule_changes(watched: Watched) -> None:
    package = watched.root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .util import f\n")
    (package / "util.py").write_text(VERSION_PLUGIN.format(n=1))
    watched.loader.load("k", "pkg")
    save_atomically(package / "util.py", VERSION_PLUGIN.format(n=2))
    wait_until(lambda: watched.loader.get("k").version > 1, "the reload")
    watched.settle()
    current = watched.loader.get("k")
    function = current.function("f")
    assert current.version == 2 and function is not None and function() == 2


def test_a_new_version_that_fails_to_import_keeps_the_old_one_running(watched: Watched) -> None:
    path = watched.root / "plugin.py"
    path.write_text(VERSION_PLUGIN.format(n=1))
    watched.loader.load("k", "plugin.py")
    save_atomically(path, "def f(:\n")
    wait_until(lambda: watched.loader.get("k").last_error is not None, "the failed reload")
    current = watched.loader.get("k")
    function = current.function("f")
    assert current.version == 1 and function is not None and function() == 1
    assert "SyntaxError" in (current.last_error or "")


def test_a_burst_of_writes_is_debounced_into_one_batch(plugin_dir: Path) -> None:
    batches: list[set[Path]] = []
    path = plugin_dir.resolve() / "plugin.py"
    with PluginWatcher(plugin_dir, batches.append, debounce_seconds=0.3):
        for n in range(5):
            path.write_text(VERSION_PLUGIN.format(n=n))
        wait_until(lambda: any(path in batch for batch in batches), "the batch")
        # Events arrive in order: once the sentinel's batch is in, any straggler is too.
        sentinel = plugin_dir.resolve() / "sentinel.txt"
        sentinel.write_text("x")
        wait_until(lambda: any(sentinel in batch for batch in batches), "the sentinel")
    assert sum(path in batch for batch in batches) == 1


def test_a_failing_change_handler_is_logged_and_watching_continues(
    plugin_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[set[Path]] = []

    def handler(paths: set[Path]) -> None:
        seen.append(paths)
        if len(seen) == 1:
            raise RuntimeError("handler broke")

    root = plugin_dir.resolve()
    with caplog.at_level(logging.ERROR, logger="engine.watcher"), \
            PluginWatcher(plugin_dir, handler, debounce_seconds=0.01):
        (root / "a.py").write_text("x")
        wait_until(lambda: len(seen) == 1, "the first batch")
        (root / "b.py").write_text("x")
        wait_until(lambda: any(root / "b.py" in batch for batch in seen), "the second batch")
    assert any("handler broke" in (r.exc_text or "") for r in caplog.records)


def test_stop_ends_the_threads(plugin_dir: Path) -> None:
    watcher = PluginWatcher(plugin_dir, print, debounce_seconds=0.01)
    watcher.start()
    watcher.start()  # a second start is a no-op
    assert watcher.running
    watcher.stop()
    assert not watcher.running
    assert not any(t.name == "plugin-watcher" for t in threading.enumerate())


def test_without_watchdog_start_names_the_package(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)
    with pytest.raises(WatcherUnavailable, match="'watchdog' package"):
        PluginWatcher(plugin_dir, print).start()


def test_watching_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WatcherUnavailable, match="no-such-dir"):
        PluginWatcher(tmp_path / "no-such-dir", print).start()


@pytest.mark.parametrize(
    ("debounce", "max_delay"), [(-0.1, 1.0), (0.5, 0.1)], ids=["negative", "max-below-debounce"]
)
def test_bad_debounce_settings_are_refused(
    plugin_dir: Path, debounce: float, max_delay: float
) -> None:
    with pytest.raises(ValueError, match="debounce_seconds"):
        PluginWatcher(plugin_dir, print, debounce_seconds=debounce, max_delay_seconds=max_delay)
