"""Line-protocol parsing rate: our `parse_to_arrow` against line-protocol-parser, same run.

Two generated payloads of the same size are parsed by both parsers:
- simple: `cpu,host=serverNN,region=R usage_user=F,usage_system=F,count=Ni T`, 100 hosts;
  this is the fast path's case and the bar is ours / theirs >= 2.0;
- escaped: escaped spaces and commas in names and quoted strings with escaped quotes; our
  general parser handles it (no bar, reported for information).

Ours parses to Arrow tables (`parse_to_arrow`); line-protocol-parser only parses
(`parse_line` per line, the results of a chunk kept until the chunk is done). Both work on
the same chunks of bytes (default 10,000 lines, as a write would bring) and the best of
`--repeat` runs counts. Run as `python -m benchmarks.bench_lineprotocol [--lines N]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from line_protocol_parser import parse_line

from engine.lineprotocol import parse_to_arrow

BAR_SIMPLE = 2.0
BASE_TIME = 1_700_000_000_000_000_000


def simple_line(rng: random.Random, n: int) -> str:
    """One line of the simple payload."""
    host = rng.randrange(100)
    return (
        f"cpu,host=server{host:02d},region=r{host % 4} usage_user={rng.random() * 100:.4f},"
        f"usage_system={rng.random() * 100:.4f},count={rng.randrange(10_000)}i "
        f"{BASE_TIME + n * 1000}"
    )


def escaped_line(rng: random.Random, n: int) -> str:
    """One line with escaped names and a quoted string holding escaped quotes and commas."""
    host = rng.randrange(100)
    return (
        f"cpu\\ load,host=server\\ {host:02d},region=us\\,r{host % 4},path=C:\\dir "
        f'usage_user={rng.random() * 100:.4f},msg="said \\"hi {host}\\", then left",'
        f"count={rng.randrange(10_000)}i {BASE_TIME + n * 1000}"
    )


def payload(make: Callable[[random.Random, int], str], lines: int, chunk: int) -> list[bytes]:
    """The generated payload as chunks of `chunk` lines (one chunk if `chunk` is 0)."""
    rng = random.Random(42)
    text = [make(rng, n) for n in range(lines)]
    size = chunk or lines
    return [("\n".join(text[i : i + size]) + "\n").encode() for i in range(0, lines, size)]


def best_seconds(action: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` runs, after a full collection before each."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def ours(chunks: Sequence[bytes]) -> None:
    """Parse every chunk to Arrow; fail loudly if any line was rejected."""
    for chunk in chunks:
        result = parse_to_arrow(chunk, precision="ns", default_time=BASE_TIME)
        if result.errors:
            raise RuntimeError(f"benchmark payload rejected: {result.errors[0]}")


def theirs(chunks: Sequence[bytes]) -> None:
    """line-protocol-parser on every line, each chunk's results kept until it is done."""
    for chunk in chunks:
        parsed = [parse_line(line) for line in chunk.split(b"\n") if line]
        del parsed


def measure(chunks: Sequence[bytes], lines: int, repeat: int) -> dict[str, float]:
    """Both rates (lines/s) and their ratio for one payload."""
    ours_rate = lines / best_seconds(lambda: ours(chunks), repeat)
    theirs_rate = lines / best_seconds(lambda: theirs(chunks), repeat)
    return {
        "ours_lines_per_s": round(ours_rate),
        "line_protocol_parser_lines_per_s": round(theirs_rate),
        "ratio": round(ours_rate / theirs_rate, 3),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures, and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per payload")
    parser.add_argument("--chunk-lines", type=int, default=10_000,
                        help="lines per parse call (0: the whole payload at once)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per parser; the best counts")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"lines": args.lines, "chunk_lines": args.chunk_lines}
    for name, make in (("simple", simple_line), ("escaped", escaped_line)):
        chunks = payload(make, args.lines, args.chunk_lines)
        figures[name] = measure(chunks, args.lines, args.repeat)
        del chunks
    figures["simple"]["bar"] = BAR_SIMPLE
    figures["simple"]["passed"] = figures["simple"]["ratio"] >= BAR_SIMPLE
    for name in ("simple", "escaped"):
        row = figures[name]
        print(f"{name:8s} ours {row['ours_lines_per_s']:>10,} lines/s   line-protocol-parser "
              f"{row['line_protocol_parser_lines_per_s']:>10,} lines/s   ratio {row['ratio']:.2f}")
    print(f"bar: simple ratio >= {BAR_SIMPLE}: {'PASS' if figures['simple']['passed'] else 'FAIL'}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
