"""Turns each benchmark module's result dict into suite rows and chart series.

A row is `{id, measure, ratio, bar, meets, unit, details}`: `ratio` is the figure compared with
the bar (a ratio against the anchor measured in the same run, or, for P5 and P6 whose bars are
absolute, the measured value in `unit`). Chart series feed the throughput and latency charts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


class MissingFigure(KeyError):
    """A benchmark's result lacks a figure the suite reads."""

    def __init__(self, path: str, module: str) -> None:
        super().__init__(f"{module} returned no {path!r} in its result")


@dataclass
class Figures:
    """What one module contributed: rows, throughput bars and latency percentiles."""

    rows: list[Row] = field(default_factory=list)
    # Each: {"group", "label", "value", "unit"}; bars of one group share a panel.
    throughput: list[dict[str, Any]] = field(default_factory=list)
    # Each: {"group", "label", "p50", "p95" (or None), "p99", "unit"}.
    latency: list[dict[str, Any]] = field(default_factory=list)


def get(result: Mapping[str, Any], path: str, module: str) -> Any:
    """`result["a"]["b"]` for path `a.b`, or MissingFigure naming the module and path."""
    value: Any = result
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise MissingFigure(path, module)
        value = value[key]
    return value


def row(id_: str, measure: str, ratio: float, bar: str, meets: bool, *, unit: str = "x",
        details: dict[str, Any] | None = None) -> Row:
    """One suite row."""
    return {"id": id_, "measure": measure, "ratio": ratio, "bar": bar, "meets": bool(meets),
            "unit": unit, "details": details or {}}


def verdict_row(result: Mapping[str, Any], key: str, id_: str, measure: str,
                module: str, details: dict[str, Any]) -> Row:
    """A row from a `{ratio, bar, meets}` verdict the module computed itself."""
    verdict = get(result, key, module)
    return row(id_, measure, float(get(verdict, "ratio", module)), str(get(verdict, "bar", module)),
               bool(get(verdict, "meets", module)), details=details)


def lineprotocol(result: Mapping[str, Any]) -> Figures:
    """bench_lineprotocol: parse-only rate against line-protocol-parser (informational LP row)."""
    m = "bench_lineprotocol"
    simple = get(result, "simple", m)
    out = Figures()
    out.rows.append(row(
        "LP", "parse_to_arrow vs line-protocol-parser, parse only (simple lines)",
        float(get(simple, "ratio", m)), f">= {get(simple, 'bar', m)}", get(simple, "passed", m),
        details={"simple": dict(simple), "escaped": get(result, "escaped", m)}))
    for name in ("simple", "escaped"):
        part = get(result, name, m)
        out.throughput += [
            _bar("parse (lines/s)", f"LP {name}: line-protocol-parser",
                 get(part, "line_protocol_parser_lines_per_s", m), "lines/s"),
            _bar("parse (lines/s)", f"LP {name}: ours", get(part, "ours_lines_per_s", m),
                 "lines/s"),
        ]
    return out


def ingest(result: Mapping[str, Any]) -> Figures:
    """bench_ingest: P1, P2, P7, P8."""
    m = "bench_ingest"
    anchor = get(result, "anchor_lpp_parse_lines_per_s", m)
    memory = get(result, "ingest_memory_lines_per_s", m)
    disk = get(result, "ingest_disk_lines_per_s", m)
    query = get(result, "query", m)
    held = get(result, "memory", m)
    out = Figures(rows=[
        verdict_row(result, "P1", "P1", "ingest in memory vs line-protocol-parser parse-only", m,
                    {"anchor_lines_per_s": anchor, "ingest_lines_per_s": memory,
                     "lines": result.get("lines")}),
        verdict_row(result, "P2", "P2", "ingest with data_dir (fsync per flush) vs P1", m,
                    {"disk_lines_per_s": disk, "memory_lines_per_s": memory}),
        verdict_row(result, "P7", "P7", "1M-row GROUP BY through the engine vs DataFusion "
                    "direct", m, dict(query)),
        verdict_row(result, "P8", "P8", "memory held for a table vs its Arrow size", m,
                    {**held, "rss_ratio": get(result, "P8", m).get("rss_ratio")}),
    ])
    out.throughput = [
        _bar("ingest (lines/s)", "line-protocol-parser parse", anchor, "lines/s"),
        _bar("ingest (lines/s)", "P1 in memory", memory, "lines/s"),
        _bar("ingest (lines/s)", "P2 data_dir", disk, "lines/s"),
    ]
    out.latency = [
        _latency("query (ms, median)", "P7 DataFusion direct", get(query, "direct_ms", m)),
        _latency("query (ms, median)", "P7 through the engine", get(query, "storage_ms", m)),
    ]
    return out


def dispatch(result: Mapping[str, Any]) -> Figures:
    """bench_dispatch: P3 as dicts and as Arrow."""
    m = "bench_dispatch"
    anchor = get(result, "anchor_lpp_parse_lines_per_s", m)
    details = {"anchor_lines_per_s": anchor, "lines": result.get("lines")}
    out = Figures(rows=[
        verdict_row(result, "P3_dicts", "P3-dicts", "ingest + all_tables plugin reading dict rows "
                    "vs line-protocol-parser", m,
                    {**details, "lines_per_s": get(result, "ingest_dicts_plugin_lines_per_s", m)}),
        verdict_row(result, "P3_arrow", "P3-arrow", "ingest + all_tables plugin reading Arrow "
                    "vs line-protocol-parser", m,
                    {**details, "lines_per_s": get(result, "ingest_arrow_plugin_lines_per_s", m)}),
    ])
    group = "ingest + plugin (lines/s)"
    out.throughput = [
        _bar(group, "line-protocol-parser parse", anchor, "lines/s"),
        _bar(group, "no trigger", result.get("ingest_no_trigger_lines_per_s"), "lines/s"),
        _bar(group, "P3 dict rows", get(result, "ingest_dicts_plugin_lines_per_s", m), "lines/s"),
        _bar(group, "P3 Arrow", get(result, "ingest_arrow_plugin_lines_per_s", m), "lines/s"),
    ]
    return out


def http(result: Mapping[str, Any]) -> Figures:
    """bench_http: P4 req/s and p99 against a bare Starlette endpoint."""
    m = "bench_http"
    bare = get(result, "bare_starlette", m)
    served = get(result, "request_trigger", m)
    details = {"connections": result.get("connections"), "bare": dict(bare),
               "request_trigger": dict(served)}
    out = Figures(rows=[
        verdict_row(result, "P4", "P4", "request trigger req/s vs bare Starlette, 32 connections",
                    m, details),
        verdict_row(result, "P4_p99", "P4-p99", "request trigger p99 latency vs bare Starlette",
                    m, {"bare_p99_ms": bare.get("p99_ms"), "trigger_p99_ms": served.get("p99_ms")}),
    ])
    for label, part in (("bare Starlette", bare), ("request trigger", served)):
        rates = get(part, "req_per_s", m)
        out.throughput.append(_bar("HTTP (req/s)", f"P4 {label}", _median(rates), "req/s"))
        out.latency.append(_latency("HTTP request (ms)", f"P4 {label}", get(part, "p50_ms", m),
                                    part.get("p95_ms"), get(part, "p99_ms", m)))
    return out


def scheduler(result: Mapping[str, Any]) -> Figures:
    """bench_scheduler: P5 lateness p99 and CPU share, against absolute bars."""
    m = "bench_scheduler"
    p99 = float(get(result, "lateness_p99_ms", m))
    cpu = float(get(result, "cpu_percent_of_one_core", m))
    bar_p99 = float(get(result, "bar_p99_ms", m))
    bar_cpu = float(get(result, "bar_cpu_percent", m))
    seen, expected = get(result, "runs_seen", m), get(result, "runs_expected", m)
    complete = seen >= 0.99 * expected
    details = {k: result.get(k) for k in ("triggers", "seconds", "runs_expected", "runs_seen",
                                          "lateness_p50_ms", "lateness_max_ms")}
    out = Figures(rows=[
        row("P5-lateness", f"{result.get('triggers')} every:1s triggers: p99 lateness "
            "(runs seen must be >= 99% of expected)", p99, f"<= {bar_p99:g} ms",
            p99 <= bar_p99 and complete, unit="ms", details=details),
        row("P5-cpu", "same: engine CPU", cpu, f"<= {bar_cpu:g} % of a core", cpu <= bar_cpu,
            unit="% of a core", details={"triggers": result.get("triggers")}),
    ])
    out.latency.append(_latency("schedule lateness (ms)", "P5 lateness",
                                get(result, "lateness_p50_ms", m), None, p99))
    return out


def reload(result: Mapping[str, Any]) -> Figures:
    """bench_reload: P6 reload p99 against an absolute bar; watchdog's own latency as anchor."""
    m = "bench_reload"
    p99 = float(get(result, "reload_p99_ms", m))
    bar = float(get(result, "bar_p99_ms", m))
    anchor_p99 = float(get(result, "anchor_watchdog_event_p99_ms", m))
    details = {k: result.get(k) for k in (
        "saves", "debounce_ms", "reload_p50_ms", "reload_max_ms",
        "anchor_watchdog_event_p50_ms", "anchor_watchdog_event_p99_ms")}
    details["p99_vs_watchdog_event_p99"] = round(p99 / anchor_p99, 2) if anchor_p99 else None
    out = Figures(rows=[row("P6", "hot reload after an atomic save, p99", p99,
                            f"<= {bar:g} ms", p99 <= bar, unit="ms", details=details)])
    out.latency = [
        _latency("hot reload (ms)", "P6 watchdog event (anchor)",
                 get(result, "anchor_watchdog_event_p50_ms", m), None, anchor_p99),
        _latency("hot reload (ms)", "P6 new code in use", get(result, "reload_p50_ms", m),
                 None, p99),
    ]
    return out


def _bar(group: str, label: str, value: Any, unit: str) -> dict[str, Any]:
    return {"group": group, "label": label, "value": value, "unit": unit}


def _latency(group: str, label: str, p50: Any, p95: Any = None,
             p99: Any = None) -> dict[str, Any]:
    return {"group": group, "label": label, "p50": p50, "p95": p95, "p99": p99}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


NORMALISERS: dict[str, Callable[[Mapping[str, Any]], Figures]] = {
    "bench_lineprotocol": lineprotocol,
    "bench_ingest": ingest,
    "bench_dispatch": dispatch,
    "bench_http": http,
    "bench_scheduler": scheduler,
    "bench_reload": reload,
}
