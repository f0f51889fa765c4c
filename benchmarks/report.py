"""Suite output: the machine description, results.json, summary.md and the PNG charts."""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.child import jsonable

CHARTS = ("throughput.png", "latency.png", "bars.png")
_BAR = re.compile(r"\s*(>=|<=)\s*([0-9.]+)")


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, memory, Python, OS."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory_gib": memory,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "os": f"{platform.system()} {platform.release()}", "load_average_1m": load_average()}


def load_average() -> float | None:
    """The 1-minute load average (how busy a shared machine was), where the OS reports one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def headroom(row: Mapping[str, Any]) -> float | None:
    """The figure relative to its bar, oriented so that >= 1.0 always meets it."""
    match = _BAR.match(str(row.get("bar", "")))
    value = row.get("ratio")
    if match is None or not isinstance(value, int | float):
        return None
    limit = float(match.group(2))
    if match.group(1) == ">=":
        return value / limit if limit else None
    return limit / value if value else None


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write the payload as strict JSON (non-finite numbers as null)."""
    path.write_text(json.dumps(jsonable(dict(payload)), indent=2, allow_nan=False) + "\n")


def markdown(payload: Mapping[str, Any]) -> str:
    """The rows as a Markdown table, with the machine and the run's mode."""
    box = payload["machine"]
    lines = [
        f"Measured {payload['started'][:10]} on {box['nproc']} cores of "
        f"{box['cpu_model']}, {box['memory_gib']} GiB, Python {box['python']}, {box['os']}; "
        f"1-minute load average {box['load_average_1m']} at the start and "
        f"{payload.get('load_average_end')} at the end"
        f"{' (--quick: smoke run, figures not meaningful)' if payload['quick'] else ''}.",
        "",
        "| id | measure | figure | bar | meets |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in payload["rows"]:
        lines.append(f"| {row['id']} | {row['measure']} | {_figure(row)} | {row['bar']} | "
                     f"{'yes' if row['meets'] else '**no**'} |")
    for failure in payload["failures"]:
        lines.append(f"| {', '.join(failure['figures'])} | {failure['module']} failed: "
                     f"{failure['error'].splitlines()[-1] if failure['error'] else ''} | | | "
                     "**failed** |")
    return "\n".join(lines) + "\n"


def _figure(row: Mapping[str, Any]) -> str:
    value = row["ratio"]
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:.2f}x" if row["unit"] == "x" else f"{value:.1f} {row['unit']}"


def charts(directory: Path, payload: Mapping[str, Any]) -> list[Path]:
    """Draw throughput.png, latency.png and bars.png into `directory`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    title = _title(payload)
    paths = [directory / name for name in CHARTS]
    _throughput(paths[0], payload["charts"]["throughput"], title)
    _latency(paths[1], payload["charts"]["latency"], title)
    _bars(paths[2], payload["rows"], title)
    return paths


def _title(payload: Mapping[str, Any]) -> str:
    box = payload["machine"]
    mode = " --quick" if payload["quick"] else ""
    return f"{box['nproc']} x {box['cpu_model']}, Python {box['python']}{mode}"


def _groups(items: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(item["group"]), []).append(item)
    return groups


def _panels(count: int, height: float) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(max(count, 1), 1, figsize=(9, max(height * max(count, 1), 2.5)),
                             squeeze=False)
    return fig, [row[0] for row in axes]


def _throughput(path: Path, items: Sequence[Mapping[str, Any]], title: str) -> None:
    groups = _groups([i for i in items if isinstance(i.get("value"), int | float)])
    fig, axes = _panels(len(groups), 2.2)
    for ax, (group, bars) in zip(axes, groups.items(), strict=False):
        labels = [str(b["label"]) for b in bars]
        values = [float(b["value"]) for b in bars]
        ax.barh(labels, values, color="#4c72b0")
        ax.invert_yaxis()
        ax.set_title(group, fontsize=10)
        for y, value in enumerate(values):
            ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
        ax.margins(x=0.2)
    _save(fig, path, f"Throughput (higher is better)\n{title}", empty=not groups)


def _latency(path: Path, items: Sequence[Mapping[str, Any]], title: str) -> None:
    groups = _groups(items)
    fig, axes = _panels(len(groups), 2.4)
    colours = {"p50": "#55a868", "p95": "#dd8452", "p99": "#c44e52"}
    for ax, (group, entries) in zip(axes, groups.items(), strict=False):
        width = 0.27
        for offset, key in enumerate(("p50", "p95", "p99")):
            ys = [i + (offset - 1) * width for i in range(len(entries))]
            values = [e.get(key) if isinstance(e.get(key), int | float) else 0.0
                      for e in entries]
            ax.barh(ys, values, height=width, color=colours[key], label=key)
            for y, value in zip(ys, values, strict=True):
                if value:
                    ax.text(value, y, f" {value:.2f}", va="center", fontsize=7)
        ax.set_yticks(range(len(entries)), [str(e["label"]) for e in entries])
        ax.invert_yaxis()
        ax.set_title(group, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.margins(x=0.2)
    _save(fig, path, f"Latency percentiles in ms (lower is better)\n{title}", empty=not groups)


def _bars(path: Path, rows: Sequence[Mapping[str, Any]], title: str) -> None:
    scored = [(str(r["id"]), h, bool(r["meets"])) for r in rows
              if (h := headroom(r)) is not None]
    fig, axes = _panels(1, 0.35 * max(len(scored), 4))
    ax = axes[0]
    ax.barh([s[0] for s in scored], [s[1] for s in scored],
            color=["#55a868" if s[2] else "#c44e52" for s in scored])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("figure relative to its bar (>= 1 meets it)")
    for y, (_, value, _) in enumerate(scored):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    ax.margins(x=0.15)
    _save(fig, path, f"Bars of PRODUCT §7\n{title}", empty=not scored)


def _save(fig: Any, path: Path, title: str, *, empty: bool) -> None:
    import matplotlib.pyplot as plt

    if empty:
        fig.axes[0].text(0.5, 0.5, "no figures in this run", ha="center", va="center")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
