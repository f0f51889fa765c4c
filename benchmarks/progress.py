"""A progress line on stderr: redrawn in place on a terminal, one line per step elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

WIDTH = 24


def clock(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`) for a number of seconds."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Progress over weighted steps whose length is only estimated.

    Each step has an expected duration; while it runs, its share of the bar fills with elapsed
    time (never past 95% of it), and jumps to full when the step ends. On a terminal a ticker
    thread redraws one line; elsewhere (CI logs, pipes) each step start and end is one line.
    """

    def __init__(self, expected: list[float], *, stream: TextIO | None = None,
                 live: bool | None = None, interval: float = 0.5) -> None:
        self._expected = [max(e, 0.001) for e in expected]
        self._total = sum(self._expected)
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._interval = interval
        self._done = 0.0
        self._index = -1
        self._label = ""
        self._running = False
        self._began = time.monotonic()
        self._step_began = self._began
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self._live:
            self._ticker = threading.Thread(target=self._tick, daemon=True, name="progress")
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._stream.write("\n")
            self._stream.flush()

    def start(self, label: str) -> None:
        """Begin the next step."""
        with self._lock:
            self._index += 1
            self._label = label
            self._running = True
            self._step_began = time.monotonic()
        if not self._live:
            self._line(f"{self._render()} started")

    def finish(self, note: str) -> None:
        """End the current step with a short note (e.g. `ok` or `FAILED`)."""
        with self._lock:
            self._done += self._expected[self._index]
            self._running = False
            elapsed = time.monotonic() - self._step_began
        text = f"{self._render()} {note} in {clock(elapsed)}"
        if self._live:
            self._redraw(text)
            self._stream.write("\n")
            self._stream.flush()
        else:
            self._line(text)

    def fraction(self) -> float:
        """How much of the whole run is estimated to be done, 0 to 1."""
        with self._lock:
            done = self._done
            if self._running:
                running = time.monotonic() - self._step_began
                done += min(running, 0.95 * self._expected[self._index])
            return min(done / self._total, 1.0)

    def _render(self) -> str:
        fraction = self.fraction()
        filled = round(fraction * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        step = f"{self._index + 1}/{len(self._expected)}"
        elapsed = clock(time.monotonic() - self._began)
        return f"[{bar}] {fraction:4.0%} {step} {self._label} ({elapsed})"

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            self._redraw(self._render())

    def _redraw(self, text: str) -> None:
        with self._lock:
            self._stream.write("\r\x1b[K" + text)
            self._stream.flush()

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()
