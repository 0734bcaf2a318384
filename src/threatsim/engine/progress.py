"""Progress of long work: a tqdm bar on stderr, a callback of the caller's, or nothing.

Every long call (:func:`threatsim.run`, ``compare``, ``sweep``, ``sensitivity``,
``solve_capacity``, ``calibrate``) takes ``progress=``:

* ``False``: nothing;
* ``True``: a bar on stderr (`tqdm <https://tqdm.github.io>`_) with the count
  done, the rate and the time left;
* ``None``: a bar when stderr is a terminal, else nothing (so nothing in
  scripts, pipes, notebooks' captured stderr, tests or CI logs);
* a callable ``progress(done, total, label)`` (:class:`ProgressCallback`): called
  with ``done = 0`` when the work starts and again each time more is done,
  ``done`` never falling and equal to ``total`` at the end.

A run counts its **draws** (a chunk of ``n`` draws advances ``n``). An analysis
that runs a scenario several times counts its own units, each with a line that
says what it found (``solve_capacity``: one line per lever value tried, with its
probability); the runs inside it show a transient bar under the analysis's bar
(gone when that run ends), or, with a callback, report nothing of their own.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TypeAlias, runtime_checkable

from tqdm import tqdm  # type: ignore[import-untyped]

__all__ = ["BarSafeHandler", "Progress", "ProgressArg", "ProgressCallback", "progress_shown"]


@runtime_checkable
class ProgressCallback(Protocol):
    """What ``progress=`` may be besides a bool: told ``(done, total, label)``.

    *done* counts the units finished (draws for a run, values tried for
    ``solve_capacity``, ...), from 0, never falling, *total* at the end (a
    search that cannot know its total in advance gives its best bound, which may
    change). *label* says what is counted, or, when a unit ends with a finding,
    that finding (e.g. ``"courts 12: P=0.840 (target 0.9)"``).

    >>> seen = []
    >>> def note(done: int, total: int, label: str) -> None:
    ...     seen.append((done, total))
    >>> isinstance(note, ProgressCallback)
    True
    >>> with Progress(300, progress=note, label="run") as bar:
    ...     bar.advance(100)
    ...     bar.advance(200)
    >>> seen
    [(0, 300), (100, 300), (300, 300)]
    """

    def __call__(self, done: int, total: int, label: str) -> None: ...


#: What ``progress=`` takes: a bool, None (a bar when stderr is a terminal) or a callback.
ProgressArg: TypeAlias = bool | ProgressCallback | None


def progress_shown(progress: ProgressArg) -> bool:
    """Whether *progress* asks for anything at all (None: when stderr is a terminal).

    >>> progress_shown(False), progress_shown(True), progress_shown(lambda d, t, s: None)
    (False, True, True)
    """
    if progress is None:
        return os.isatty(2)
    if isinstance(progress, bool):
        return progress
    return True


class BarSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes each record on a line of its own above any progress
    bar (``tqdm.write``: the bars are cleared, the line written, the bars drawn again),
    instead of onto the end of the bar's line.

    >>> import io, logging
    >>> stream = io.StringIO()
    >>> log = logging.getLogger("threatsim.doc.barsafe")
    >>> log.addHandler(BarSafeHandler(stream))
    >>> log.warning("3 workers asked for")
    >>> stream.getvalue()
    '3 workers asked for\\n'
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # as logging.StreamHandler does: never let a note stop the work
            self.handleError(record)


#: Seconds before a bar is first drawn: a run shorter than that shows nothing.
DELAY = 1.0
#: Seconds between redraws of a bar whose count has not moved (its elapsed time goes on).
TICK = 1.0


class Progress:
    """Counts *total* units as they finish and shows them as *progress* asks.

    With a bar (``progress`` True, or None on a terminal), a tqdm bar on
    stderr, drawn after :data:`DELAY` seconds and redrawn every :data:`TICK`
    seconds while the count does not move, so that a long unit shows its
    elapsed time; with *leave* False it is erased when it closes (a run inside
    an analysis). With a callback, ``progress(done, total, label)`` at the start
    and after each advance.

    >>> with Progress(3, progress=False, label="run") as bar:
    ...     bar.advance(2)
    >>> bar.done
    2
    """

    def __init__(self, total: int, *, progress: ProgressArg, label: str = "",
                 unit: str = "draw", leave: bool = True, position: int | None = None) -> None:
        self.total, self.label, self.unit = total, label, unit
        self.done = 0
        self._callback: Callable[[int, int, str], None] | None = None
        self._bar: tqdm | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if isinstance(progress, _Transient):
            label = progress.label or label
            progress, leave = True, False
        if progress is None or isinstance(progress, bool):
            if progress_shown(progress):
                self._bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr,
                                 leave=leave, position=position, delay=DELAY,
                                 dynamic_ncols=True, mininterval=0.2,
                                 smoothing=0.0)  # rate and ETA: the average so far
                self._ticker = threading.Thread(target=self._tick, daemon=True,
                                                name="threatsim-progress")
                self._ticker.start()
        else:
            self._callback = progress
            progress(0, total, label)

    @property
    def enabled(self) -> bool:
        """Whether anything is shown or told."""
        return self._bar is not None or self._callback is not None

    def _tick(self) -> None:
        bar = self._bar
        while not self._stop.wait(TICK):
            if bar is None or bar._time() - bar.start_t < DELAY:  # tqdm's clock
                continue
            # tqdm redraws only on updates: draw it anyway (elapsed time, rate so far),
            # and mark it drawn, so that closing it leaves (or clears) it as drawn.
            if bar.refresh():
                bar.last_print_t = bar._time()

    def __enter__(self) -> Progress:
        return self

    def advance(self, k: int = 1, *, line: str | None = None) -> None:
        """Mark *k* more units done; *line*: what the unit found, printed above a bar
        (kept when the bar goes on) and given to a callback as its label."""
        self.done += k
        if self._bar is not None:
            if line is not None:
                self._bar.write(line, file=sys.stderr)
            self._bar.update(k)
        elif self._callback is not None:
            self._callback(self.done, self.total, line if line is not None else self.label)

    def set_total(self, total: int, *, label: str | None = None) -> None:
        """A better bound of the units to do (a search learning how many are left, a
        summary making another pass over its draws); *label*: what is counted now."""
        changed = total != self.total
        self.total = total
        if label is not None:
            self.label = label
        if self._bar is not None:
            self._bar.total = total
            if label is not None:
                self._bar.set_description_str(label, refresh=False)
        elif self._callback is not None and changed:
            self._callback(self.done, total, self.label)

    def part(self) -> ProgressArg:
        """The ``progress=`` of work that advances this count by its own *done*
        (a run whose draws are part of this bar's): False when nothing is shown.

        >>> seen = []
        >>> with Progress(500, progress=lambda d, t, s: seen.append(d)) as bar:
        ...     inner = bar.part()
        ...     for done in (0, 100, 200):
        ...         inner(done, 200, "a run")
        >>> seen
        [0, 100, 200]
        """
        if not self.enabled:
            return False
        start = self.done

        def advance_to(done: int, total: int, label: str) -> None:
            if start + done > self.done:
                self.advance(start + done - self.done)

        return advance_to

    def inner(self, label: str | None = None) -> ProgressArg:
        """The ``progress=`` of a unit's own work (a run inside an analysis): a
        transient bar under this one (erased when that work ends; *label*: what it
        says instead of the work's own label), or False (nothing shown, or a
        callback, which hears of units, not of their insides).

        >>> Progress(2, progress=False).inner()
        False
        """
        if self._bar is None:
            return False
        return _Transient(label)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.close()


class _Transient:
    """``progress=`` for a bar erased when it closes (see :meth:`Progress.inner`)."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label

    def __call__(self, done: int, total: int, label: str) -> None:
        """Never called: :class:`Progress` draws a transient bar instead."""
