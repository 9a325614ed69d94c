"""Run a plan that has threaded stages: workers, channels and the shutdown protocol.

The layout of a run:

- the *feeder* thread opens the source, runs the inline steps before the first
  threaded step, and puts their outputs into the first channel;
- each threaded stage has ``workers`` threads taking batches from the channel
  in front of it (an inline stage between two threaded ones has one thread);
- the last inline stage, if any, runs in the caller's thread while it reads
  the last channel.

The protocol, with no timeouts and no polling:

- the end of the input travels down: a thread that finishes closes its
  output channel, and a channel whose producers have all closed ends its
  consumers' input once drained;
- the first exception in any thread is recorded and cancels the run: every
  channel is cancelled, so every blocked or later put and get raises
  `Cancelled` and its thread winds down (``finally`` blocks and processor
  teardown run);
- the caller's side always cancels what is left and joins every thread before
  it returns or raises, then raises the first error: the original exception,
  with its traceback and a note naming the step, the worker and the item.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from .._plan import Plan, Stage
from .._source import Source
from .._step import Processor, Skip, Step
from . import _inline
from ._blame import Site, add_note, log_unraisable
from ._channel import Cancelled, Channel
from ._context import RunContext
from ._fused import fused_loop
from ._order import Reorder
from ._policy import Policies
from ._recorder import WorkerFigures

__all__ = ["TimedInput", "running"]

BATCH = 64
"""The most items a worker takes from, or puts into, a channel at once (and never more
than the channel holds, so that a small ``queue_size`` really bounds what is in flight)."""
BATCH_SECONDS = 0.0005
"""Work per batch a worker aims at: slow items are taken one at a time."""
SLOW_GAP = 0.001
"""Outputs further apart than this (seconds) are passed on at once, not batched."""


class _Run:
    """The shared state of one threaded run: channels, threads and errors."""

    def __init__(self, plan: Plan, context: RunContext) -> None:
        self.total = plan.step_count
        self.channels: list[Channel] = []
        self.reorders: list[Reorder] = []
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        # The run's threads count into the caller's tables, and wait between
        # retries in a way that a cancel interrupts.
        self.context = RunContext(
            Policies(context.policies.counts, self.pause), None, context.recorder
        )

    def pause(self, seconds: float) -> None:
        """Wait `seconds` (between retries), or raise `Cancelled` as soon as the run is."""
        if self.cancelled.wait(seconds):
            raise Cancelled

    def channel(self, capacity: int, producers: int) -> Channel:
        """Return a new channel of this run."""
        channel = Channel(capacity, producers)
        self.channels.append(channel)
        return channel

    def spawn(self, name: str, body: Callable[[], None], closes: Channel) -> None:
        """Start a thread running `body`; it closes `closes` when it ends, however it ends."""

        def target() -> None:
            try:
                body()
            except Cancelled:
                pass
            except BaseException as error:
                self.fail(error)
            finally:
                closes.close()

        thread = threading.Thread(target=target, name=f"paipa {name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def fail(self, error: BaseException) -> None:
        """Record `error` and cancel the run (the first error is the one raised)."""
        with self._lock:
            self.errors.append(error)
        self.cancel()

    def cancel(self) -> int:
        """Wake every thread blocked on a channel with `Cancelled`; return items dropped."""
        self.cancelled.set()
        waiting = sum(len(channel) for channel in self.channels)
        for channel in self.channels:
            channel.cancel()
        for reorder in self.reorders:
            reorder.cancel()
        return waiting

    def stop(self) -> None:
        """Cancel whatever still runs and join every thread."""
        self.cancel()
        for thread in self.threads:
            thread.join()

    def report_to(self, error: BaseException) -> None:
        """Attach the errors of the run's threads to `error` raised in the caller."""
        for other in self.errors:
            if other is not error:
                error.add_note(f"paipa: meanwhile a worker also raised {other!r}")

    def raise_errors(self) -> None:
        """Raise the first error of the run's threads, with the later ones noted on it."""
        if self.errors:
            first = self.errors[0]
            for other in self.errors[1:]:
                first.add_note(f"paipa: later, another worker also raised {other!r}")
            raise first


def _sub_plan(stage: Stage | None, total: int) -> Plan:
    return Plan((stage,) if stage is not None else (), total)


def _pump(results: Iterator[Any], outbox: Channel, pending: list[Any]) -> None:
    """Put `results` into `outbox` in batches; pass them on at once when they come slowly."""
    clock = time.perf_counter
    limit = min(BATCH, outbox.capacity)
    last = clock()
    for item in results:
        now = clock()
        pending.append(item)
        if len(pending) >= limit or now - last > SLOW_GAP:
            outbox.put(pending[:])
            pending.clear()
        last = now
    if pending:
        outbox.put(pending[:])
        pending.clear()


def _feed(plan: Plan, source: Source, outbox: Channel, context: RunContext) -> None:
    """Open the source, run the first inline steps and fill the first channel (the feeder)."""
    pending: list[Any] = []
    if hasattr(source.value, "on_wait"):
        # A source that says when it is about to wait (a fed run's input): pass
        # on what has been batched before waiting, so no item waits for the next.
        def flush() -> None:
            if pending:
                outbox.put(pending[:])
                pending.clear()

        source.value.on_wait = flush
    with _inline.running(plan, source, context) as results:
        if not plan.stages and _inline.is_inert(results):
            # An in-memory source cannot stall: move it in full batches.
            while batch := list(itertools.islice(results, min(BATCH, outbox.capacity))):
                outbox.put(batch)
        else:
            _pump(results, outbox, pending)


def _batches(
    inbox: Channel, limit: int, before_get: Callable[[], None] | None = None
) -> Iterator[list[Any]]:
    while True:
        if before_get is not None:
            before_get()
        _, batch = inbox.get(limit)
        if not batch:
            return
        yield batch


class TimedInput:
    """The input of a step that wants to notice stalls (``batch``): `take_within`."""

    def __init__(self, inbox: Channel, before_get: Callable[[], None]) -> None:
        self._inbox = inbox
        self._before_get = before_get
        self._plain: Iterator[Any] | None = None

    def take_within(self, limit: int, timeout: float | None) -> list[Any] | None:
        """Return up to `limit` items; [] at the end; None if none came within `timeout`."""
        self._before_get()
        taken = self._inbox.get_within(limit, timeout)
        return None if taken is None else taken[1]

    def __iter__(self) -> TimedInput:
        """Iterate the items plainly, without noticing stalls."""
        return self

    def __next__(self) -> Any:
        """Return the next item, waiting as long as it takes."""
        if self._plain is None:
            self._plain = itertools.chain.from_iterable(iter(self._take_all, []))
        return next(self._plain)

    def _take_all(self) -> list[Any]:
        taken = self.take_within(BATCH, None)
        return [] if taken is None else taken


def _stream(
    plan: Plan, inbox: Channel, outbox: Channel, context: RunContext, worker: tuple[int, int]
) -> None:
    """Run nested steps over the shared inbox (threaded iterator steps, middle inline stages)."""
    pending: list[Any] = []

    def flush() -> None:
        # Before waiting for more input, pass on what is done: no added latency.
        if pending:
            outbox.put(pending[:])
            pending.clear()

    items: Iterator[Any] | TimedInput
    first = plan.stages[0].segments[0].steps[0]
    if getattr(first.function, "takes_timed_input", False):
        items = TimedInput(inbox, flush)
    else:
        items = itertools.chain.from_iterable(_batches(inbox, min(BATCH, inbox.capacity), flush))
    with _inline.running(plan, items, context, worker) as results:
        _pump(results, outbox, pending)


def _work_items(
    stage: Stage,
    total: int,
    inbox: Channel,
    emit: Callable[[int, int, list[Any]], None],
    context: RunContext,
    worker: tuple[int, int],
) -> None:
    """Run one worker of a threaded item step: batches in, each item through, batches out."""
    recorder = context.recorder
    if recorder is None:
        _process_items(stage, total, inbox, emit, context.policies, worker, None)
        return
    recorder.watch(None, stage.segments[0].first)
    try:
        figures = recorder.worker(stage.segments[0].first, inbox)
        _process_items(stage, total, inbox, emit, context.policies, worker, figures)
    finally:
        recorder.unwatch()


def _process_items(
    stage: Stage,
    total: int,
    inbox: Channel,
    emit: Callable[[int, int, list[Any]], None],
    policies: Policies,
    worker: tuple[int, int],
    figures: WorkerFigures | None,
) -> None:
    member: Step[Any, Any] = stage.step
    site = Site(member.name, stage.segments[0].first, total, member.kind, worker=worker)
    function: Callable[..., Any] = member.function
    kind = member.kind
    ready: list[tuple[Processor[Any, Any], Site]] = []
    if kind == "process":
        try:
            processor: Processor[Any, Any] = member.function()
            processor.setup()
        except BaseException as error:
            add_note(error, site.at_phase("setup"))
            raise
        ready.append((processor, site))
        function, kind = processor.process, "map"
    function = policies.wrap(member, site.position, function)
    loop = fused_loop((kind,)).function
    most = min(BATCH, inbox.capacity)
    limit, estimate = 1, 0.0
    clock = time.perf_counter
    try:
        while True:
            start, batch = inbox.get(limit)
            if not batch:
                break
            items = iter(batch)
            if figures is not None:
                figures.busy = True
                figures.start()
            began = clock()
            try:
                results = list(loop(items, Skip, None, (), function))
            except BaseException as error:
                failed = start + len(batch) - operator.length_hint(items) - 1
                add_note(
                    error, Site(site.name, site.position, total, site.kind, None, worker, failed)
                )
                raise
            spent = clock() - began
            if figures is not None:
                figures.stop(spent, len(batch), len(results))
            per_item = spent / len(batch)
            estimate = per_item if not estimate else (estimate + per_item) / 2
            limit = most if estimate <= 0 else max(1, min(most, int(BATCH_SECONDS / estimate)))
            emit(start, len(batch), results)
    except BaseException as error:
        _inline.teardown(ready, error)
        raise
    _inline.teardown(ready, None)


class _Layout:
    """Wires the stages of a plan into threads and channels, and starts them."""

    def __init__(self, run: _Run, plan: Plan, source: Source) -> None:
        self.run = run
        self.total = plan.step_count
        stages = list(plan.stages)
        first = stages.pop(0) if stages[0].workers is None else None
        last = stages.pop() if stages[-1].workers is None else None
        self.caller_plan = _sub_plan(last, self.total)
        inbox = run.channel(stages[0].queue_size, 1)
        feeder_plan = _sub_plan(first, self.total)
        feed = functools.partial(_feed, feeder_plan, source, inbox, run.context)
        run.spawn("feeder", feed, inbox)
        for number, stage in enumerate(stages):
            # A channel holds what the stage after it asked for; the one into
            # the caller, what the last threaded stage asked for.
            following = stages[number + 1] if number + 1 < len(stages) else stage
            capacity = following.queue_size
            outbox = run.channel(capacity, stage.workers or 1)
            self._start_stage(stage, inbox, outbox)
            inbox = outbox
        self.outputs: Iterator[Any] = itertools.chain.from_iterable(_batches(inbox, inbox.capacity))

    def _start_stage(self, stage: Stage, inbox: Channel, outbox: Channel) -> None:
        workers = stage.workers or 1
        stage_plan = _sub_plan(stage, self.total)
        emit = self._emitter(stage, workers, outbox)
        for index in range(1, workers + 1):
            worker = (index, workers)
            name = f"{stage.step.name if stage.workers else 'inline stage'} {index}/{workers}"
            if stage.workers is None or stage.step.kind == "iterator":
                body = functools.partial(
                    _stream, stage_plan, inbox, outbox, self.run.context, worker
                )
            else:
                body = functools.partial(
                    _work_items, stage, self.total, inbox, emit, self.run.context, worker
                )
            self.run.spawn(name, body, outbox)

    def _emitter(
        self, stage: Stage, workers: int, outbox: Channel
    ) -> Callable[[int, int, list[Any]], None]:
        """Return how a worker of `stage` passes on a batch of results: in order or not."""
        if stage.workers is not None and stage.step.ordered and workers > 1:
            reorder = Reorder(outbox, 2 * workers * min(BATCH, stage.queue_size))
            self.run.reorders.append(reorder)
            return reorder.submit

        def emit(start: int, count: int, results: list[Any]) -> None:
            if results:
                outbox.put(results)

        return emit


@contextmanager
def running(
    plan: Plan,
    source: Source | Iterator[Any],
    context: RunContext | None = None,
) -> Generator[Iterator[Any], None, None]:
    """Start a threaded run of `plan` over `source`; yield the caller's output iterator.

    On exit, by exhaustion, error, or the consumer stopping, whatever still
    runs is cancelled and every thread is joined before this returns. Error
    policies count into the `context`; its control, if any, can cancel the run.
    """
    if context is None:
        context = RunContext()
    run = _Run(plan, context)
    if not isinstance(source, Source):
        source = Source(source)
    if context.control is not None:
        context.control.register(run.cancel)
    layout = _Layout(run, plan, source)
    try:
        with _inline.running(layout.caller_plan, layout.outputs, run.context) as outputs:
            yield outputs
    except Cancelled:
        pass  # a thread failed: its error is raised below
    except BaseException as error:
        run.stop()
        if isinstance(error, GeneratorExit):
            for late in run.errors:
                log_unraisable(late)
        else:
            run.report_to(error)
        raise
    run.stop()
    run.raise_errors()
