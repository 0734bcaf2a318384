"""A small progress bar on stderr for runs longer than about a second."""

from __future__ import annotations

import sys
import time
from types import TracebackType

__all__ = ["Progress"]


class Progress:
    """Counts finished units; draws a bar only after ``delay`` seconds.

    >>> with Progress(3, enabled=False, label="run") as bar:
    ...     bar.advance(2)
    >>> bar.done
    2
    """

    def __init__(self, total: int, *, enabled: bool, label: str = "", delay: float = 1.0) -> None:
        self.total, self.enabled, self.label, self.delay = total, enabled, label, delay
        self.done = 0
        self._t0 = time.monotonic()
        self._shown = False

    def __enter__(self) -> Progress:
        return self

    def advance(self, k: int = 1) -> None:
        """Mark *k* more units done."""
        self.done += k
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._t0
        if elapsed < self.delay and self.done < self.total:
            return
        if elapsed < self.delay and not self._shown:
            return
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total} chunks, {elapsed:5.1f}s, eta {eta:5.1f}s")
        sys.stderr.flush()
        self._shown = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
