"""Progress on long work: a live bar on a terminal, one log line per stage otherwise, and stage timings."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts one stage's items; draws a bar on a terminal, and otherwise logs the stage once, when it closes."""

    def __init__(self, stage: str, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stage, self.total, self.done = stage, total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.start = time.perf_counter()

    def expect(self, total: int) -> None:
        """Set the number of items once it is known (after the stage started)."""
        self.total = total

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.tty and not self.quiet:
            self._draw()

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _draw(self) -> None:
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "-" * (width - filled)
        print(f"\r{self.stage:<8} [{bar}] {self.done}/{self.total} {self.rate():.0f}/s", end="", file=self.stream, flush=True)

    def close(self) -> float:
        """Finish the stage and return its duration in seconds."""
        elapsed = time.perf_counter() - self.start
        if not self.quiet:
            if self.tty:
                print(file=self.stream)
            print(f"{self.stage}: {self.done}/{self.total} in {elapsed:.2f} s", file=self.stream, flush=True)
        return elapsed
