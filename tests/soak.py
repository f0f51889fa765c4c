"""Soak test driver: a served engine under writes, triggers, requests, reloads and churn.

Run by hand as `python tests/soak.py --minutes 30 [--out figures.json]`; `tests/test_soak.py`
runs a short form in CI. One engine with a data directory is served by a real uvicorn on the
loopback interface while, until the deadline:

- writers write numbered ledger rows directly (`Engine.write_lp`) and over HTTP (`write_lp`),
  also touching the tables the `table:` triggers watch;
- 100 triggers of every kind (table, all_tables, cron, every, request) run one plugin file;
- clients call the request triggers and run SQL over HTTP;
- the plugin file is rewritten (atomic save) and the new version must be served;
- triggers are created, disabled, enabled and deleted (some with force) over HTTP and the API.

A sampler records RSS, thread count and open files each second. At the end every acknowledged
ledger row must be queryable, before and after a restart from the data directory.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_support import live_server

from engine.engine import Engine
from engine.http import create_app

DB = "soak"
PLUGIN = "soak_plugin.py"
KINDS = ("table", "all_tables", "cron", "every", "request")
TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"
PLUGIN_TEMPLATE = '''\
VERSION = {version}


def process_writes(influxdb3_local, table_batches, args=None):
    rows = sum(len(batch["rows"]) for batch in table_batches)
    influxdb3_local.cache.put("rows", influxdb3_local.cache.get("rows", 0) + rows)


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.cache.put("ticks", influxdb3_local.cache.get("ticks", 0) + 1)
    if args and args.get("write") == "1":
        influxdb3_local.write(LineBuilder("ticks").tag("trigger", args["n"]).int64_field("v", 1))


def process_request(influxdb3_local, query_parameters, request_headers, request_body,
                    args=None):
    return {{"version": VERSION, "n": (args or {{}}).get("n"), "q": query_parameters.get("q")}}
'''


@dataclass
class SoakOptions:
    """What one soak run does."""

    seconds: float
    triggers_per_kind: int = 100
    data_dir: Path | None = None
    plugin_dir: Path | None = None
    http_clients: int = 3
    reload_every: float = 5.0
    warmup_fraction: float = 0.5


@dataclass
class Figures:
    """What a soak run measured; `problems` lists every property that did not hold."""

    seconds: float = 0.0
    setup_seconds: float = 0.0
    restart_seconds: float = 0.0
    triggers_created: int = 0
    writes_acknowledged: int = 0
    lines_acknowledged: int = 0
    write_errors: int = 0
    http_requests: int = 0
    http_errors: int = 0
    queries: int = 0
    reloads: int = 0
    reload_seconds_max: float = 0.0
    churn_operations: int = 0
    churn_errors: int = 0
    plugin_runs: int = 0
    plugin_run_errors: int = 0
    rss_start_mb: float = 0.0
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    threads_start: int = 0
    threads_warm_max: int = 0
    threads_end: int = 0
    threads_max: int = 0
    fds_warm_max: int = 0
    fds_end: int = 0
    ledger_rows_expected: int = 0
    ledger_rows_found: int = 0
    ledger_rows_found_after_restart: int = 0
    timeline: list[tuple[float, float, int]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Tally:
    """Thread-safe counters and a few error samples."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self.figures, name, getattr(self.figures, name) + amount)

    def error(self, name: str, text: str) -> None:
        with self._lock:
            setattr(self.figures, name, getattr(self.figures, name) + 1)
            if len(self.figures.error_samples) < 20:
                self.figures.error_samples.append(f"{name}: {text[:300]}")


class Ledger:
    """The acknowledged ledger rows of each source, as half-open ranges of `seq`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ranges: dict[str, list[tuple[int, int]]] = {}

    def acknowledge(self, source: str, start: int, stop: int) -> None:
        with self._lock:
            self._ranges.setdefault(source, []).append((start, stop))

    def expected(self) -> dict[str, pa.Array]:
        """Every acknowledged `seq` of each source."""
        with self._lock:
            ranges = {source: list(spans) for source, spans in self._ranges.items()}
        return {source: pa.array(list(itertools.chain.from_iterable(
            range(a, b) for a, b in spans)), pa.int64()) for source, spans in ranges.items()}

    def count(self) -> int:
        with self._lock:
            return sum(b - a for spans in self._ranges.values() for a, b in spans)


def ledger_lines(source: str, start: int, stop: int) -> str:
    """Ledger rows `start..stop-1` of `source`, plus one row for a `table:` trigger's table."""
    rows = [f"ledger,src={source},shard=s{seq % 7} seq={seq}i {seq}" for seq in range(start, stop)]
    rows.append(f"m{start % 100},src={source} v={start}i {start}")
    return "\n".join(rows) + "\n"


class Sampler:
    """Samples RSS (MiB) and thread count of this process every `interval` seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        self.samples: list[tuple[float, float, int, int]] = []
        self._interval = interval
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def sample(self) -> tuple[float, float, int, int]:
        rss = self._process.memory_info().rss / 2**20
        entry = (time.monotonic(), rss, self._process.num_threads(), self._process.num_fds())
        self.samples.append(entry)
        return entry

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Soak:
    """One soak run: the engine, its server, the activities and the figures."""

    def __init__(self, options: SoakOptions, engine: Engine, url: str) -> None:
        self.options = options
        self.engine = engine
        self.url = url
        self.figures = Figures()
        self.tally = Tally(self.figures)
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.seq = itertools.count(0, 10)  # each write takes 10 consecutive numbers
        self.version = 1
        self._rng = random.Random(20250101)
        self._runs_counted_through: Any = None

    # -- set-up ---------------------------------------------------------------------------

    def create_triggers(self) -> None:
        """`triggers_per_kind` triggers of every kind on the soak plugin."""
        for kind in KINDS:
            for n in range(self.options.triggers_per_kind):
                self.engine.create_trigger(
                    DB, f"{kind}_{n}", plugin_filename=PLUGIN,
                    trigger_specification=spec_for(kind, n), trigger_arguments=args_for(kind, n),
                    trigger_settings={"run_async": n % 2 == 0})
                self.figures.triggers_created += 1

    def first_write(self) -> None:
        """One acknowledged ledger write before the clients start, so `ledger` exists."""
        start = next(self.seq)
        result = self.engine.write_lp(DB, ledger_lines("direct", start, start + 10),
                                      precision="ns")
        self._acknowledged("direct", start, result.lines_written, result.errors)

    # -- activities -----------------------------------------------------------------------

    def run_counter(self) -> None:
        while not self.stop.wait(2.0):
            self.count_runs()

    def count_runs(self) -> None:
        """Count the runs recorded since the last count (the history keeps only the latest)."""
        last = self._runs_counted_through
        fresh = [run for run in self.engine.observability.runs()
                 if last is None or run.started > last]
        if fresh:
            self._runs_counted_through = max(run.started for run in fresh)
        self.tally.add("plugin_runs", len(fresh))
        for run in fresh:
            if run.status == "error":
                self.tally.error("plugin_run_errors", f"{run.trigger_name}: {run.error}")

    def direct_writer(self) -> None:
        while not self.stop.is_set():
            start = next(self.seq)
            try:
                result = self.engine.write_lp(DB, ledger_lines("direct", start, start + 10),
                                              precision="ns")
            except Exception as exc:
                self.tally.error("write_errors", repr(exc))
                continue
            self._acknowledged("direct", start, result.lines_written, result.errors)
            time.sleep(0.005)

    def http_writer(self, client: httpx.Client) -> None:
        while not self.stop.is_set():
            start = next(self.seq)
            response = self._request(client, "POST", "/api/v3/write_lp",
                                     params={"db": DB, "precision": "nanosecond"},
                                     content=ledger_lines("http", start, start + 10))
            if response is not None and response.status_code == 204:
                self._acknowledged("http", start, 11, [])
            elif response is not None:
                self.tally.error("write_errors", f"{response.status_code} {response.text}")
            time.sleep(0.005)

    def _acknowledged(self, source: str, start: int, written: int, errors: list[Any]) -> None:
        if errors or written != 11:
            self.tally.error("write_errors", f"{written} lines written, errors {errors!r}")
            return
        self.ledger.acknowledge(source, start, start + 10)
        self.tally.add("writes_acknowledged")
        self.tally.add("lines_acknowledged", written)
        if self._rng.random() < 0.05:  # read-your-writes, now
            self._check_visible(source, start)

    def _check_visible(self, source: str, start: int) -> None:
        rows = self.engine.query(
            DB, "SELECT count(*) AS n FROM ledger WHERE src = $src AND seq >= $a AND seq < $b",
            {"src": source, "a": start, "b": start + 10})
        self.tally.add("queries")
        if rows[0]["n"] != 10:
            self.tally.error("write_errors", f"acknowledged rows {start}.. of {source} not "
                                             f"visible: {rows}")

    def requester(self, client: httpx.Client) -> None:
        rng = random.Random(threading.get_ident())
        while not self.stop.is_set():
            n = rng.randrange(self.options.triggers_per_kind)
            response = self._request(client, "GET", f"/api/v3/engine/request_{n}",
                                     params={"q": str(n)})
            if response is not None:
                self._check_plugin_answer(response, n)
            if rng.random() < 0.1:
                self._query_over_http(client)

    def _check_plugin_answer(self, response: httpx.Response, n: int) -> None:
        try:
            body = response.json()
            good = response.status_code == 200 and body["n"] == str(n) and body["q"] == str(n)
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            self.tally.error("http_errors", f"request_{n}: {response.status_code} "
                                            f"{response.text}")

    def _query_over_http(self, client: httpx.Client) -> None:
        response = self._request(client, "GET", "/api/v3/query_sql", params={
            "db": DB, "q": "SELECT count(*) AS n FROM ledger", "format": "json"})
        if response is None:
            return
        if response.status_code != 200:
            self.tally.error("http_errors", f"query: {response.status_code} {response.text}")
        self.tally.add("queries")

    def reloader(self, client: httpx.Client) -> None:
        while not self.stop.wait(self.options.reload_every):
            self.version += 1
            saved = time.monotonic()
            write_plugin(self.options.plugin_dir, self.version)
            self.tally.add("reloads")
            while not self.stop.is_set():
                response = self._request(client, "GET", "/api/v3/engine/request_0")
                if response is not None and response.status_code == 200 and \
                        response.json().get("version") == self.version:
                    took = time.monotonic() - saved
                    self.figures.reload_seconds_max = max(self.figures.reload_seconds_max, took)
                    break
                if time.monotonic() - saved > 10:
                    self.tally.error("http_errors", f"version {self.version} not served 10 s "
                                                    "after the save")
                    break
                time.sleep(0.01)

    def churner(self, client: httpx.Client) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            kind = KINDS[n % len(KINDS)]
            name = f"churn_{kind}_{n}"
            if n % 2:
                self._churn_over_http(client, kind, name, n)
            else:
                self._churn_direct(kind, name, n)
            time.sleep(0.02)

    def _churn_over_http(self, client: httpx.Client, kind: str, name: str, n: int) -> None:
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", TRIGGER_PATH, {"json": {
                "db": DB, "trigger_name": name, "plugin_filename": PLUGIN,
                "trigger_specification": spec_for(kind, 1000 + n),
                "trigger_arguments": args_for(kind, 1000 + n)}}),
            ("POST", f"{TRIGGER_PATH}/disable", {"params": {"db": DB, "trigger_name": name}}),
            ("POST", f"{TRIGGER_PATH}/enable", {"params": {"db": DB, "trigger_name": name}}),
            ("DELETE", TRIGGER_PATH, {"params": {"db": DB, "trigger_name": name,
                                                 "force": "true"}}),
        ]
        for method, path, kwargs in steps:
            response = self._request(client, method, path, **kwargs)
            self.tally.add("churn_operations")
            if response is not None and response.status_code != 200:
                self.tally.error("churn_errors", f"{method} {path}: {response.status_code} "
                                                 f"{response.text}")

    def _churn_direct(self, kind: str, name: str, n: int) -> None:
        steps: list[Callable[[], Any]] = [
            lambda: self.engine.create_trigger(
                DB, name, plugin_filename=PLUGIN, trigger_specification=spec_for(kind, 1000 + n),
                trigger_arguments=args_for(kind, 1000 + n)),
            lambda: self.engine.disable_trigger(DB, name),
            lambda: self.engine.enable_trigger(DB, name),
            lambda: self.engine.delete_trigger(DB, name, force=True),
        ]
        for step in steps:
            self.tally.add("churn_operations")
            try:
                step()
            except Exception as exc:
                self.tally.error("churn_errors", f"{name}: {exc!r}")

    def _request(self, client: httpx.Client, method: str, path: str,
                 **kwargs: Any) -> httpx.Response | None:
        self.tally.add("http_requests")
        try:
            response = client.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as exc:
            self.tally.error("http_errors", f"{method} {path}: {exc!r}")
            return None
        if response.status_code >= 500:
            self.tally.error("http_errors", f"{method} {path}: {response.status_code} "
                                            f"{response.text}")
        return response


def spec_for(kind: str, n: int) -> str:
    """The trigger specification of trigger `n` of `kind`."""
    return {
        "table": f"table:m{n % 100}",
        "all_tables": "all_tables",
        "cron": f"cron:{n % 2}/2 * * * * *",
        "every": "every:1s",
        "request": f"request:request_{n}",
    }[kind]


def args_for(kind: str, n: int) -> dict[str, str]:
    """Trigger arguments: its number, and for one cron trigger in ten, write back."""
    return {"n": str(n), "write": "1" if kind == "cron" and n % 10 == 0 else "0"}


def write_plugin(plugin_dir: Path | None, version: int) -> None:
    """Save the soak plugin as an editor does: write a temporary file, then rename it."""
    assert plugin_dir is not None
    temporary = plugin_dir / f".{PLUGIN}.tmp"
    temporary.write_text(PLUGIN_TEMPLATE.format(version=version))
    os.replace(temporary, plugin_dir / PLUGIN)


# -- the run ----------------------------------------------------------------------------------


def run_soak(options: SoakOptions) -> Figures:
    """Run the soak for `options.seconds` and return its figures, with `problems` filled in."""
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        options.plugin_dir = options.plugin_dir or _mkdir(root / "plugins")
        options.data_dir = options.data_dir or root / "data"
        write_plugin(options.plugin_dir, 1)
        sampler = Sampler()
        sampler.sample()
        engine = stack.enter_context(Engine(options.plugin_dir, data_dir=options.data_dir,
                                            memory_budget_bytes=32 * 2**20))
        engine.create_database(DB)
        url = stack.enter_context(live_server(create_app(engine, auth=False)))
        soak = Soak(options, engine, url)
        soak.create_triggers()
        soak.first_write()
        started = time.monotonic()
        soak.figures.setup_seconds = round(started - sampler.samples[0][0], 1)
        sampler.start()
        try:
            _run_activities(soak, options.seconds)
        finally:
            sampler.stop()
        soak.figures.seconds = round(time.monotonic() - started, 1)
        _finish(soak, sampler, started)
        stack.close()  # engine stopped: now read the data directory back
        restarted = time.monotonic()
        soak.figures.ledger_rows_found_after_restart = _found_after_restart(options, soak.ledger)
        soak.figures.restart_seconds = round(time.monotonic() - restarted, 1)
        soak.figures.problems = problems(soak.figures)
        return soak.figures


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _run_activities(soak: Soak, seconds: float) -> None:
    clients = [httpx.Client(timeout=30) for _ in range(soak.options.http_clients + 3)]
    activities: list[Callable[[], None]] = [
        soak.direct_writer,
        soak.run_counter,
        lambda: soak.http_writer(clients[0]),
        lambda: soak.reloader(clients[1]),
        lambda: soak.churner(clients[2]),
        *[lambda c=c: soak.requester(c) for c in clients[3:]],  # type: ignore[misc]
    ]
    threads = [threading.Thread(target=_guarded(soak, fn), name=f"soak-{i}", daemon=True)
               for i, fn in enumerate(activities)]
    for thread in threads:
        thread.start()
    soak.stop.wait(seconds)
    soak.stop.set()
    for thread in threads:
        thread.join(60)
        if thread.is_alive():
            soak.tally.error("http_errors", f"{thread.name} did not stop within 60 s")
    for client in clients:
        client.close()


def _guarded(soak: Soak, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception as exc:  # an activity that dies is a finding, not a crash of the run
            soak.tally.error("http_errors", f"activity died: {exc!r}")
    return run


def _finish(soak: Soak, sampler: Sampler, started: float) -> None:
    figures, engine = soak.figures, soak.engine
    engine.flush()
    end = sampler.sample()
    samples = sampler.samples
    warm_until = started + soak.options.warmup_fraction * soak.options.seconds
    warm = [s for s in samples if started <= s[0] <= warm_until] or samples[:2]
    figures.rss_start_mb = round(samples[0][1], 1)
    figures.rss_warm_mb = round(warm[-1][1], 1)
    figures.rss_end_mb = round(end[1], 1)
    figures.rss_max_mb = round(max(s[1] for s in samples), 1)
    figures.threads_start = samples[0][2]
    figures.threads_warm_max = max(s[2] for s in samples if s[0] <= warm_until)
    figures.threads_end = end[2]
    figures.threads_max = max(s[2] for s in samples)
    step = max(1, len(samples) // 30)
    figures.timeline = [(round(t - started, 1), round(rss, 1), threads)
                        for t, rss, threads, _ in samples[::step]]
    figures.fds_warm_max = max(s[3] for s in samples if s[0] <= warm_until)
    figures.fds_end = end[3]
    soak.count_runs()
    figures.ledger_rows_expected = soak.ledger.count()
    figures.ledger_rows_found = _found(engine, soak.ledger)


def _found(engine: Engine, ledger: Ledger) -> int:
    """How many acknowledged ledger rows a query finds (each at most once)."""
    found = 0
    for source, expected in ledger.expected().items():
        table = engine.query_arrow(DB, "SELECT seq FROM ledger WHERE src = $src", {"src": source})
        seqs = table.column("seq").combine_chunks()
        if len(pc.unique(seqs)) != len(seqs):
            return -1  # duplicated rows: flagged as a problem
        found += pc.sum(pc.is_in(expected, value_set=seqs)).as_py() or 0
    return found


def _found_after_restart(options: SoakOptions, ledger: Ledger) -> int:
    with Engine(options.plugin_dir, data_dir=options.data_dir, watch_plugins=False) as engine:
        return _found(engine, ledger)


def problems(figures: Figures) -> list[str]:
    """Every soak property that did not hold, in words."""
    found: list[str] = []
    growth = figures.rss_end_mb - figures.rss_warm_mb
    if growth > max(64.0, 0.25 * figures.rss_warm_mb):
        found.append(f"memory grew by {growth:.0f} MiB after warm-up")
    if figures.threads_end > figures.threads_warm_max + 8:
        found.append(f"threads grew from {figures.threads_warm_max} to {figures.threads_end}")
    if figures.fds_end > figures.fds_warm_max + 16:
        found.append(f"open files grew from {figures.fds_warm_max} to {figures.fds_end}")
    for name in ("write_errors", "http_errors", "churn_errors"):
        if getattr(figures, name):
            found.append(f"{getattr(figures, name)} {name.replace('_', ' ')}")
    if figures.plugin_run_errors:
        found.append(f"{figures.plugin_run_errors} plugin runs failed")
    expected = figures.ledger_rows_expected
    if not expected:
        found.append("no write was acknowledged")
    if figures.ledger_rows_found != expected:
        found.append(f"{expected} ledger rows acknowledged, {figures.ledger_rows_found} found")
    if figures.ledger_rows_found_after_restart != expected:
        found.append(f"{expected} ledger rows acknowledged, "
                     f"{figures.ledger_rows_found_after_restart} found after a restart")
    return found


def main(argv: list[str] | None = None) -> int:
    """`python tests/soak.py --minutes 30 [--out FILE]`: run, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--triggers-per-kind", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes is not None else args.seconds
    figures = run_soak(SoakOptions(seconds=seconds, triggers_per_kind=args.triggers_per_kind))
    text = json.dumps(asdict(figures), indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
