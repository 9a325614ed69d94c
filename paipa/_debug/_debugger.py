"""`PipelineRuntimeDebugger`: which reporters get a run's figures, and how often."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections.abc import Callable, Generator, Sequence, Sized
from typing import Any

from .._checks import seconds
from .._engine._context import RunContext
from .._engine._recorder import Recorder
from .._engine._scope import scope
from .._source import Source
from .._step import Step
from ._reporters import LoggingReporter, Reporter, reporting
from ._stats import Snapshot

__all__ = ["PipelineRuntimeDebugger", "check_debugger"]

logger = logging.getLogger("paipa.debugger")


class PipelineRuntimeDebugger:
    """Collects per-step figures while a pipeline runs and hands them to reporters.

    Use it through `Pipeline.debug`, or pass it to the seed API's
    ``combine_pipeline(..., debugger=...)``. Without reporters it logs with
    `LoggingReporter`. Reports come every `interval` seconds, also while a step
    is stuck, and once when the run ends, also when it fails (first the final
    report, then the error). `last_snapshot` keeps the last one.
    """

    def __init__(
        self,
        reporters: Sequence[Reporter] | None = None,
        interval: float = 5.0,
        call_counter: Any = None,
    ) -> None:
        """Report to `reporters` every `interval` seconds, and once at the end.

        A reporter is an object with a ``report(snapshot)`` method, or one
        written for paipa 0.3, with ``show(info)``. `call_counter` is paipa
        0.3's: an object whose ``pop()`` returns the calls (database queries,
        say) made since the last ``pop()``; `combine_pipeline` pops it after
        each item of each step and reports the sum as the step's ``queries``.
        """
        if reporters is None:
            reporters = [LoggingReporter()]
        if call_counter is not None and not callable(getattr(call_counter, "pop", None)):
            raise TypeError(f"call_counter needs a pop() method, got {call_counter!r}")
        self.reporters: tuple[Reporter, ...] = tuple(reporters)
        self._targets = [reporting(reporter) for reporter in reporters]
        self.interval: float = seconds(interval, "interval", allow_zero=False)
        self.call_counter: Any = call_counter
        """paipa 0.3's call counter, read by `combine_pipeline` runs."""
        self.last_snapshot: Snapshot | None = None
        """The last snapshot of the last run (the final one once the run has ended)."""

    def __repr__(self) -> str:
        reporters = list(self.reporters)
        return f"PipelineRuntimeDebugger(reporters={reporters!r}, interval={self.interval})"

    @scope
    def observing(
        self, steps: Sequence[Step[Any, Any]], source: Source, context: RunContext
    ) -> Generator[RunContext, None, None]:
        """Measure the run that happens inside the block; report as it goes and at the end."""
        if self.call_counter is not None:
            raise TypeError(
                "a debugger with a call_counter (paipa 0.3's) works with combine_pipeline(); "
                "in a Pipeline, count calls with paipa.tally() instead"
            )
        total = None
        if source.kind == "iterable" and isinstance(source.value, Sized):
            total = len(source.value)
        recorder = Recorder(steps, (source.name, total), context.policies.counts)
        with self._observe(recorder, context) as observed:
            yield observed

    @scope
    def _observe(
        self, recorder: Recorder, context: RunContext
    ) -> Generator[RunContext, None, None]:
        """Report what `recorder` measures inside the block, as it goes and at the end."""
        context = RunContext(context.policies, recorder)
        active = list(self._targets)

        def report(snapshot: Snapshot) -> None:
            self.last_snapshot = snapshot
            for reporter in list(active):
                try:
                    reporter.report(snapshot)
                except Exception:
                    logger.exception("paipa: reporter %r failed; it is switched off", reporter)
                    active.remove(reporter)

        stop = recorder.start(report, self.interval, tick=0.05)
        finished = threading.Lock()

        def finish(failed: bool) -> None:
            if not finished.acquire(blocking=False):
                return  # reported already (at exit, say)
            _OPEN.pop(id(finish), None)
            stop()
            report(recorder.snapshot(final=True, failed=failed or recorder.failed))

        _OPEN[id(finish)] = finish
        failed = False
        try:
            yield context
        except GeneratorExit:  # the consumer stopped early: not a failure
            raise
        except BaseException:
            failed = True
            raise
        finally:
            if sys.is_finalizing():
                # Collected while Python shuts down (builtins half gone): the final
                # report was made at exit, while it still could be.
                _OPEN.pop(id(finish), None)
            else:
                finish(failed)


_OPEN: dict[int, Callable[[bool], None]] = {}
"""Debugged runs not ended yet: how to end each one's observation with a final report."""


@atexit.register
def _report_runs_left_open() -> None:
    """Give runs still open when the program ends their final report, while Python can."""
    for finish in list(_OPEN.values()):
        finish(False)


def check_debugger(value: object) -> PipelineRuntimeDebugger:
    """Return `value` if it is a `PipelineRuntimeDebugger`, else raise naming it."""
    if not isinstance(value, PipelineRuntimeDebugger):
        raise TypeError(f"expected a paipa.PipelineRuntimeDebugger, got {value!r}")
    return value
