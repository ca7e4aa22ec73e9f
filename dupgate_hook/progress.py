"""A progress bar on stderr, drawn only when stderr is a terminal (logs stay clean)."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    """A person is watching: the stream is a TTY that can draw (not TERM=dumb)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class Progress:
    def __init__(self, total: int, label: str, enabled: bool | None = None) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        self.enabled = is_terminal(sys.stderr) if enabled is None else enabled

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._last_draw > 0.1 or self.done >= self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 30
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * width)
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        sys.stderr.write(
            f"\r{self.label} [{bar:<{width}}] {self.done}/{self.total} {rate:5.1f} img/s, {_clock(eta)} left "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
