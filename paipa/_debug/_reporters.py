"""Reporters: where the debugger's snapshots go. A `Reporter` is anything with ``report``."""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
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


def _thousands(value: float) -> str:
    """Return `value` (1,000 or more) in k or M, with one decimal."""
    if value < 999_950:
        return f"{value / 1e3:.1f}k"
    return f"{value / 1e6:.1f}M"


def _count(number: int) -> str:
    """Return an item count for people: exact below 10,000, else in k or M."""
    return str(number) if number < 10_000 else _thousands(number)


def _rate(per_second: float) -> str:
    """Return a rate for people: ``885.9``, ``75.6k``, ``2.5M`` (per second)."""
    return f"{per_second:.1f}" if per_second < 999.95 else _thousands(per_second)


def _duration(seconds: float) -> str:
    """Return a duration for people: ``0.3 ms``, ``130 ms``, ``11.29 s``, ``12m05s``, ``2h03m``."""
    if seconds < 0.00995:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.995:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _mebibytes(size: int) -> str:
    text = f"{size / 2**20:.1f}"
    return f"{'0.0' if text == '-0.0' else text} MiB"  # a few bytes freed are not news


def _fixed_cells(step: StepStats) -> list[str]:
    """Return the cells every line has, each padded to a width that fits nearly any value."""
    return [
        f"in: {_count(step.items_in) if step.position else '-':>6}",
        f"out: {_count(step.items_out):>6}",
        f"runtime: {_duration(step.seconds):>7}",
        f"{_rate(step.rate) if step.seconds > 0 else '-':>6}/s",
        f"utime: {_duration(step.user_seconds):>7}",
        f"stime: {_duration(step.system_seconds):>7}",
        f"rss: {_mebibytes(step.rss_growth):>10}",
    ]


def _optional_cells(step: StepStats, counter: str, tallied: list[str]) -> list[str | None]:
    """Return the cells shown only when some step has them (None: this step has none)."""
    cells: list[str | None] = []
    if step.workers is not None:
        cells.append(
            f"busy: {step.busy_workers}/{step.workers} queue: {_count(step.queue_depth or 0)}"
        )
    else:
        cells.append(None)
    has_errors = step.retries or step.skipped
    cells.append(f"retries: {step.retries} skipped: {step.skipped}" if has_errors else None)
    for name in tallied:
        label = "q" if name == counter else name
        value = step.counts.get(name)
        if value is None:
            cells.append(None)
        elif name == counter:
            cells.append(f"{label}: {_count(value)} {label}/e: {step.per_item(name):.2f}")
        else:
            cells.append(f"{label}: {_count(value)}")
    return cells


def report_lines(snapshot: Snapshot, counter: str = "queries") -> list[str]:
    """Return the lines `LoggingReporter` logs for `snapshot`, after its separator line.

    The columns every step has keep their place from one report to the next;
    workers, retries and tallies come after them, only when some step has them.
    """
    tallied = sorted({name for step in snapshot.steps for name in step.counts})
    if counter in tallied:
        tallied.remove(counter)
        tallied.insert(0, counter)
    rows = [
        (_fixed_cells(step), _optional_cells(step, counter, tallied)) for step in snapshot.steps
    ]
    shown = (
        [any(row[1][i] is not None for row in rows) for i in range(len(rows[0][1]))] if rows else []
    )
    widths = [max((len(row[1][i] or "") for row in rows), default=0) for i in range(len(shown))]
    width = max((len(step.name) for step in snapshot.steps), default=0)
    lines: list[str] = []
    for step, (fixed, optional) in zip(snapshot.steps, rows, strict=True):
        cells = fixed + [
            (cell or "").ljust(widths[i]) for i, cell in enumerate(optional) if shown[i]
        ]
        lines.append(f"> {step.name.ljust(width)}: {' '.join(cells).rstrip()}")
    return lines


class LoggingReporter:
    """Logs each snapshot: a separator line, then one aligned line per step, source first.

    On the logger ``paipa.debugger`` at INFO, in the layout of the seed library,
    with items in and out and human units::

        --------------------
        > range  : in:      - out:  10.0k runtime:  130 ms  75.6k/s utime:  110 ms ...
        > flap   : in:  10.0k out:  10.0k runtime: 11.29 s  885.9/s utime:  740 ms ...

    Workers and queue of threaded steps, retries and skips, and `paipa.tally`
    counts follow, only when some step has them; the tally named `counter`
    shows as ``q`` ("queries") with ``q/e``, per item in. When logging is not
    configured at all, the lines go to stderr, as ``logging.basicConfig()``
    would print them.
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
        self.logger: logging.Logger = logger or _debugger_logger()
        self.level: int = level
        self.counter: str = counter

    def report(self, snapshot: Snapshot) -> None:
        """Log the snapshot's lines."""
        lines = ["-" * 20, *report_lines(snapshot, self.counter)]
        if not self.logger.hasHandlers():  # nothing configured: still show the report
            for line in lines:
                print(
                    f"{logging.getLevelName(self.level)}:{self.logger.name}:{line}", file=sys.stderr
                )
            return
        if not self.logger.isEnabledFor(self.level):
            return
        for line in lines:
            self.logger.log(self.level, "%s", line)


def _debugger_logger() -> logging.Logger:
    """Return ``paipa.debugger``, at INFO unless the program set its level.

    So ``logging.basicConfig()`` alone (the root at WARNING) shows the report,
    as the seed library's did.
    """
    logger = logging.getLogger("paipa.debugger")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger


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
    """Live progress bars, one per step: count and rate, with a total where it is known.

    The source's bar has a total when the source has a length (a list, a
    range); a ``map`` step's bar has the total of the bar before it (one output
    per input), other steps none: their bars count. When the run ends, every
    bar is finished at its count. Needs tqdm: ``pip install 'paipa[progress]'``.
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
        """Move each step's bar to its count; finish and close the bars at the end."""
        if not self._bars:
            width = max(len(step.name) for step in snapshot.steps)
            self._bars = [
                self._tqdm(
                    total=total,
                    desc=step.name.ljust(width),
                    position=index,
                    unit="it",
                    leave=True,
                    **self._options,
                )
                for index, (step, total) in enumerate(
                    zip(snapshot.steps, _totals(snapshot), strict=True)
                )
            ]
        for bar, step in zip(self._bars, snapshot.steps, strict=True):
            bar.n = step.items_out
            if snapshot.final and not snapshot.failed:
                bar.total = step.items_out  # all there was: the bar is finished
            bar.refresh()
        if snapshot.final:
            for bar in self._bars:
                bar.close()
            self._bars = []


def _totals(snapshot: Snapshot) -> list[int | None]:
    """Return the items each step will pass on, where that is known before they come."""
    totals: list[int | None] = []
    for step in snapshot.steps:
        if step.position == 0:
            totals.append(snapshot.total)
        else:
            totals.append(totals[-1] if step.kind == "map" else None)
    return totals


def reporting(reporter: object) -> Reporter:
    """Return `reporter` as a `Reporter`: itself, or paipa 0.3's ``show(info)`` adapted.

    A class that defines ``report`` makes a reporter; otherwise an object with
    ``show`` is taken for a 0.3 one (so is a ``unittest.mock.Mock``, as in
    0.3's own tests).
    """
    kind = type(reporter)
    if callable(getattr(kind, "report", None)):
        return reporter  # type: ignore[return-value]  # pyright: ignore[reportReturnType]
    if callable(getattr(reporter, "show", None)):
        return _ShowReporter(reporter)
    if callable(getattr(reporter, "report", None)):
        return reporter  # type: ignore[return-value]  # pyright: ignore[reportReturnType]
    raise TypeError(
        f"a reporter needs a report(snapshot) method (or paipa 0.3's show(info)), got {reporter!r}"
    )


class _ShowReporter:
    """A paipa 0.3 reporter: ``show(info)`` gets ``[(step name, figures), ...]``."""

    def __init__(self, reporter: Any) -> None:
        self._reporter = reporter

    def __repr__(self) -> str:
        return repr(self._reporter)

    def report(self, snapshot: Snapshot) -> None:
        self._reporter.show([(step.name, legacy_figures(step)) for step in snapshot.steps])


def legacy_figures(step: StepStats) -> dict[str, float]:
    """Return a step's figures under paipa 0.3's names (missing names read 0.0).

    ``count`` (items out), ``runtime`` (s), ``throughput`` (items/s), ``utime``
    and ``stime`` (CPU s), ``queries`` and ``queries_per_entry`` (the
    ``queries`` tally; also as ``qpe``), ``runtime_per_entry``, ``rss`` (KiB).
    """
    figures: dict[str, float] = defaultdict(float)
    count = step.items_out
    queries = step.counts.get("queries", 0)
    figures.update(
        count=count,
        runtime=step.seconds,
        throughput=step.rate,
        utime=step.user_seconds,
        stime=step.system_seconds,
        queries=queries,
        queries_per_entry=queries / count if count else 0.0,
        qpe=queries / count if count else 0.0,
        runtime_per_entry=step.seconds / count if count else 0.0,
        rss=step.rss_growth / 1024,
    )
    return figures
