"""The benchmark suite: runs P1-P8 of PRODUCT §7 module by module and reports against the bars.

Each module (`benchmarks/bench_*.py`) runs in its own child process through its `main(argv)`;
its result is normalised into rows `{id, measure, ratio, bar, meets, unit, details}`
(`benchmarks.figures`). A module that fails is recorded and the suite goes on; the exit status
is 1 when any failed (and, with `--strict`, when any bar is missed). Output in `--output`:
`results.json`, `summary.md`, `throughput.png`, `latency.png`, `bars.png`, and one log per module
in `logs/`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.figures import NORMALISERS, Figures
from benchmarks.progress import Progress, clock

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Benchmark:
    """One module of the suite: the figures it gives, its arguments, and how long it takes."""

    module: str
    figures: tuple[str, ...]
    full: tuple[str, ...]
    quick: tuple[str, ...]
    # Rough seconds on a 2-core machine, for the progress bar only.
    full_seconds: float
    quick_seconds: float


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("bench_ingest", ("P1", "P2", "P7", "P8"), (), ("--quick",), 240, 30),
    Benchmark("bench_dispatch", ("P3",), (), ("--quick",), 150, 25),
    Benchmark("bench_http", ("P4",), (), ("--quick",), 45, 10),
    Benchmark("bench_scheduler", ("P5",), (), ("--quick",), 45, 12),
    Benchmark("bench_reload", ("P6",), (), ("--quick",), 30, 8),
    # The parser on its own is not a §7 bar; shown for context (id LP). 200k lines, not the
    # module's 1M: its escaped payload goes through the slow general parser.
    Benchmark("bench_lineprotocol", ("LP",), ("--lines", "200000"),
              ("--lines", "20000", "--repeat", "1"), 150, 5),
)


def select(only: str | None) -> list[Benchmark]:
    """The benchmarks giving any of the comma-separated figure ids (or module names); all if None.

    Raises:
        SystemExit: An id matches no benchmark.
    """
    if not only:
        return list(BENCHMARKS)
    wanted = {part.strip().upper() for part in only.split(",") if part.strip()}
    known = {f for b in BENCHMARKS for f in b.figures} | {b.module.upper() for b in BENCHMARKS}
    unknown = sorted(wanted - known)
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(unknown)}; accepted: "
                         f"{', '.join(sorted(f for b in BENCHMARKS for f in b.figures))} or a "
                         "module name such as bench_ingest")
    return [b for b in BENCHMARKS if wanted & (set(b.figures) | {b.module.upper()})]


def run_module(bench: Benchmark, argv: Sequence[str], output: Path,
               timeout: float) -> dict[str, Any]:
    """Run one module's `main(argv)` in a child process; its stdout and stderr go to a log.

    Raises:
        RuntimeError: The module failed or timed out (the message ends with its last log lines).
    """
    logs = output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{bench.module}.log"
    target = logs / f"{bench.module}.json"
    target.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.child", bench.module, str(target), *argv]
    with log.open("w") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        try:
            done = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {timeout:g} s; see {log}") from None
    if done.returncode != 0 or not target.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"exit status {done.returncode}; see {log}\n{tail}")
    result: dict[str, Any] = json.loads(target.read_text())
    return result


def run_all(benches: Sequence[Benchmark], *, quick: bool, output: Path,
            timeout: float) -> dict[str, Any]:
    """Run the benchmarks in turn with a progress bar; the payload written to results.json."""
    started = datetime.now(UTC)
    began = time.monotonic()
    box = report.machine()  # before the run: its load average is the machine's, not ours
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    merged = Figures()
    raw: dict[str, Any] = {}
    expected = [b.quick_seconds if quick else b.full_seconds for b in benches]
    with Progress(expected) as progress:
        for bench in benches:
            progress.start(f"{bench.module} ({', '.join(bench.figures)})")
            try:
                result = run_module(bench, bench.quick if quick else bench.full, output, timeout)
                figures = NORMALISERS[bench.module](result)
            except (RuntimeError, KeyError, TypeError, ValueError) as error:
                failures.append({"module": bench.module, "figures": list(bench.figures),
                                 "error": str(error).strip("'\"")})
                progress.finish("FAILED")
                continue
            raw[bench.module] = result
            rows += figures.rows
            merged.throughput += figures.throughput
            merged.latency += figures.latency
            missed = [r["id"] for r in figures.rows if not r["meets"]]
            progress.finish(f"ok, misses {', '.join(missed)}" if missed else "ok, meets its bars")
    return {"suite": "processing-engine benchmarks (PRODUCT.md §7)", "quick": quick,
            "started": started.isoformat(timespec="seconds"),
            "duration_seconds": round(time.monotonic() - began, 1),
            "load_average_end": report.load_average(),
            "machine": box, "rows": rows, "failures": failures,
            "charts": {"throughput": merged.throughput, "latency": merged.latency}, "raw": raw}


def print_rows(payload: dict[str, Any]) -> None:
    """Each row's figure against its bar, then the failures."""
    print(f"\n{'id':12s} {'figure':>14s}  {'bar':22s} verdict   measure")
    for row in payload["rows"]:
        value = row["ratio"]
        figure = "n/a" if value is None else (
            f"{value:.3f}x" if row["unit"] == "x" else f"{value:.2f} {row['unit'].split()[0]}")
        verdict = "MEETS" if row["meets"] else "MISSES"
        print(f"{row['id']:12s} {figure:>14s}  {row['bar']:22s} {verdict:9s} {row['measure']}")
    for failure in payload["failures"]:
        print(f"{'/'.join(failure['figures']):12s} {'FAILED':>14s}  {failure['module']}: "
              f"{failure['error'].splitlines()[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; returns the exit status (1 when a module failed, or a bar missed with
    --strict)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="run every benchmark briefly: a smoke run, figures not meaningful")
    parser.add_argument("--output", type=Path, default=Path("bench-results"),
                        help="directory for results.json, summary.md, charts and logs "
                        "(default ./bench-results)")
    parser.add_argument("--only", metavar="IDS",
                        help="comma-separated figure ids (P1,P6) or module names to run")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is missed")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds allowed per module (default 1800, 600 with --quick)")
    args = parser.parse_args(argv)
    benches = select(args.only)
    output: Path = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    timeout = args.timeout or (600.0 if args.quick else 1800.0)
    payload = run_all(benches, quick=args.quick, output=output, timeout=timeout)
    report.write_json(output / "results.json", payload)
    (output / "summary.md").write_text(report.markdown(payload))
    print_rows(payload)
    try:
        report.charts(output, payload)
    except ImportError:
        print("charts skipped: matplotlib is not installed (pip install '.[bench]')",
              file=sys.stderr)
    print(f"\n{len(payload['rows'])} figures, {len(payload['failures'])} failed modules, "
          f"{clock(payload['duration_seconds'])}; results in {output}")
    missed = any(not row["meets"] for row in payload["rows"])
    return 1 if payload["failures"] or (args.strict and missed) else 0
