"""P5: lateness of 1,000 `every:1s` schedule triggers on the real clock, and the CPU they cost."""

from __future__ import annotations

import argparse
import calendar
import json
import os
import sys
import tempfile
import threading
import time
import types
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from engine import Engine

BAR_P99_MS = 20.0
BAR_CPU_PERCENT = 15.0
WARMUP_SECONDS = 3.0
SINK_MODULE = "_bench_scheduler_sink"
# The plugin notes the wall time at entry next to the tick it was called for; nothing else.
PLUGIN = f"""
import time
from {SINK_MODULE} import entries

def process_scheduled_call(influxdb3_local, call_time, args=None):
    entries.append((time.time(), call_time))
"""


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def install_sink() -> list[tuple[float, datetime]]:
    """A module the plugins import to hand their observations to the benchmark."""
    module = types.ModuleType(SINK_MODULE)
    entries: list[tuple[float, datetime]] = []
    module.entries = entries  # type: ignore[attr-defined]
    sys.modules[SINK_MODULE] = module
    return entries


def lateness_ms(entries: Sequence[tuple[float, datetime]], since: float) -> list[float]:
    """Plugin entry time minus the scheduled tick, for ticks at or after `since`."""
    out = []
    for entered, call_time in entries:
        tick = calendar.timegm(call_time.timetuple())
        if tick >= since:
            out.append((entered - tick) * 1000.0)
    return out


def run(triggers: int, seconds: float) -> dict[str, Any]:
    """Run `triggers` no-op every:1s triggers for `seconds` (after a warm-up) and measure."""
    entries = install_sink()
    with tempfile.TemporaryDirectory() as tmp:
        plugin_dir = Path(tmp)
        (plugin_dir / "noop.py").write_text(PLUGIN)
        engine = Engine(plugin_dir)
        engine.create_database("bench")
        for n in range(triggers):
            engine.create_trigger("bench", f"t{n}", plugin_filename="noop.py",
                                  trigger_specification="every:1s")
        process = psutil.Process()
        with engine:
            time.sleep(WARMUP_SECONDS)
            start = float(int(time.time()) + 1)
            time.sleep(start - time.time())
            cpu0, wall0 = _cpu(process), time.perf_counter()
            time.sleep(seconds)
            cpu1, wall1 = _cpu(process), time.perf_counter()
            threads = threading.active_count()
            runs = engine.query("bench", "SELECT scheduled_time, start_time FROM "
                                "system.processing_engine_runs WHERE scheduled_time IS NOT NULL")
    end = start + seconds
    late = lateness_ms([e for e in entries if calendar.timegm(e[1].timetuple()) < end], start)
    first, last = start * 1e9, end * 1e9
    run_late = [(r["start_time"] - r["scheduled_time"]) / 1e6 for r in runs
                if first <= r["scheduled_time"] < last]
    cpu_percent = (cpu1 - cpu0) / (wall1 - wall0) * 100.0
    return _summary(triggers, seconds, late, run_late, cpu_percent, threads)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _summary(triggers: int, seconds: float, late: list[float], run_late: list[float],
             cpu_percent: float, threads: int) -> dict[str, Any]:
    expected = triggers * int(seconds)
    p99 = percentile(late, 0.99) if late else float("inf")
    return {
        "benchmark": "P5 schedule lateness, every:1s triggers on the real clock",
        "triggers": triggers,
        "seconds": seconds,
        "runs_expected": expected,
        "runs_seen": len(late),
        "lateness_p50_ms": round(percentile(late, 0.50), 2) if late else None,
        "lateness_p99_ms": round(p99, 2),
        "lateness_max_ms": round(max(late), 2) if late else None,
        "run_record_lateness_p99_ms": round(percentile(run_late, 0.99), 2) if run_late else None,
        "cpu_percent_of_one_core": round(cpu_percent, 1),
        "threads": threads,
        # Other processes on the machine delay our threads too; read the numbers with this.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "bar_p99_ms": BAR_P99_MS,
        "bar_cpu_percent": BAR_CPU_PERCENT,
        "passed": p99 <= BAR_P99_MS and cpu_percent <= BAR_CPU_PERCENT
        and len(late) >= expected * 0.99,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run P5 and print the results; returns them as a dict."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scheduler",
                                     description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 triggers for 5 s")
    parser.add_argument("--triggers", type=int, default=None, help="default 1000")
    parser.add_argument("--seconds", type=float, default=None, help="default 30")
    args = parser.parse_args(argv)
    triggers = args.triggers or (100 if args.quick else 1000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    result = run(triggers, seconds)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
