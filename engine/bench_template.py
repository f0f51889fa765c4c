"""Line protocol load for `processing-engine bench`: templates for synthetic lines, file batches."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import BenchTemplateError

DEFAULT_TEMPLATE = "bench,host=h{i%100},region=r{i%4} value={rand:100},count={i}i {time}"
TIME_STEP_NS = 1000

# One placeholder: `{...}` with no brace inside; `{{` and `}}` are literal braces.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_INT = re.compile(r"[1-9][0-9]*")

Filler = Callable[[int, random.Random], str]


@dataclass(frozen=True)
class LineTemplate:
    """A line of line protocol with placeholders filled per line (see `BenchTemplateError`)."""

    text: str
    parts: tuple[str | Filler, ...]
    start_ns: int

    @classmethod
    def parse(cls, text: str, *, start_ns: int = 0) -> LineTemplate:
        """Compile a template; `{time}` counts up from `start_ns` in microsecond steps.

        Raises:
            BenchTemplateError: A placeholder is unknown, malformed or a brace is unbalanced.
        """
        if not text.strip() or "\n" in text:
            raise BenchTemplateError(text, "a template is one non-empty line")
        parts: list[str | Filler] = []
        position = 0
        for match in _TOKEN.finditer(text):
            parts.append(text[position:match.start()])
            position = match.end()
            token = match.group(0)
            if token in ("{{", "}}"):
                parts.append(token[0])
            elif match.group(1) is None:
                column = match.start() + 1
                raise BenchTemplateError(text, f"unbalanced {token!r} at column {column}")
            else:
                parts.append(_filler(text, match.group(1).strip(), start_ns))
        parts.append(text[position:])
        return cls(text, tuple(p for p in parts if p != ""), start_ns)

    def render(self, i: int, rng: random.Random) -> str:
        """Line number `i` (from 0), random values drawn from `rng`."""
        return "".join(p if isinstance(p, str) else p(i, rng) for p in self.parts)

    def lines(self, count: int, *, seed: int = 0) -> Iterator[str]:
        """`count` lines, reproducible for one seed."""
        rng = random.Random(seed)
        return (self.render(i, rng) for i in range(count))


def _filler(template: str, name: str, start_ns: int) -> Filler:
    head, colon, argument = name.partition(":")
    if name == "i":
        return lambda i, _: str(i)
    if name.startswith("i%") or name.startswith("i//"):
        operand = name[2:] if name.startswith("i%") else name[3:]
        n = _positive(template, name, operand)
        return (lambda i, _: str(i % n)) if name.startswith("i%") else (lambda i, _: str(i // n))
    if name == "rand":
        return lambda _, rng: f"{rng.random():.6f}"
    if head == "rand" and colon:
        scale = _positive(template, name, argument)
        return lambda _, rng: f"{rng.random() * scale:.4f}"
    if head == "randint" and colon:
        top = _positive(template, name, argument)
        return lambda _, rng: str(rng.randrange(top))
    if head == "choice" and colon and argument:
        options = argument.split("|")
        return lambda _, rng: rng.choice(options)
    if name == "time":
        return lambda i, _: str(start_ns + i * TIME_STEP_NS)
    raise BenchTemplateError(template, f"unknown placeholder {{{name}}}")


def _positive(template: str, name: str, operand: str) -> int:
    if not _INT.fullmatch(operand.strip()):
        raise BenchTemplateError(template, f"{{{name}}} needs a whole number >= 1, got "
                                 f"{operand!r}")
    return int(operand)


def batches(lines: Iterable[str], batch_lines: int) -> list[str]:
    """Lines grouped into writes of `batch_lines` lines (blank lines and comments dropped)."""
    if batch_lines < 1:
        raise ValueError(f"batch_lines must be at least 1, got {batch_lines}")
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current.append(line.rstrip("\r\n"))
        if len(current) == batch_lines:
            out.append("\n".join(current) + "\n")
            current = []
    if current:
        out.append("\n".join(current) + "\n")
    return out


def file_batches(path: Path, batch_lines: int) -> list[str]:
    """A line protocol file's lines as writes of `batch_lines` lines."""
    with path.open(encoding="utf-8") as handle:
        return batches(handle, batch_lines)
