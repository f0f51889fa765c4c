"""P4: a request trigger returning a small dict against a bare Starlette endpoint, same uvicorn.

Both apps run in this process on `uvicorn[standard]` (one `uvicorn.Server` each, in background
threads, on free loopback ports): the engine's ASGI app (`engine.http.create_app(engine,
auth=False)`) serving `request:bench` with a plugin returning `{"ok": True, "n": 1}`, and a bare
Starlette route returning the same dict as `JSONResponse`. A separate load-generator process
(this module with `--client`: raw HTTP/1.1 keep-alive over asyncio, so the client stays cheap)
keeps 32 connections busy against one app at a time; the apps alternate for several rounds.

The figure is the median over rounds of engine req/s over bare req/s (bar >= 0.6), and the
engine's p99 latency over the bare endpoint's p99, both pooled over rounds (bar <= 2.0).

As in the HTTP measurements this project started from (server under `taskset -c 0`, load
generator under `taskset -c 1`), the servers' threads are pinned to one CPU and the load
generator to another, when the machine has two: on a two-core machine the load generator would
otherwise steal the core the server's threads move to. `--no-pin` measures without pinning.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BAR_RATE = 0.6
BAR_P99 = 2.0
PAYLOAD = {"ok": True, "n": 1}
PLUGIN = (
    "def process_request(influxdb3_local, query_parameters, request_headers, request_body,"
    " args=None):\n"
    "    return {'ok': True, 'n': 1}\n"
)
ENGINE_PATH = "/api/v3/engine/bench"
BARE_PATH = "/bare"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


# The load generator (runs in its own process).


async def _one_connection(port: int, path: str, until: float, measure_from: float,
                          latencies: list[float], failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    try:
        while (start := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = _status_and_length(head)
            await reader.readexactly(length)
            if status != 200:
                failures.append(f"status {status}")
            elif start >= measure_from:
                latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


def _status_and_length(head: bytes) -> tuple[int, int]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value)
    raise RuntimeError(f"response without Content-Length: {head!r}")


async def _load(port: int, path: str, connections: int, seconds: float,
                warmup: float) -> dict[str, Any]:
    begin = time.perf_counter()
    latencies: list[float] = []
    failures: list[str] = []
    await asyncio.gather(*(
        _one_connection(port, path, begin + warmup + seconds, begin + warmup, latencies, failures)
        for _ in range(connections)
    ))
    return {"requests": len(latencies), "seconds": seconds, "failures": failures[:5],
            "failed": len(failures), "latencies_ms": [x * 1000 for x in latencies]}


def client_main(port: int, path: str, connections: int, seconds: float, warmup: float,
                target: Path) -> None:
    """Load one endpoint and write the outcome as JSON to `target`."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        pass
    target.write_text(json.dumps(asyncio.run(_load(port, path, connections, seconds, warmup))))


def pinning_plan(pin: bool) -> tuple[int, int] | None:
    """(server CPU, load-generator CPU), or None when not pinning (asked, or fewer than two
    CPUs this process may use, or no CPU affinity on this platform)."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


@contextmanager
def pinned(cpu: int | None) -> Iterator[None]:
    """Run the block, and every thread it starts, on `cpu` (None: no change)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})  # this thread; threads started from now on inherit it
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def load(port: int, path: str, connections: int, seconds: float, warmup: float,
         cpu: int | None = None) -> dict[str, Any]:
    """Run the load generator in a child process against one endpoint and return its outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "outcome.json"
        command = [sys.executable, "-m", "benchmarks.bench_http", "--client", str(port), path,
                   str(target), "--connections", str(connections), "--seconds", str(seconds),
                   "--warmup", str(warmup)]
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              cwd=Path(__file__).resolve().parents[1],
                              timeout=seconds + warmup + 60,
                              preexec_fn=None if cpu is None else _pin_child(cpu))
        if done.returncode != 0 or not target.exists():
            raise RuntimeError(f"load generator failed: {done.stderr.strip()[-2000:]}")
        outcome: dict[str, Any] = json.loads(target.read_text())
    if outcome["failed"]:
        raise RuntimeError(f"{outcome['failed']} requests to {path} failed: {outcome['failures']}")
    return outcome


def _pin_child(cpu: int) -> Any:
    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


# The servers (in this process).


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serve `app` on uvicorn in a background thread on a free loopback port; yields the port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"uvicorn-{sock.getsockname()[1]}")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def bare_app() -> Any:
    """A Starlette app with one route returning the same small dict."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(PAYLOAD)

    return Starlette(routes=[Route(BARE_PATH, endpoint)])


def summarize(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Requests per second per round, and latency percentiles pooled over rounds."""
    pooled = [x for outcome in outcomes for x in outcome["latencies_ms"]]
    if not pooled:
        raise RuntimeError("no request completed")
    return {
        "req_per_s": [round(o["requests"] / o["seconds"], 1) for o in outcomes],
        "requests": sum(o["requests"] for o in outcomes),
        "p50_ms": round(percentile(pooled, 0.50), 3),
        "p95_ms": round(percentile(pooled, 0.95), 3),
        "p99_ms": round(percentile(pooled, 0.99), 3),
    }


def measure(rounds: int, connections: int, seconds: float, warmup: float,
            pin: bool = True) -> dict[str, Any]:
    """Alternate load on the bare endpoint and the request trigger; summarize both."""
    from engine.engine import Engine
    from engine.http import create_app

    plan = pinning_plan(pin)
    server_cpu, client_cpu = plan if plan else (None, None)
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "engine": []}
    with tempfile.TemporaryDirectory() as tmp, pinned(server_cpu):
        (Path(tmp) / "small.py").write_text(PLUGIN)
        # As `serve` runs it: background threads and the plugin watcher on.
        with Engine(tmp) as engine:
            engine.create_database("bench")
            engine.create_trigger("bench", "small", plugin_filename="small.py",
                                  trigger_specification="request:bench")
            with serving(bare_app()) as bare_port, \
                    serving(create_app(engine, auth=False)) as engine_port:
                for _ in range(rounds):
                    runs["bare"].append(load(bare_port, BARE_PATH, connections, seconds, warmup,
                                             client_cpu))
                    runs["engine"].append(load(engine_port, ENGINE_PATH, connections, seconds,
                                               warmup, client_cpu))
    figures: dict[str, Any] = {name: summarize(outcomes) for name, outcomes in runs.items()}
    figures["pinned"] = {"server_cpu": server_cpu, "load_generator_cpu": client_cpu}
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run P4, print the ratios against their bars, and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round of 1.5 s per endpoint")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per load phase")
    parser.add_argument("--warmup", type=float, default=None, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the servers and the load generator to separate CPUs")
    parser.add_argument("--client", nargs=3, metavar=("PORT", "PATH", "RESULT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    if args.client:
        client_main(int(args.client[0]), args.client[1], args.connections, seconds, warmup,
                    Path(args.client[2]))
        return {}
    rounds = args.rounds or (1 if args.quick else 5)
    figures = measure(rounds, args.connections, seconds, warmup, pin=not args.no_pin)
    bare, served = figures["bare"], figures["engine"]
    rate = statistics.median(e / b for e, b in zip(served["req_per_s"], bare["req_per_s"],
                                                    strict=True))
    p99 = served["p99_ms"] / bare["p99_ms"]
    result: dict[str, Any] = {
        "connections": args.connections, "rounds": rounds, "seconds": seconds,
        "pinned": figures["pinned"],
        "bare_starlette": bare, "request_trigger": served,
        "P4": {"ratio": round(rate, 3), "bar": f">= {BAR_RATE}", "meets": rate >= BAR_RATE},
        "P4_p99": {"ratio": round(p99, 3), "bar": f"<= {BAR_P99}", "meets": p99 <= BAR_P99},
    }
    for key in ("P4", "P4_p99"):
        row = result[key]
        print(f"{key}: ratio {row['ratio']:.3f} (bar {row['bar']}) -> "
              f"{'MEETS' if row['meets'] else 'MISSES'}")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
