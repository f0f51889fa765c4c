"""Faults: plugins that block forever, leak memory, spawn threads or crash on import, and a disk
that fills up during a WAL write. The engine stays up, other triggers keep working, and nothing
acknowledged is lost.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.engine import Engine
from engine.errors import EngineError

DB = "faults"
OK_PLUGIN = '''\
def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"ok": True}


def process_writes(influxdb3_local, table_batches, args=None):
    rows = sum(len(batch["rows"]) for batch in table_batches if batch["table_name"] == "m")
    influxdb3_local.write(LineBuilder("seen").int64_field("rows", rows))


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("tick")
'''
BLOCKING_PLUGIN = '''\
import threading

FOREVER = threading.Event()


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    FOREVER.wait()


def process_writes(influxdb3_local, table_batches, args=None):
    FOREVER.wait()
'''


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def engine(plugin_dir: Path) -> Iterator[Engine]:
    (plugin_dir / "ok.py").write_text(OK_PLUGIN)
    (plugin_dir / "blocking.py").write_text(BLOCKING_PLUGIN)
    with Engine(plugin_dir, wal_flush_interval=0.05) as running:
        running.create_database(DB)
        running.create_trigger(DB, "ok_request", plugin_filename="ok.py",
                               trigger_specification="request:ok")
        yield running


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(fn()), daemon=True)
    thread.start()
    return thread, results


def _rows_seen(engine: Engine) -> int:
    """Rows of table `m` the `counter` trigger was handed (it writes a `seen` row per call)."""
    try:
        rows = engine.query(DB, "SELECT sum(rows) AS n FROM seen")
    except EngineError:  # no call wrote yet
        return 0
    return int(rows[0]["n"] or 0)


# -- a plugin that blocks forever -------------------------------------------------------------


def test_a_request_plugin_blocking_forever_holds_only_its_caller(engine: Engine) -> None:
    engine.create_trigger(DB, "stuck", plugin_filename="blocking.py",
                          trigger_specification="request:stuck")
    threads_before = threading.active_count()
    callers = [_in_thread(lambda: engine.handle_request("stuck")) for _ in range(3)]
    _wait_for(lambda: engine.in_flight(DB, "stuck") >= 1, 10, "the stuck plugin to run")
    # Everything else goes on.
    assert engine.handle_request("ok").status == 200
    assert engine.write_lp(DB, "other v=1i 1", precision="ns").lines_written == 1
    assert engine.query(DB, "SELECT count(*) AS n FROM other") == [{"n": 1}]
    # Each blocked call costs its caller and at most one worker thread.
    assert threading.active_count() <= threads_before + 3 + 3, threading.enumerate()
    # Disabling it answers the waiting callers instead of leaving them blocked.
    engine.disable_trigger(DB, "stuck")
    for thread, results in callers:
        thread.join(5)
        assert not thread.is_alive() and results[0].status >= 400
        assert json.loads(results[0].body)["error"]


def test_a_wal_plugin_blocking_forever_keeps_writes_going_and_disable_releases_it(
        engine: Engine) -> None:
    engine.create_trigger(DB, "stuck_wal", plugin_filename="blocking.py",
                          trigger_specification="all_tables")
    engine.create_trigger(DB, "counter", plugin_filename="ok.py",
                          trigger_specification="table:m")
    for i in range(5):
        assert engine.write_lp(DB, f"m v={i}i {i + 1}", precision="ns").lines_written == 1
        time.sleep(0.06)
    _wait_for(lambda: engine.in_flight(DB, "stuck_wal") == 1, 10, "the stuck WAL call")
    assert engine.query(DB, "SELECT count(*) AS n FROM m") == [{"n": 5}]
    engine.disable_trigger(DB, "stuck_wal")
    engine.flush()
    _wait_for(lambda: _rows_seen(engine) == 5, 10, "the other WAL trigger to see every row")


def test_a_wal_plugin_blocking_forever_does_not_hold_up_other_wal_triggers(
        engine: Engine) -> None:
    engine.create_trigger(DB, "stuck_wal", plugin_filename="blocking.py",
                          trigger_specification="all_tables")
    engine.create_trigger(DB, "counter", plugin_filename="ok.py",
                          trigger_specification="table:m")
    for i in range(3):
        engine.write_lp(DB, f"m v={i}i {i + 1}", precision="ns")
        time.sleep(0.2)
    try:
        # A hung trigger holds one delivery back for DEFAULT_DELIVERY_TIMEOUT (2 s), then lags.
        _wait_for(lambda: _rows_seen(engine) == 3, 8, "the other WAL trigger to see every row")
    finally:
        engine.disable_trigger(DB, "stuck_wal")  # lets the engine stop at once


# -- a plugin that leaks memory ---------------------------------------------------------------

LEAKING_PLUGIN = '''\
class Hoard(list):
    pass


HOARD = Hoard()


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    HOARD.append(b"\\x01" * (16 * 1024 * 1024))
    return {"held_mb": 16 * len(HOARD)}
'''


def _hoarded_mb() -> int:
    """MiB held by live `Hoard` lists of the leaking plugin (found through the collector)."""
    gc.collect()
    hoards = [o for o in gc.get_objects() if type(o).__name__ == "Hoard"]
    return sum(len(item) for hoard in hoards for item in hoard) // 2**20


def test_memory_a_plugin_leaks_is_returned_when_its_trigger_is_deleted(
        engine: Engine, plugin_dir: Path) -> None:
    (plugin_dir / "leaky.py").write_text(LEAKING_PLUGIN)
    engine.create_trigger(DB, "leaky", plugin_filename="leaky.py",
                          trigger_specification="request:leaky")
    for calls in range(1, 9):
        assert json.loads(engine.handle_request("leaky").body) == {"held_mb": 16 * calls}
    assert json.loads(engine.handle_request("ok").body) == {"ok": True}
    assert _hoarded_mb() == 128
    # RSS is not a reliable measure here (glibc keeps freed heap pages); the objects are.
    engine.delete_trigger(DB, "leaky")
    assert _hoarded_mb() == 0


# -- a plugin that spawns threads -------------------------------------------------------------

SPAWNING_PLUGIN = '''\
import os
import subprocess
import sys
import threading
import time


def _linger(release):
    while not os.path.exists(release):
        time.sleep(0.01)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    for _ in range(5):
        threading.Thread(target=_linger, args=(args["release"],),
                         daemon=query_parameters.get("daemon") == "1").start()
    return {"threads": threading.active_count()}
'''


def test_threads_a_plugin_spawns_do_not_stop_the_engine(engine: Engine, plugin_dir: Path
                                                          ) -> None:
    release = plugin_dir / "release"
    (plugin_dir / "spawner.py").write_text(SPAWNING_PLUGIN)
    engine.create_trigger(DB, "spawner", plugin_filename="spawner.py",
                          trigger_specification="request:spawner",
                          trigger_arguments={"release": str(release)})
    def lingering() -> int:
        return sum("_linger" in thread.name for thread in threading.enumerate())

    try:
        for i in range(6):
            response = engine.handle_request("spawner", query_params={"daemon": str(i % 2)})
            assert response.status == 200
        assert lingering() == 30
        assert engine.handle_request("ok").status == 200
        engine.write_lp(DB, "after_threads v=1i 1", precision="ns")
        engine.delete_trigger(DB, "spawner")
        assert engine.query(DB, "SELECT count(*) AS n FROM after_threads") == [{"n": 1}]
    finally:
        release.touch()
    _wait_for(lambda: lingering() == 0, 10, "the plugin's threads to end")


# -- a plugin that crashes on import ----------------------------------------------------------

_ENTRY = ("\n\ndef process_request(influxdb3_local, query_parameters, request_headers, "
          "request_body, args=None):\n    return {'ok': True}\n")
CRASHES = {
    "raises": "raise RuntimeError('broken at import')",
    "missing-module": "import a_module_that_does_not_exist_anywhere",
    "sys-exit": "import sys\nsys.exit(3)",
    "keyboard-interrupt": "raise KeyboardInterrupt",
    "recursion": "def f():\n    return f()\nf()",
    "memory-error": "raise MemoryError",
}


@pytest.mark.parametrize("crash", list(CRASHES.values()), ids=list(CRASHES))
def test_a_plugin_crashing_on_import_fails_its_calls_only(engine: Engine, plugin_dir: Path,
                                                          crash: str) -> None:
    (plugin_dir / "crashing.py").write_text(crash + _ENTRY)
    engine.create_trigger(DB, "crashing", plugin_filename="crashing.py",
                          trigger_specification="request:crashing")
    for _ in range(2):
        response = engine.handle_request("crashing")
        assert response.status == 500
        assert json.loads(response.body)["error"]
    assert engine.running
    assert engine.handle_request("ok").status == 200
    engine.delete_trigger(DB, "crashing")


def test_a_reload_that_crashes_keeps_the_old_version_until_the_code_is_fixed(
        engine: Engine, plugin_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = plugin_dir / "reloaded.py"
    path.write_text(_VERSIONED.format(version=1))
    engine.create_trigger(DB, "reloaded", plugin_filename="reloaded.py",
                          trigger_specification="request:reloaded")
    assert json.loads(engine.handle_request("reloaded").body) == {"version": 1}
    _save(path, CRASHES["raises"] + "\n" + _VERSIONED.format(version=2))
    _wait_for(lambda: engine.handle_request("reloaded").status == 200
              and "failed to reload" in caplog.text, 10, "the failed reload")
    assert json.loads(engine.handle_request("reloaded").body) == {"version": 1}
    assert engine.handle_request("ok").status == 200
    _save(path, _VERSIONED.format(version=3))
    _wait_for(lambda: json.loads(engine.handle_request("reloaded").body) == {"version": 3}, 10,
              "the fixed code")


_VERSIONED = ("def process_request(influxdb3_local, query_parameters, request_headers, "
              "request_body, args=None):\n    return {{'version': {version}}}\n")


def _save(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_a_syntax_error_is_refused_when_the_trigger_is_created(engine: Engine,
                                                               plugin_dir: Path) -> None:
    (plugin_dir / "syntax.py").write_text("def (:\n" + _ENTRY)
    with pytest.raises(EngineError):
        engine.create_trigger(DB, "syntax", plugin_filename="syntax.py",
                              trigger_specification="request:syntax")
    assert [t.trigger_name for t in engine.list_triggers(DB)] == ["ok_request"]


@pytest.mark.parametrize("crash", ["raise KeyboardInterrupt", "import sys; sys.exit(3)",
                                   "raise MemoryError", "return request_body.missing"],
                         ids=["keyboard-interrupt", "sys-exit", "memory-error", "attribute-error"])
def test_a_plugin_crashing_in_a_call_fails_that_call_only(engine: Engine, plugin_dir: Path,
                                                          crash: str) -> None:
    (plugin_dir / "crash_call.py").write_text(
        "def process_request(influxdb3_local, query_parameters, request_headers, request_body,"
        f" args=None):\n    {crash}\n")
    engine.create_trigger(DB, "crash_call", plugin_filename="crash_call.py",
                          trigger_specification="request:crash_call")
    response = engine.handle_request("crash_call")
    assert response.status == 500 and json.loads(response.body)["error"]
    assert engine.running and engine.handle_request("ok").status == 200


# -- the disk fills up during a WAL write -----------------------------------------------------

# Runs in a child process: RLIMIT_FSIZE must not limit pytest, and the crash mode ends abruptly.
# "fsize" fills the disk with RLIMIT_FSIZE (a write past the limit fails with EFBIG; SIGXFSZ is
# ignored), "tmpfs" with a filler file on a small tmpfs mounted by the test (ENOSPC).
DISK_FULL_CHILD = r'''
import json, os, resource, signal, sys
from engine.engine import Engine
from engine.errors import WalWriteFailed

config = json.loads(sys.argv[1])
filler = os.path.join(config["disk"], "filler")


def say(**fields):
    print(json.dumps(fields), flush=True)


def fill():
    if config["mechanism"] == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        return
    stat = os.statvfs(config["disk"])
    if stat.f_blocks * stat.f_frsize > 64 * 1024 * 1024:
        raise SystemExit("refusing to fill a filesystem larger than 64 MiB")
    left = stat.f_bavail * stat.f_frsize - 32 * 1024
    with open(filler, "wb") as handle:
        while left > 0:
            left -= handle.write(b"\0" * min(left, 1 << 20))
        os.fsync(handle.fileno())


def free():
    if config["mechanism"] == "fsize":
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    else:
        os.remove(filler)


def write(name, text):
    try:
        engine.write_lp("d", text, precision="ns")
    except WalWriteFailed as exc:
        say(refused=name, error=str(exc))
        return
    except BaseException as exc:
        say(unexpected=repr(exc))
        return
    say(acked=name)


def batch(n):
    return "".join(f"acked,batch=b{n} id={n * 10 + k}i {n * 10 + k + 1}\n" for k in range(10))


engine = Engine(data_dir=config["data_dir"], background=False)
engine.start()
for n in range(20):
    write(n, batch(n))
fill()
write("big", "".join(f"big,k=v{i} s=\"{'x' * 100}\" {i + 1}\n" for i in range(5000)))
write(20, batch(20))
if config["mode"] == "crash_while_full":
    os._exit(0)
if config["mode"] == "recover":
    free()
    write(21, batch(21))
try:
    engine.stop()
    say(stopped="cleanly")
except WalWriteFailed as exc:
    say(stopped="with WalWriteFailed", error=str(exc))
except BaseException as exc:
    say(unexpected=repr(exc))
'''


def _tmpfs_available() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and Path("/proc/mounts").exists()


MECHANISMS = ["fsize", *(["tmpfs"] if _tmpfs_available() else [])]


@pytest.fixture
def disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory for the data: plain for `fsize`, a 4 MiB tmpfs mounted there for `tmpfs`."""
    path = tmp_path / "disk"
    path.mkdir()
    if request.param == "fsize":
        yield path
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("disk", MECHANISMS, indirect=True)
@pytest.mark.parametrize("mode", ["recover", "stop_while_full", "crash_while_full"])
def test_a_full_disk_fails_the_write_cleanly_and_loses_nothing_acknowledged(
        disk: Path, mode: str, request: pytest.FixtureRequest) -> None:
    mechanism = request.node.callspec.params["disk"]
    data_dir = disk / "data"
    config = {"disk": str(disk), "data_dir": str(data_dir), "mechanism": mechanism,
              "mode": mode}
    child = subprocess.run([sys.executable, "-c", DISK_FULL_CHILD, json.dumps(config)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    events = [json.loads(line) for line in child.stdout.splitlines()]
    assert not [e for e in events if "unexpected" in e], (events, child.stderr)
    acked = [e["acked"] for e in events if "acked" in e]
    refused = [e["refused"] for e in events if "refused" in e]
    assert acked[:20] == list(range(20)), events
    assert "big" in refused and 20 in refused, events  # the disk is full for both
    assert all("write-ahead log" in e["error"] for e in events if "refused" in e), events
    if mode == "recover":
        assert 21 in acked, events
    (disk / "filler").unlink(missing_ok=True)  # the operator frees space, then restarts
    with Engine(data_dir=data_dir, background=False) as engine:
        rows = engine.query("d", "SELECT batch, count(*) AS n, count(DISTINCT id) AS ids "
                                 "FROM acked GROUP BY batch")
    stored = {row["batch"]: (row["n"], row["ids"]) for row in rows}
    for name in acked:
        if name != "big":
            assert stored.get(f"b{name}") == (10, 10), (name, stored)
