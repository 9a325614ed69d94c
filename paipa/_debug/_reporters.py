"""Reporters: where the debugger's snapshots go. A `Reporter` is anything with ``report``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .._checks import instance_of
from ._stats import Snapshot, StepStats

__all__ = ["CallbackReporter", "LoggingReporter", "ProgressReporter", "Reporter"]


@runtime_checkable
class Reporter(Protocol):
    """Receives the debugger's snapshots: every ``interval`` seconds, and the final one.

    A reporter that raises is logged once and switched off; the run goes on.
    """

    def report(self, snapshot: Snapshot) -> None:
        """Handle one snapshot (``snapshot.final`` for the last one of the run)."""


def _columns(step: StepStats, counter: str) -> list[str]:
    megabytes = step.rss_growth / 2**20
    cells = [
        f"count: {step.items_out}",
        f"runtime: {step.seconds:.2f}",
        f"{step.rate:.2f}/s" if step.seconds > 0 else "-/s",
        f"utime: {step.user_seconds:.2f}",
        f"stime: {step.system_seconds:.2f}",
        f"q: {step.counts.get(counter, 0)}",
        f"q/e: {step.per_item(counter):.2f}",
        f"rss: {megabytes:.2f}",
    ]
    for name, value in sorted(step.counts.items()):
        if name != counter:
            cells.append(f"{name}: {value}")
    if step.workers is not None:
        cells.append(f"busy: {step.busy_workers}/{step.workers}")
        cells.append(f"queue: {step.queue_depth}")
    if step.retries or step.skipped:
        cells.append(f"retries: {step.retries} skipped: {step.skipped}")
    return cells


class LoggingReporter:
    """Logs each snapshot: a separator line, then one aligned line per step, source first.

    The format of the seed library, on the logger ``paipa.debugger`` at INFO::

        --------------------
        > range  : count: 10000 runtime:  0.13 75599.61/s utime: 0.11 stime: 0.01 q: 0 ...
        > flap   : count: 10000 runtime: 11.29   885.92/s utime: 0.74 stime: 0.11 q: 0 ...

    ``q`` is the step's `paipa.tally` named `counter` ("queries"), ``q/e`` per item.
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = logging.INFO,
        counter: str = "queries",
    ) -> None:
        """Log to `logger` (default ``paipa.debugger``) at `level`."""
        if logger is not None:
            instance_of(logger, logging.Logger, "logger must be a logging.Logger")
        instance_of(level, int, "level must be a logging level (an int)")
        instance_of(counter, str, "counter must be the name of a tally (a str)")
        self.logger: logging.Logger = logger or logging.getLogger("paipa.debugger")
        self.level: int = level
        self.counter: str = counter

    def report(self, snapshot: Snapshot) -> None:
        """Log the snapshot's lines."""
        if not self.logger.isEnabledFor(self.level):
            return
        rows = [_columns(step, self.counter) for step in snapshot.steps]
        width = max((len(step.name) for step in snapshot.steps), default=0)
        widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(8)]
        self.logger.log(self.level, "-" * 20)
        for step, row in zip(snapshot.steps, rows, strict=True):
            aligned = [_align(cell, widths[i]) if i < 8 else cell for i, cell in enumerate(row)]
            self.logger.log(self.level, "> %s: %s", step.name.ljust(width), " ".join(aligned))


def _align(cell: str, width: int) -> str:
    """Right-align the number in a ``label: number`` cell (or a bare number) to `width`."""
    label, colon, number = cell.rpartition(": ")
    if not colon:
        return cell.rjust(width)
    return f"{label}: {number.rjust(width - len(label) - 2)}"


class CallbackReporter:
    """Calls a function with each snapshot: the simplest way to ship figures elsewhere.

    ```pycon
    >>> from paipa import CallbackReporter, Pipeline
    >>> finals = []
    >>> reporter = CallbackReporter(lambda snapshot: finals.append(snapshot.final))
    >>> _ = (Pipeline(range(3)) | sorted).debug(reporters=[reporter]).run()
    >>> finals[-1]
    True

    ```
    """

    def __init__(self, callback: Callable[[Snapshot], object]) -> None:
        """Call `callback(snapshot)` for every snapshot."""
        if not callable(callback):
            raise TypeError(f"CallbackReporter needs a callable, got {callback!r}")
        self.callback: Callable[[Snapshot], object] = callback

    def report(self, snapshot: Snapshot) -> None:
        """Pass the snapshot to the callback."""
        self.callback(snapshot)


class ProgressReporter:
    """Live progress bars, one per step: count, rate, and an ETA when the source's size is known.

    Needs tqdm: ``pip install 'paipa[progress]'``.
    """

    def __init__(self, **bar_options: Any) -> None:
        """Draw bars with tqdm; `bar_options` go to each ``tqdm`` bar (e.g. ``file=``)."""
        try:
            import tqdm
        except ImportError as missing:
            raise ImportError(
                "ProgressReporter needs tqdm: pip install 'paipa[progress]'"
            ) from missing
        self._tqdm: Any = tqdm.tqdm
        self._options = bar_options
        self._bars: list[Any] = []

    def report(self, snapshot: Snapshot) -> None:
        """Move each step's bar to its count; close the bars at the end."""
        if not self._bars:
            width = max(len(step.name) for step in snapshot.steps)
            self._bars = [
                self._tqdm(
                    total=snapshot.total,
                    desc=step.name.ljust(width),
                    position=index,
                    unit="it",
                    leave=True,
                    **self._options,
                )
                for index, step in enumerate(snapshot.steps)
            ]
        for bar, step in zip(self._bars, snapshot.steps, strict=True):
            bar.n = step.items_out
            bar.refresh()
        if snapshot.final:
            for bar in self._bars:
                bar.close()
            self._bars = []
