"""Run a plan in threads: the layout of stages, channels and workers.

The layout of a run:

- a source is read by the *feeder* thread, which also runs the inline steps
  before the first threaded step; a fed run has no feeder: its input channel
  (``put``) or the user's queue is the first stage's inbox;
- each threaded stage has ``workers`` threads taking batches from the channel
  in front of it; an inline stage between two threaded ones has one thread;
- in the foreground, the last inline stage, if any, runs in the caller's
  thread while it reads the last channel; in the background every stage has
  threads, and the last channel holds the run's outputs for its reader.

The protocol, with no timeouts and no polling (see `_lifecycle`):

- the end of the input travels down: a thread that finishes closes its
  output channel, and a channel whose producers have all closed ends its
  consumers' input once drained;
- the first exception in any thread is recorded and cancels the run: every
  channel is cancelled, so every blocked or later put and get raises
  `Cancelled` and its thread winds down (``finally`` blocks and processor
  teardown run);
- the caller's side cancels what is left and waits for the run to end before
  it returns or raises the first error: the original exception, with its
  traceback and a note naming the step, the worker and the item.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from .._backends import ProcessBackend
from .._plan import DEFAULT_QUEUE_SIZE, Plan, Stage
from .._source import Source
from .._step import Processor, Skip, Step
from . import _inline
from ._blame import Site, add_note, describe, log_unraisable, note
from ._channel import Cancelled, Channel, Inbox
from ._context import RunContext
from ._fused import fused_loop
from ._lifecycle import Lifecycle, SourceWatch, reraise
from ._order import Reorder
from ._policy import Policies
from ._pump import BATCH, BatchSize, Flusher, Pump
from ._queue_input import QueueInput
from ._recorder import WorkerFigures
from ._scope import scope

if TYPE_CHECKING:  # process stages import multiprocessing and pickle: only when used
    from ._process import ProcessStage

__all__ = ["ThreadedRun", "TimedInput", "running"]

BATCH_SECONDS = 0.0005
"""Work per batch a worker aims at: slow items are taken one at a time."""


def _process_backend(stage: Stage | None) -> ProcessBackend | None:
    """Return the process backend `stage`'s workers run in, or None (not in processes)."""
    if stage is None or stage.workers is None:
        return None
    backend = stage.step.backend
    return backend if isinstance(backend, ProcessBackend) else None


def _sub_plan(stage: Stage | None, total: int) -> Plan:
    return Plan((stage,) if stage is not None else (), total)


def _feed(plan: Plan, source: Source, pump: Pump, context: RunContext, watch: SourceWatch) -> None:
    """Open the source, run the first inline steps and fill the first channel (the feeder)."""
    with _inline.running(plan, source, context, watch=watch) as results:
        if plan.stages:
            pump.run(results)
        elif _inline.is_inert(results):
            # An in-memory source cannot stall: move it in full batches.
            outbox = pump.outbox
            while batch := list(itertools.islice(results, pump.limit)):
                outbox.put(batch)
        else:
            pump.run_watched(results, watch)


def _batches(inbox: Inbox, limit: int, pump: Pump | None = None) -> Iterator[list[Any]]:
    while True:
        if pump is not None:
            pump.flush()  # before waiting for input, pass on what is done
        _, batch = inbox.get(limit)
        if not batch:
            return
        yield batch


class TimedInput:
    """The input of a step that wants to notice stalls (``batch``): `take_within`."""

    def __init__(self, inbox: Inbox, pump: Pump) -> None:
        self._inbox = inbox
        self._pump = pump
        self._plain: Iterator[Any] | None = None

    def take_within(self, limit: int, timeout: float | None) -> list[Any] | None:
        """Return up to `limit` items; [] at the end; None if none came within `timeout`."""
        self._pump.flush()
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
    plan: Plan, inbox: Inbox, pump: Pump, context: RunContext, worker: tuple[int, int]
) -> None:
    """Run nested steps over the shared inbox (threaded iterator steps, inline stages)."""
    items: Iterator[Any] | TimedInput
    segments = plan.stages[0].segments
    if segments and getattr(segments[0].steps[0].function, "takes_timed_input", False):
        items = TimedInput(inbox, pump)
    else:
        items = itertools.chain.from_iterable(_batches(inbox, min(BATCH, inbox.capacity), pump))
    if not segments:  # nothing to run: relay the input
        pump.run(items)
        return
    with _inline.running(plan, items, context, worker) as results:
        pump.run(results)


Tallied = Callable[[str, int], None]


def _measured_worker(
    context: RunContext,
    position: int,
    inbox: Inbox,
    work: Callable[[WorkerFigures | None, Tallied | None], None],
) -> None:
    """Run `work` with the worker's figures and tally for the debugger (None when it is off)."""
    recorder = context.recorder
    if recorder is None:
        work(None, None)
        return
    recorder.watch(None, position)
    try:
        figures = recorder.worker(position, inbox)
        work(figures, functools.partial(recorder.tally, position=position))
    finally:
        recorder.unwatch()


def _work_items(
    stage: Stage,
    total: int,
    inbox: Inbox,
    emit: Callable[[int, int, list[Any]], None],
    context: RunContext,
    worker: tuple[int, int],
) -> None:
    """Run one worker of a threaded item step: batches in, each item through, batches out."""

    def work(figures: WorkerFigures | None, tallied: Tallied | None) -> None:
        _process_items(stage, total, inbox, emit, context.policies, worker, figures)

    _measured_worker(context, stage.segments[0].first, inbox, work)


def _process_items(
    stage: Stage,
    total: int,
    inbox: Inbox,
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
    size = BatchSize(min(BATCH, inbox.capacity), BATCH_SECONDS)
    clock = time.perf_counter
    try:
        while True:
            start, batch = inbox.get(size.limit)
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
            size.measured(spent, len(batch))
            emit(start, len(batch), results)
    except BaseException as error:
        _inline.teardown(ready, error)
        raise
    _inline.teardown(ready, None)


def _work_in_process(
    pool: ProcessStage,
    total: int,
    inbox: Inbox,
    emit: Callable[[int, int, list[Any]], None],
    context: RunContext,
    worker: tuple[int, int],
) -> None:
    """Run one worker of a process stage: its thread here, its work in a child process."""
    from ._process import run_worker

    def work(figures: WorkerFigures | None, tallied: Tallied | None) -> None:
        run_worker(pool, total, inbox, emit, context.policies, worker, figures, tallied)

    _measured_worker(context, pool.stage.segments[0].first, inbox, work)


def _stream_in_process(
    pool: ProcessStage,
    total: int,
    inbox: Inbox,
    outbox: Channel,
    context: RunContext,
    worker: tuple[int, int],
) -> None:
    """Run one worker of an iterator step whose generator runs in a child process."""
    from ._process import run_stream_worker

    def work(figures: WorkerFigures | None, tallied: Tallied | None) -> None:
        run_stream_worker(pool, total, inbox, outbox, worker, figures, tallied)

    _measured_worker(context, pool.stage.segments[0].first, inbox, work)


def _capacities(stages: list[Stage]) -> list[int]:
    """Items the channel in front of each stage holds, and (last) the one after them all.

    A channel holds what the stage it feeds asked for; one into an inline stage,
    or after the last stage, what the nearest threaded stage before it asked
    for (or one of its own steps, or the default).
    """
    capacities: list[int] = []
    nearest: int | None = None
    for stage in stages:
        if stage.workers is not None:
            nearest = stage.queue_size
            capacities.append(nearest)
        else:
            own = stage.own_queue_size
            capacities.append(own or nearest or DEFAULT_QUEUE_SIZE)
    capacities.append(nearest or DEFAULT_QUEUE_SIZE)
    return capacities


class ThreadedRun:
    """The channels, pumps and threads of one run of a plan in threads.

    `inbox` is the run's first channel: a fed run puts into it. `outbox` is
    its last: the caller (or a background run's reader) takes from it.
    """

    def __init__(
        self,
        plan: Plan,
        source: Source,
        context: RunContext,
        lifecycle: Lifecycle,
        background: bool,
    ) -> None:
        """Wire `plan` into threads and channels; `start` starts them.

        A source fed while running (``Pipeline()``, a `queue.Queue`) becomes the
        run's `inbox`. In the `background`, every stage gets threads of its own
        and the last channel keeps the outputs.
        """
        self.lifecycle = lifecycle
        self.total = plan.step_count
        # The run's threads wait between retries in a way that a cancel interrupts.
        self.context = RunContext(
            Policies(context.policies.counts, lifecycle.pause), context.recorder
        )
        self.flusher = Flusher()
        self._pumps: set[Pump] = set()
        self._lock = threading.Lock()
        self._starts: list[Callable[[], object]] = []
        self.watch: SourceWatch | None = None
        self.feeder_pump: Pump | None = None
        self.inbox: Inbox | None = None
        self._channels: list[Channel] = []
        self._reorders: list[Reorder] = []
        self._inboxes: list[QueueInput] = []
        self._pools: list[ProcessStage] = []
        stages = list(plan.stages)
        capacities = _capacities(stages)
        self.caller_plan = _sub_plan(None, self.total)
        if not background and stages and stages[-1].workers is None:
            self.caller_plan = _sub_plan(stages.pop(), self.total)
            capacities.pop()
        inbox: Inbox
        if not background and source.kind in ("feed", "queue"):
            source.open()  # raises: a fed pipeline runs in the background only
        if source.kind == "feed":
            inbox = self.inbox = self._channel(capacities[0], 1, stages[0] if stages else None)
        elif source.kind == "queue":
            inbox = self.inbox = QueueInput(source.value, capacities[0])
            self._inboxes.append(inbox)
        else:
            # In the background the feeder only reads the source: stop() may then leave a
            # feeder waiting in a stalled source, without losing items that inline steps
            # after the source hold (a chunk being filled).
            first = None
            if not background and stages and stages[0].workers is None:
                first = stages.pop(0)
                capacities.pop(0)
            inbox = self._channel(capacities[0], 1, stages[0] if stages else None)
            self._feeder(_sub_plan(first, self.total), source, inbox)
        if background and not stages and self.inbox is not None:
            stages.append(Stage(()))  # a fed run without steps: its outputs are its inputs
        for number, stage in enumerate(stages):
            capacity = capacities[min(number + 1, len(capacities) - 1)]
            after = stages[number + 1] if number + 1 < len(stages) else None
            outbox = self._channel(capacity, stage.workers or 1, after)
            self._stage(stage, inbox, outbox)
            inbox = outbox
        self.outbox: Inbox = inbox
        # Once the last stage is done, whatever still runs upstream is not needed.
        self._last_workers = stages[-1].workers or 1 if stages else 1
        lifecycle.on_cancel(self._cancel, self._stop_upstream)

    def _channel(self, capacity: int, producers: int, consumer: Stage | None) -> Channel:
        # A process stage takes up to half its queue at once: fill it in batches that size.
        batch = capacity // 2 if _process_backend(consumer) else BATCH
        channel = Channel(capacity, producers, batch)
        self._channels.append(channel)
        return channel

    def _cancel(self) -> int:
        """Wake every thread of the run and its reader with `Cancelled`; return items dropped."""
        return self._stop_upstream() + self.outbox.cancel()

    def _stop_upstream(self) -> int:
        """Wake every thread before the run's outputs with `Cancelled`; return items dropped."""
        parts: list[Channel | Reorder | QueueInput | ProcessStage] = [
            *self._channels,
            *self._reorders,
            *self._pools,
        ]
        dropped = 0
        for part in [*parts, *self._inboxes]:
            if part is not self.outbox:
                dropped += part.cancel()
        self.flusher.stop()
        return dropped

    def _pump(self, outbox: Channel) -> Pump:
        pump = Pump(outbox, self.flusher)
        self._pumps.add(pump)
        return pump

    def _pump_done(self, pump: Pump) -> None:
        """Note that `pump`'s thread is done (or abandoned); the flusher stops after the last."""
        with self._lock:
            if pump not in self._pumps:
                return
            self._pumps.discard(pump)
            last = not self._pumps
        if last:
            self.flusher.stop()

    def _spawn_later(
        self,
        name: str,
        body: Callable[[], None],
        outbox: Channel,
        watch: SourceWatch | None = None,
        pump: Pump | None = None,
    ) -> None:
        def after() -> None:
            outbox.close()
            if pump is not None:
                self._pump_done(pump)
            if outbox is self.outbox:
                self._last_worker_done()

        self._starts.append(lambda: self.lifecycle.spawn(name, body, after, watch))

    def _last_worker_done(self) -> None:
        with self._lock:
            self._last_workers -= 1
            last = not self._last_workers
        if last:
            self.lifecycle.complete()

    def _feeder(self, plan: Plan, source: Source, outbox: Channel) -> None:
        self.watch = SourceWatch()
        pump = self.feeder_pump = self._pump(outbox)
        body = functools.partial(_feed, plan, source, pump, self.context, self.watch)
        self._spawn_later("feeder", body, outbox, self.watch, pump)

    def _stage(self, stage: Stage, inbox: Inbox, outbox: Channel) -> None:
        workers = stage.workers or 1
        stage_plan = _sub_plan(stage, self.total)
        emit = self._emitter(stage, workers, outbox)
        backend = _process_backend(stage)
        if backend is not None:
            from ._process import ProcessStage
            from ._wire import dump_step

            pool = ProcessStage(stage, backend, dump_step(stage.step))
            self._pools.append(pool)
            for index in range(1, workers + 1):
                worker = (index, workers)
                if stage.step.kind == "iterator":
                    body = functools.partial(
                        _stream_in_process, pool, self.total, inbox, outbox, self.context, worker
                    )
                else:
                    body = functools.partial(
                        _work_in_process, pool, self.total, inbox, emit, self.context, worker
                    )
                self._spawn_later(f"{stage.step.name} {index}/{workers}", body, outbox)
            return
        for index in range(1, workers + 1):
            worker = (index, workers)
            name = f"{stage.step.name if stage.workers else 'inline stage'} {index}/{workers}"
            if not stage.segments:
                name = "relay"
            if stage.workers is None or stage.step.kind == "iterator":
                pump = self._pump(outbox)
                body = functools.partial(_stream, stage_plan, inbox, pump, self.context, worker)
                self._spawn_later(name, body, outbox, pump=pump)
            else:
                body = functools.partial(
                    _work_items, stage, self.total, inbox, emit, self.context, worker
                )
                self._spawn_later(name, body, outbox)

    def _emitter(
        self, stage: Stage, workers: int, outbox: Channel
    ) -> Callable[[int, int, list[Any]], None]:
        """Return how a worker of `stage` passes on a batch of results: in order or not."""
        if stage.workers is not None and stage.step.ordered and workers > 1:
            # Room for two batches per worker: a process worker takes up to half its queue.
            most = stage.queue_size // 2 if _process_backend(stage) else BATCH
            reorder = Reorder(outbox, 2 * workers * max(1, min(most, stage.queue_size)))
            self._reorders.append(reorder)
            return reorder.submit

        def emit(start: int, count: int, results: list[Any]) -> None:
            if results:
                outbox.put(results)

        return emit

    def start(self) -> None:
        """Start every thread; if that fails or is interrupted, cancel those started."""
        try:
            if self._pumps:
                self.lifecycle.spawn("flusher", self.flusher.run)
            else:
                self.flusher.stop()
            for start in self._starts:
                start()
        except BaseException:
            self.lifecycle.cancel("the run could not start all its threads")
            self.lifecycle.release()
            self.lifecycle.wait()
            raise
        self.lifecycle.started()

    def stop_input(self) -> None:
        """Take no more input; let the items already taken through (``stop()``)."""
        if isinstance(self.inbox, QueueInput):
            self.inbox.stop()  # items still in the user's queue were not taken: they stay
            return
        if self.inbox is not None:
            self.inbox.end()  # items put are the run's: they go through
            return
        watch, pump = self.watch, self.feeder_pump
        if watch is None or pump is None:
            return
        watch.halted = True
        if self.lifecycle.abandon_stuck_sources():
            # The feeder waits in the source and will not close its channel until
            # next() returns: pass on what it took, then end the channel for it.
            if self.lifecycle.in_own_thread():
                pump.flush_held()
            else:
                pump.flush()
            pump.outbox.end()
            self._pump_done(pump)


@scope
def running(
    plan: Plan,
    source: Source | Iterator[Any],
    context: RunContext,
    lifecycle: Lifecycle,
) -> Generator[Iterator[Any], None, None]:
    """Run `plan` over `source` in threads; yield the caller's output iterator.

    On exit, by exhaustion, error, or the consumer stopping, whatever still
    runs is cancelled and the run has ended before this returns.
    """
    if not isinstance(source, Source):
        source = Source(source)
    run = ThreadedRun(plan, source, context, lifecycle, background=False)
    run.start()
    outputs = itertools.chain.from_iterable(_batches(run.outbox, run.outbox.capacity))
    try:
        with _inline.running(run.caller_plan, outputs, run.context) as results:
            yield results
    except Cancelled:
        pass  # a thread failed: its error is raised below
    except BaseException as error:
        stopped = isinstance(error, GeneratorExit)
        lifecycle.cancel("the consumer stopped reading" if stopped else f"{describe(error)}")
        lifecycle.release()
        lifecycle.wait()
        for other in lifecycle.errors:
            if stopped:
                log_unraisable(other)
            elif other is not error:
                note(error, f"paipa: meanwhile a worker also raised {describe(other)}")
        raise
    lifecycle.complete()
    lifecycle.release()
    lifecycle.wait()
    first = lifecycle.first_error()
    if first is not None:
        reraise(first)
