"""The `bench` verb: measure a plugin's throughput, latency and engine overhead, in process."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..bench import BenchLoad, BenchReport, run_bench
from ..bench_template import DEFAULT_TEMPLATE, LineTemplate, batches, file_batches
from ..clock import now_ns
from ..errors import EngineError
from ..spec import TriggerSpec
from .test_cmd import UsageProblem, parse_arguments

_DESCRIPTION = (
    "Benchmark one plugin through a trigger in an in-memory engine (no server): table: and "
    "all_tables specs get line protocol writes (--lp-file, or --generate N lines from "
    "--template), each flushed so the plugin runs once per write; request: specs get "
    "--requests calls from --concurrency threads; cron: and every: specs get --requests runs "
    "of 'run now'. Reports throughput, latency p50/p95/p99, and how the time splits between "
    "the plugin (from the run history) and engine overhead. Exit status: 0, 1 when any "
    "operation failed, 2 for a usage error."
)
_TEMPLATE_HELP = (
    "line template for --generate (default %(default)r); placeholders: {i}, {i%%N}, {i//N}, "
    "{rand}, {rand:N}, {randint:N}, {choice:a|b}, {time}"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `bench` subcommand."""
    parser = subparsers.add_parser("bench", help="measure a plugin's throughput and latency",
                                   description=_DESCRIPTION)
    parser.add_argument("plugin", metavar="PLUGIN",
                        help="the plugin file or directory (relative to --plugin-dir if given)")
    parser.add_argument("--trigger-spec", "-s", required=True, metavar="SPEC",
                        help="table:NAME, all_tables, cron:EXPR, every:DURATION or request:PATH")
    parser.add_argument("--plugin-dir", type=Path, default=None,
                        help="the plugin directory (default: the folder holding PLUGIN)")
    parser.add_argument("-d", "--database", default="bench", help="database (default bench)")
    parser.add_argument("--trigger-arguments", action="append", default=[], metavar="K=V,...",
                        help="arguments for the plugin (repeatable)")
    wal = parser.add_argument_group("table: and all_tables specs")
    source = wal.add_mutually_exclusive_group()
    source.add_argument("--lp-file", type=Path, help="line protocol to write")
    source.add_argument("--generate", type=int, metavar="N", help="write N synthetic lines")
    wal.add_argument("--template", default=DEFAULT_TEMPLATE, help=_TEMPLATE_HELP)
    wal.add_argument("--batch-lines", type=int, default=1000, metavar="N",
                     help="lines per write, each write flushed (default 1000)")
    wal.add_argument("--seed", type=int, default=0, help="random seed for --template")
    calls = parser.add_argument_group("request: and schedule specs")
    calls.add_argument("--requests", "--calls", dest="requests", type=int, default=None,
                       metavar="N", help="calls to make (default 1000 requests, 100 runs)")
    calls.add_argument("--concurrency", type=int, default=1, help="threads making calls")
    calls.add_argument("--method", default="GET", choices=("GET", "POST"))
    calls.add_argument("--body", default=None, help="request body; @FILE reads a file")
    calls.add_argument("--query", action="append", default=[], metavar="NAME=VALUE",
                       help="query parameter (repeatable)")
    calls.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                       help="request header (repeatable)")
    parser.add_argument("--warmup", type=int, default=1, metavar="N",
                        help="unmeasured operations first, for the plugin's import (WAL specs: "
                        "the first N writes are sent once more before the measured run)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    parser.add_argument("--verbose", action="store_true", help="show the plugin's log lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its report; returns the exit status."""
    from ..engine import Engine  # the heavy import only when the verb runs

    try:
        plugin_dir, plugin = _locate(args.plugin, args.plugin_dir)
        spec = TriggerSpec.parse(args.trigger_spec)
        arguments = parse_arguments(args.trigger_arguments)
        with Engine(plugin_dir, watch_plugins=False, wal_flush_interval=3600.0) as engine:
            load = _load(args, spec, now_ns(engine.clock))
            with _plugin_logs(args.verbose):
                report = run_bench(engine, plugin, str(spec), load, database=args.database,
                                   trigger_arguments=arguments,
                                   progress=_progress(args, sys.stderr))
    except (UsageProblem, OSError, EngineError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1 if isinstance(error, EngineError) and not isinstance(error, ValueError) else 2
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report, plugin))
    return 1 if report.failures else 0


def _locate(plugin: str, plugin_dir: Path | None) -> tuple[Path, str]:
    if plugin_dir is None:
        path = Path(plugin).resolve()
        if not path.exists():
            raise UsageProblem(f"plugin {plugin!r} not found")
        return path.parent, path.name
    base = plugin_dir.resolve()
    if (base / plugin).exists():
        return base, plugin
    path = Path(plugin).resolve()
    if path.exists() and path.is_relative_to(base):
        return base, path.relative_to(base).as_posix()
    raise UsageProblem(f"plugin {plugin!r} not found in --plugin-dir {plugin_dir}")


def _load(args: argparse.Namespace, spec: TriggerSpec, now_ns: int) -> BenchLoad:
    if spec.is_wal:
        if args.batch_lines < 1:
            raise UsageProblem(f"--batch-lines must be at least 1, got {args.batch_lines}")
        if args.lp_file is not None:
            writes = file_batches(args.lp_file, args.batch_lines)
        elif args.generate is not None and args.generate >= 1:
            template = LineTemplate.parse(args.template, start_ns=now_ns)
            writes = batches(template.lines(args.generate, seed=args.seed), args.batch_lines)
        else:
            raise UsageProblem(f"{spec} needs --lp-file FILE or --generate N (N >= 1)")
        return BenchLoad(writes=writes, warmup=args.warmup)
    calls = args.requests if args.requests is not None else (1000 if spec.is_request else 100)
    return BenchLoad(calls=calls, concurrency=args.concurrency, method=args.method,
                     query_params=_pairs(args.query, "=", "--query"),
                     headers=_pairs(args.header, ":", "--header"), body=_body(args.body),
                     warmup=args.warmup)


def _pairs(values: list[str], separator: str, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, found, rest = value.partition(separator)
        if not found or not name.strip():
            raise UsageProblem(f"{option} {value!r} must be formatted as NAME{separator}VALUE")
        pairs[name.strip()] = rest.strip() if separator == ":" else rest
    return pairs


def _body(text: str | None) -> bytes:
    if text is None:
        return b""
    return Path(text[1:]).read_bytes() if text.startswith("@") else text.encode()


@contextmanager
def _plugin_logs(verbose: bool) -> Iterator[None]:
    """Keep plugin log lines (forwarded to `engine.plugins`) off the terminal unless verbose."""
    logger = logging.getLogger("engine.plugins")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _progress(args: argparse.Namespace, stream: TextIO) -> Callable[[int, int], None] | None:
    if args.no_progress:
        return None
    live = stream.isatty()
    shown = [-1]

    def show(done: int, total: int) -> None:
        percent = done * 100 // total
        if live:
            bar = "#" * (percent // 4) + "-" * (25 - percent // 4)
            stream.write(f"\r[{bar}] {percent:3d}% {done}/{total}")
            if done == total:
                stream.write("\n")
        elif percent // 25 > shown[0]:  # logs and pipes: a line at 0, 25, 50, 75, 100%
            shown[0] = percent // 25
            stream.write(f"bench: {percent}% ({done}/{total})\n")
        stream.flush()
    return show


def render(report: BenchReport, plugin: str) -> str:
    """The report as aligned text."""
    unit = {"wal": "writes", "request": "requests", "schedule": "runs"}[report.kind]
    head = f"{plugin} on {report.trigger_spec}: {report.operations} {unit}"
    rate = f"{report.operations_per_second:,.1f} {unit}/s"
    if report.kind == "wal":
        head += f" ({report.lines:,} lines)"
        rate = f"{report.lines_per_second:,.0f} lines/s, " + rate
    elif report.concurrency > 1:
        head += f", concurrency {report.concurrency}"
    busy = report.busy_seconds or 1.0

    def row(name: str, p: object) -> str:
        values = ("p50", "p95", "p99", "max")
        return f"{name:14s}" + "  ".join(f"{v} {getattr(p, v):9.3f}" for v in values)

    lines = [head, f"{'throughput':14s}{rate}  (wall {report.wall_seconds:.3f} s)",
             row("latency ms", report.latency), row("plugin ms", report.plugin),
             f"{'time split':14s}plugin {report.plugin_seconds:.3f} s "
             f"({report.plugin_seconds / busy:.1%}), engine overhead "
             f"{report.overhead_seconds:.3f} s ({report.overhead_seconds / busy:.1%}) of "
             f"{report.busy_seconds:.3f} s spent in {unit} ({report.runs} plugin runs"
             f"{', sampled' if report.runs_sampled else ''})",
             f"{'failures':14s}{report.failures}"
             + (f"  first: {report.first_failure}" if report.first_failure else "")]
    return "\n".join(lines)
