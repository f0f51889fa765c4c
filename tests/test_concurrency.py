"""Concurrency: 50 HTTP clients against a live server while triggers churn; no deadlock.

A watchdog guards each test: if the test stalls it writes every thread's stack (faulthandler
and `sys._current_frames`) to stderr and fails the test; past a hard limit faulthandler ends
the process, so even a deadlocked main thread cannot hang CI.
"""

from __future__ import annotations

import faulthandler
import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_support import live_server, write_plugins

from engine.engine import Engine
from engine.http import create_app

DB = "conc"
CLIENTS = 50
TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"
BLOCKING_PLUGIN = '''\
import os
import time


def _block(args):
    # Runs until the test creates the release file (30 s at most, so nothing is left behind).
    deadline = time.monotonic() + 30
    open(args["started"], "w").close()
    while not os.path.exists(args["release"]) and time.monotonic() < deadline:
        time.sleep(0.002)


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    _block(args)
    return {"done": True}


def process_scheduled_call(influxdb3_local, call_time, args=None):
    _block(args)


def process_writes(influxdb3_local, table_batches, args=None):
    _block(args)
'''


class Watchdog:
    """Fails the test (after dumping every thread's stack) if it runs past `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.stalled = threading.Event()
        self.dump = ""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        self.dump = "\n".join(
            f"--- {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame))}"
            for ident, frame in sys._current_frames().items())
        self.stalled.set()

    def __enter__(self) -> Watchdog:
        # The hard limit: a deadlocked main thread cannot fail the test, so end the process.
        faulthandler.dump_traceback_later(self.seconds * 2 + 30, exit=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        faulthandler.cancel_dump_traceback_later()
        self._thread.join()
        assert not self.stalled.is_set(), f"stalled after {self.seconds} s:\n{self.dump}"

    def join(self, thread: threading.Thread) -> None:
        """Wait for `thread`, but never past the watchdog's limit."""
        while thread.is_alive() and not self.stalled.is_set():
            thread.join(0.1)
        assert not self.stalled.is_set(), f"stalled after {self.seconds} s:\n{self.dump}"


@pytest.fixture
def server(plugin_dir: Path) -> Iterator[tuple[Engine, str]]:
    write_plugins(plugin_dir)
    (plugin_dir / "blocking.py").write_text(BLOCKING_PLUGIN)
    with Engine(plugin_dir, wal_flush_interval=0.1) as engine:
        engine.create_database(DB)
        with live_server(create_app(engine, auth=False)) as url:
            yield engine, url


class Findings:
    """Unexpected answers and acknowledged writes, gathered from many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.acknowledged: dict[int, int] = {}  # client -> rows acknowledged
        self.requests = 0

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text[:300])

    def answered(self, response: httpx.Response, expected: tuple[int, ...], what: str) -> bool:
        with self.lock:
            self.requests += 1
        if response.status_code not in expected:
            self.problem(f"{what}: {response.status_code} {response.text}")
            return False
        return True


def _client_loop(url: str, client_id: int, stop: threading.Event, found: Findings) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for seq in itertools.count():
            if stop.is_set():
                return
            lines = "".join(f"rows,client=c{client_id} seq={seq * 3 + k}i {seq * 3 + k + 1}\n"
                            for k in range(3))
            written = client.post("/api/v3/write_lp", params={"db": DB, "precision": "ns"},
                                  content=lines)
            if found.answered(written, (204,), f"write c{client_id}"):
                with found.lock:
                    found.acknowledged[client_id] = found.acknowledged.get(client_id, 0) + 3
            queried = client.get("/api/v3/query_sql", params={
                "db": DB, "q": f"SELECT count(*) AS n FROM rows WHERE client = 'c{client_id}'"})
            if found.answered(queried, (200,), f"query c{client_id}"):
                seen = queried.json()[0]["n"]
                if seen < found.acknowledged.get(client_id, 0):
                    found.problem(f"c{client_id} sees {seen} of its acknowledged rows")


_CHURN_SPECS = [("table:rows", "wal.py"), ("all_tables", "wal.py"), ("every:1s", "schedule.py"),
                ("cron:* * * * * *", "schedule.py"), ("request:churn_{n}", "hello.py")]


def _churn_loop(engine: Engine, url: str, stop: threading.Event, found: Findings) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in itertools.count():
            if stop.is_set():
                return
            spec, plugin = _CHURN_SPECS[n % len(_CHURN_SPECS)]
            name = f"churn_{n}"
            body = {"db": DB, "trigger_name": name, "plugin_filename": plugin,
                    "trigger_specification": spec.format(n=n),
                    "trigger_settings": {"run_async": n % 2 == 0}}
            ident = {"db": DB, "trigger_name": name}
            found.answered(client.post(TRIGGER_PATH, json=body), (200,), f"create {name}")
            if spec.startswith("request"):
                called = client.get(f"/api/v3/engine/churn_{n}")
                found.answered(called, (200,), f"call {name}")
            found.answered(client.post(f"{TRIGGER_PATH}/disable", params=ident), (200,),
                           f"disable {name}")
            engine.enable_trigger(DB, name)
            if n % 3 == 0:
                engine.delete_trigger(DB, name, force=True)
            else:
                found.answered(client.delete(TRIGGER_PATH, params={**ident, "force": "true"}),
                               (200,), f"delete {name}")


def test_fifty_clients_write_and_query_while_triggers_churn(server: tuple[Engine, str]) -> None:
    engine, url = server
    found = Findings()
    stop = threading.Event()
    workers = [threading.Thread(target=_client_loop, args=(url, i, stop, found),
                                name=f"client-{i}", daemon=True) for i in range(CLIENTS)]
    workers.append(threading.Thread(target=_churn_loop, args=(engine, url, stop, found),
                                    name="churn", daemon=True))
    with Watchdog(60) as watchdog:
        for worker in workers:
            worker.start()
        time.sleep(6)
        stop.set()
        for worker in workers:
            watchdog.join(worker)
        engine.flush()
        counts = {row["client"]: row["n"] for row in engine.query(
            DB, "SELECT client, count(*) AS n FROM rows GROUP BY client")}
    assert found.problems == [], found.problems[:10]
    assert len(found.acknowledged) == CLIENTS and found.requests > CLIENTS * 2
    assert counts == {f"c{i}": n for i, n in found.acknowledged.items()}
    assert [t.trigger_name for t in engine.list_triggers(DB)] == []


# -- disable and delete --force while a plugin runs -------------------------------------------


def _blocked_call(engine: Engine, plugin_dir: Path, name: str, spec: str,
                  call: Callable[[], Any]) -> tuple[threading.Thread, Path]:
    """Create trigger `name` on the blocking plugin and start `call` in a thread; wait until the
    plugin runs. Returns the thread and the release file."""
    started, release = plugin_dir / f"{name}.started", plugin_dir / f"{name}.release"
    engine.create_trigger(DB, name, plugin_filename="blocking.py", trigger_specification=spec,
                          trigger_arguments={"started": str(started), "release": str(release)})
    thread = threading.Thread(target=call, name=f"call-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (started.exists() and engine.in_flight(DB, name)):
        assert time.monotonic() < deadline, "the blocking plugin did not start"
        time.sleep(0.005)
    return thread, release


def _timed(operation: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = operation()
    return time.perf_counter() - began, result


@pytest.mark.parametrize("how", ["api", "http"])
@pytest.mark.parametrize("operation", ["disable", "delete --force"])
@pytest.mark.parametrize("kind", ["request", "every", "table"])
def test_disable_and_forced_delete_answer_within_100ms_while_a_plugin_runs(
        server: tuple[Engine, str], plugin_dir: Path, kind: str, operation: str, how: str,
        record_property: Callable[[str, object], None]) -> None:
    engine, url = server
    name = f"blocked_{kind}"
    spec = {"request": "request:blocked", "every": "every:1h", "table": "table:blocked"}[kind]
    answers: list[Any] = []

    def run() -> None:
        if kind == "request":
            answers.append(httpx.get(f"{url}/api/v3/engine/blocked", timeout=60).status_code)
        elif kind == "every":
            answers.append(engine.run_trigger(DB, name).status)
        else:
            engine.write_lp(DB, "blocked v=1i")
            answers.append(engine.flush())  # returns once the (stopped) call is given up

    with Watchdog(45), httpx.Client(base_url=url) as client:
        client.get("/health")  # connection made before the clock starts
        thread, release = _blocked_call(engine, plugin_dir, name, spec, run)
        ident = {"db": DB, "trigger_name": name}
        act: Callable[[], Any] = {
            ("disable", "api"): lambda: engine.disable_trigger(DB, name),
            ("delete --force", "api"): lambda: engine.delete_trigger(DB, name, force=True),
            ("disable", "http"): lambda: client.post(f"{TRIGGER_PATH}/disable", params=ident),
            ("delete --force", "http"): lambda: client.delete(
                TRIGGER_PATH, params={**ident, "force": "true"}),
        }[(operation, how)]
        seconds, answer = _timed(act)
        assert how == "api" or answer.status_code == 200, answer.text
        assert engine.in_flight(DB, name) <= 1
        release.touch()
        thread.join(30)
    record_property("milliseconds", round(seconds * 1000, 2))
    sys.stdout.write(f"{operation} over {how} while a {kind} plugin runs: "
                     f"{seconds * 1000:.1f} ms\n")
    assert seconds < 0.100, f"{operation} over {how} took {seconds * 1000:.1f} ms"
    assert answers, "the blocked call never answered"
    stored = {t.trigger_name: t.disabled for t in engine.list_triggers(DB)}
    assert stored == ({name: True} if operation == "disable" else {})
