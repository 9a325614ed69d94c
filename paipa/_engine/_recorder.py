"""Measure a run for the debugger, at the boundaries between steps.

Every step's output passes through a *boundary* that counts the items
exactly (in C) and times how long fetching an item from upstream takes: that
is the time of everything upstream of the boundary in the same thread
(*inclusive*). A step's own (*exclusive*) time is its boundary's time minus
the boundary just before it. To keep the cost near nothing:

- fetches of 1 ms or more are all timed (``time.perf_counter``); from 10 us,
  one in four is timed at first, one in 16 later; faster ones, one in 16 at
  first, then more sparsely as the run goes on, down to one in 1,024 (the
  samples grow as the square root of the items). Each timed fetch is
  weighted by the gap before it; the gaps are random, and the items between
  timed fetches pass through ``islice`` with no Python code per item;
- CPU time is read on one timed fetch in eight (the thread's CPU clock),
  and a step's CPU is its time times the share of CPU in those fetches, so
  it never exceeds its time; it is split into user and system time in the
  ratio ``getrusage(RUSAGE_THREAD)`` shows, which is only as fine as the
  kernel's ticks but right on average.

The input of a thread that reads a channel has a boundary too: its time is
waiting, and belongs to no step. A threaded item step's workers time each
batch exactly instead. Memory: the process's RSS (psutil) is read at each
tick of the observer thread, and its growth shared among the steps in
proportion to the time each spent in that tick.

Measuring from the sampled threads themselves matters: a profiler thread
sampling other threads' stacks only gets the GIL when they block, and so
sees them waiting far more often than they do.
"""

from __future__ import annotations

import itertools
import operator
import random
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType
from typing import Any

from .._checks import instance_of
from .._debug._stats import Snapshot, StepStats
from .._step import Step
from ._blame import Blame
from ._channel import Inbox
from ._policy import ErrorCounts

__all__ = ["Boundary", "Recorder", "WorkerFigures", "tally"]

EVERY_ITEM = 0.001
"""Fetches that take this long or longer are all timed."""
SLOW_ITEM = 0.00001
"""Fetches slower than this (but faster than `EVERY_ITEM`): one in four is timed."""
SPARSE = 16
"""One faster fetch in this many is timed at first..."""
SPARSEST = 1024
"""...and at most one in this many, once many items have passed."""
CPU_EVERY = 8
"""CPU is read on one timed fetch in this many."""

_first = operator.itemgetter(0)

_ACTIVE: dict[int, tuple[Recorder, Blame | None, int | None]] = {}
"""Per thread ident: the recorder watching it, and how to place a frame (for `tally`)."""


class _Times:
    """Time, and the user/system split of CPU, measured for a step by a boundary or a worker."""

    __slots__ = ("seconds", "system_ticks", "user_ticks")

    def __init__(self) -> None:
        self.seconds: float = 0.0
        self.user_ticks: float = 0.0
        self.system_ticks: float = 0.0


class Boundary(_Times):
    """The figures measured where one step's output leaves it (or a thread's input enters).

    Its CPU is estimated as its time times the share of CPU in the fetches whose
    CPU was read (`cpu_read` over `cpu_span`): a thread's CPU time never exceeds
    its wall time, and neither does this estimate.
    """

    __slots__ = ("_counter", "cpu_read", "cpu_span", "position", "upstream")

    def __init__(self, position: int | None, upstream: Boundary | None) -> None:
        super().__init__()
        self.cpu_read = 0.0
        """CPU seconds of the fetches whose CPU was read."""
        self.cpu_span = 0.0
        """Wall-clock seconds of those same fetches."""
        self._counter = itertools.repeat(None, sys.maxsize)
        """Taken once per item that passed (in C): the items are counted by what is left."""
        self.position = position
        """The step whose output this is (0: the source); None for a channel read."""
        self.upstream = upstream
        """The boundary before this one in the same thread, whose time is not ours."""

    @property
    def items(self) -> int:
        """Items that passed so far (exact)."""
        return sys.maxsize - operator.length_hint(self._counter)

    @property
    def cpu_estimate(self) -> float:
        """CPU seconds spent upstream of this boundary in its thread (never above `seconds`)."""
        return self.seconds * self.cpu_read / self.cpu_span if self.cpu_span > 0 else 0.0

    def counted(self, items: Iterator[Any]) -> Iterator[Any]:
        """Count `items` in C as they pass, without timing them."""
        return map(_first, zip(items, self._counter, strict=False))


class _Cpu:
    """CPU time of the calling thread: exact in total, split into user and system time.

    The thread clock (``time.thread_time``) is exact; ``getrusage`` is only as
    fine as the kernel's ticks, so it is used for the user/system split alone.
    """

    __slots__ = ("rusage", "total")

    def __init__(self) -> None:
        self.total = time.thread_time()
        self.rusage = resource.getrusage(resource.RUSAGE_THREAD)

    def add_since(self, figures: _Times, weight: float) -> float:
        """Add the user/system split since this reading, times `weight`, to `figures`.

        Return the CPU seconds used since (unweighted): the caller decides what they count.
        """
        spent = time.thread_time() - self.total
        now = resource.getrusage(resource.RUSAGE_THREAD)
        figures.user_ticks += (now.ru_utime - self.rusage.ru_utime) * weight
        figures.system_ticks += (now.ru_stime - self.rusage.ru_stime) * weight
        return spent


def _weight(elapsed: float, timed: int) -> int:
    """Return how many items the next timed fetch stands for, given how long one took.

    The gaps grow with the number of fetches timed so far (`timed`), so the
    samples grow as the square root of the items: fast fetches one in `SPARSE`
    at first, down to one in `SPARSEST`; from `SLOW_ITEM`, one in 4 to one in 16.
    """
    if elapsed >= EVERY_ITEM:
        return 1
    if elapsed >= SLOW_ITEM:
        return min(16, max(4, timed >> 4))
    return min(SPARSEST, max(SPARSE, timed >> 1))


def _measured(items: Iterator[Any], boundary: Boundary) -> Iterator[Any]:
    """Pass `items` through, counting them and timing fetches (see the module doc).

    The items are counted in C (`Boundary.counted`) and pass in runs: one timed
    fetch, then a run of untimed ones that ``islice`` hands on with no Python
    code per item. The runs' lengths are random, with the weight as their
    mean: a fixed gap could fall in step with the input's own rhythm (batches
    from a channel, say) and always time the slow fetch, or never.
    """
    return itertools.chain.from_iterable(_runs(boundary.counted(items), boundary))


def _runs(items: Iterator[Any], boundary: Boundary) -> Iterator[Iterable[Any]]:
    """Yield the runs `_measured` chains: a timed item alone, then the untimed ones after it."""
    clock = time.perf_counter
    draw = random.Random(id(boundary)).random
    channel = boundary.position is None  # channel reads: always timed
    span = 1  # items the next timed fetch stands for: itself and the untimed run before it
    timed = 0
    cpu: _Cpu | None = None
    islice = itertools.islice
    while True:
        began = clock()
        for item in items:  # noqa: B007 (the item fetched, timed)
            break
        else:
            return
        elapsed = clock() - began
        boundary.seconds += elapsed * span
        if cpu is not None:
            boundary.cpu_read += cpu.add_since(boundary, span * CPU_EVERY)
            boundary.cpu_span += elapsed
            cpu = None
        weight = 1 if channel else _weight(elapsed, timed)
        span = 1 + int(draw() * (2 * weight - 1))  # 1 .. 2 * weight - 1; mean: weight
        yield (item,)
        if span > 1:
            yield islice(items, span - 1)
        timed += 1
        if not timed % CPU_EVERY:
            cpu = _Cpu()


class WorkerFigures(_Times):
    """A threaded item step's worker: its exact counts and times, and whether it is busy."""

    __slots__ = ("_cpu", "busy", "cpu", "items_in", "items_out", "rss")

    def __init__(self) -> None:
        super().__init__()
        self.cpu = 0.0
        """CPU seconds of the worker's batches (of its process, for a worker process)."""
        self.rss = 0
        """Peak resident memory of the worker's process (worker processes only)."""
        self.busy = False
        self.items_in = 0
        self.items_out = 0
        self._cpu: _Cpu | None = None

    def start(self) -> None:
        """Mark the start of a batch: the worker is busy."""
        self.busy = True
        self._cpu = _Cpu()

    def stop_remote(
        self, seconds: float, items_in: int, items_out: int, cpu: float, rss: int
    ) -> None:
        """Record a batch that a worker process ran: its own time, CPU and peak RSS."""
        self.cpu += cpu
        self.user_ticks += cpu  # a process's split is not sent; count it as user time
        self.seconds += seconds
        self.items_in += items_in
        self.items_out += items_out
        self.rss = max(self.rss, rss)
        self.busy = False

    def stop(self, seconds: float, items_in: int, items_out: int) -> None:
        """Record a batch of `items_in` items that took `seconds` and gave `items_out`."""
        if self._cpu is not None:
            self.cpu += self._cpu.add_since(self, 1)
        self.seconds += seconds
        self.items_in += items_in
        self.items_out += items_out
        self.busy = False


class Recorder:
    """Measures one run; hands out `Snapshot`s of it."""

    def __init__(
        self,
        steps: Sequence[Step[Any, Any]],
        source: tuple[str, int | None],
        counts: dict[int, ErrorCounts],
    ) -> None:
        """Measure a run of `steps` over a source named ``source[0]`` of length ``source[1]``."""
        self._names = [(source[0], "source"), *((s.name, s.kind) for s in steps)]
        self._total = source[1]
        self._errors = counts
        self._boundaries: list[Boundary] = []
        self._workers: dict[int, list[WorkerFigures]] = {}
        self._queues: dict[int, Inbox] = {}
        self._tallies: list[dict[str, int]] = [{} for _ in self._names]
        self._rss = [0] * len(self._names)
        self.failed = False
        """Set by a run that ends failed outside the debugger's block (a background run)."""
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        import psutil  # only once a debugger is on: psutil costs 10 ms at import

        self._process = psutil.Process()
        self._psutil_error: type[Exception] = psutil.Error
        self._memory = self._process.memory_info().rss
        self._last_seconds = [0.0] * len(self._names)

    # -- what the engines call ------------------------------------------------

    def measure(
        self,
        position: int | None,
        items: Iterator[Any],
        upstream: Boundary | None,
        inert: bool = False,
    ) -> tuple[Iterator[Any], Boundary]:
        """Return `items` measured as the output of the step at `position`, and its boundary.

        `inert` items (a list or range being read) are only counted: they take no time.
        """
        boundary = Boundary(position, upstream)
        with self._lock:
            self._boundaries.append(boundary)
        if inert:
            return boundary.counted(items), boundary
        return _measured(items, boundary), boundary

    def worker(self, position: int, inbox: Inbox) -> WorkerFigures:
        """Return the figures one worker of the threaded step at `position` keeps."""
        figures = WorkerFigures()
        with self._lock:
            self._workers.setdefault(position, []).append(figures)
            self._queues[position] = inbox
        return figures

    def watch(self, blame: Blame | None, position: int | None = None) -> None:
        """Let `tally` calls in this thread find their step (by `blame`'s frames or `position`)."""
        _ACTIVE[threading.get_ident()] = (self, blame, position)

    def unwatch(self) -> None:
        """Forget the calling thread: it leaves the run."""
        _ACTIVE.pop(threading.get_ident(), None)

    def tally(self, name: str, amount: int, position: int) -> None:
        """Add `amount` to the count `name` of the step at `position`."""
        with self._lock:
            counts = self._tallies[position]
            counts[name] = counts.get(name, 0) + amount

    # -- figures ------------------------------------------------------------------

    def _own(self) -> tuple[list[float], list[float], list[float], list[int], list[int]]:
        """Exclusive seconds, user and system time per step; items in and out."""
        size = len(self._names)
        seconds, cpu = [0.0] * size, [0.0] * size
        user_ticks, system_ticks = [0.0] * size, [0.0] * size
        items_in, items_out = [0] * size, [0] * size
        with self._lock:
            boundaries = list(self._boundaries)
            workers = [
                (position, worker)
                for position, figures in self._workers.items()
                for worker in figures
            ]
        for boundary in boundaries:
            position, upstream = boundary.position, boundary.upstream
            if position is None:
                continue
            own_seconds = boundary.seconds - (upstream.seconds if upstream else 0.0)
            own_cpu = boundary.cpu_estimate - (upstream.cpu_estimate if upstream else 0.0)
            seconds[position] += own_seconds
            # One thread's CPU time never exceeds its wall time: nor may the estimates.
            cpu[position] += min(max(0.0, own_cpu), max(0.0, own_seconds))
            user_ticks[position] += boundary.user_ticks - (upstream.user_ticks if upstream else 0.0)
            system_ticks[position] += boundary.system_ticks - (
                upstream.system_ticks if upstream else 0.0
            )
            items_out[position] += boundary.items
            if upstream is not None:
                items_in[position] += upstream.items
        for position, worker in workers:
            seconds[position] += worker.seconds
            cpu[position] += worker.cpu
            user_ticks[position] += worker.user_ticks
            system_ticks[position] += worker.system_ticks
            items_in[position] += worker.items_in
            items_out[position] += worker.items_out
        user, system = [0.0] * size, [0.0] * size
        for position in range(size):
            # Sampled estimates of a step and its upstream can cross: never below zero.
            seconds[position] = max(0.0, seconds[position])
            spent = max(0.0, cpu[position])
            ticks_user = max(0.0, user_ticks[position])
            ticks = ticks_user + max(0.0, system_ticks[position])
            share = ticks_user / ticks if ticks > 0 else 1.0
            user[position], system[position] = spent * share, spent * (1.0 - share)
        return seconds, user, system, items_in, items_out

    def tick(self) -> None:
        """Read the RSS; share its growth among the steps by their time since the last tick."""
        try:
            memory = self._process.memory_info().rss
        except (self._psutil_error, OSError):
            return
        growth, self._memory = memory - self._memory, memory
        seconds = self._own()[0]
        spent = [
            max(0.0, now - before) for now, before in zip(seconds, self._last_seconds, strict=True)
        ]
        self._last_seconds = seconds
        total = sum(spent)
        if total > 0:
            for position, share in enumerate(spent):
                self._rss[position] += int(growth * share / total)

    def snapshot(self, final: bool = False, failed: bool = False) -> Snapshot:
        """Return the figures so far, source first."""
        seconds, user, system, items_in, items_out = self._own()
        with self._lock:
            tallies = [dict(counts) for counts in self._tallies]
            workers = {position: list(figures) for position, figures in self._workers.items()}
        steps: list[StepStats] = []
        for position, (name, kind) in enumerate(self._names):
            errors = self._errors.get(position, ErrorCounts())
            figures = workers.get(position)
            queue = self._queues.get(position)
            steps.append(
                StepStats(
                    name,
                    position,
                    kind,
                    items_in[position] if position else 0,
                    items_out[position],
                    seconds[position],
                    user[position],
                    system[position],
                    # Worker processes: their own peak memory, which this process's misses.
                    self._rss[position] + sum(worker.rss for worker in figures or ()),
                    tallies[position],
                    errors.retries,
                    errors.skipped,
                    len(figures) if figures is not None else None,
                    sum(worker.busy for worker in figures) if figures is not None else None,
                    len(queue) if queue is not None else None,
                )
            )
        elapsed = time.perf_counter() - self._started
        return Snapshot(elapsed, tuple(steps), final, self._total, failed)

    def start(
        self, report: Callable[[Snapshot], None], interval: float, tick: float
    ) -> Callable[[], None]:
        """Tick every `tick` s and `report` every `interval` s in a thread; return its stop."""
        stopping = threading.Event()

        def observe() -> None:
            next_report = time.perf_counter() + interval
            while not stopping.wait(min(tick, interval)):
                self.tick()
                if time.perf_counter() >= next_report:
                    report(self.snapshot())
                    next_report += interval

        thread = threading.Thread(target=observe, name="paipa debugger", daemon=True)
        thread.start()

        def stop() -> None:
            stopping.set()
            thread.join()
            self.tick()

        return stop


def _place(blame: Blame | None, position: int | None, frame: FrameType | None) -> int | None:
    while frame is not None and blame is not None:
        site = blame.site_at(frame)
        if site is not None:
            return site.position
        frame = frame.f_back
    return position


_in_worker_process: dict[str, int] | None = None
"""In a worker process: the tallies of the batch being run, for the parent's debugger."""


def collect_tallies_in_this_process() -> None:
    """Make `tally` collect counts here (a worker process), for `take_tallies`."""
    global _in_worker_process
    _in_worker_process = {}


def take_tallies() -> dict[str, int]:
    """Return the tallies collected since the last call, and start afresh."""
    if not _in_worker_process:
        return {}
    taken = dict(_in_worker_process)
    _in_worker_process.clear()
    return taken


def tally(name: str = "queries", amount: int = 1) -> None:
    """Count `amount` of `name` for the step that is running (shown by the debugger).

    Call it from inside a step, e.g. once per database query; the debugger
    reports the total and the count per item. Without a debugger it does nothing.

    ```pycon
    >>> from paipa import Pipeline, step, tally
    >>> @step.map
    ... def lookup(key: int) -> int:
    ...     tally("queries")
    ...     return key
    >>> result = (Pipeline(range(4)) | lookup).debug(reporters=[]).run()
    >>> result.stats.steps[1].counts if result.stats else None
    {'queries': 4}

    ```
    """
    instance_of(name, str, "tally() needs a name (a str)")
    instance_of(amount, int, "tally() counts whole amounts (an int)")
    watching = _ACTIVE.get(threading.get_ident())
    if watching is None:
        if _in_worker_process is not None:  # sent back with the batch's outcomes
            _in_worker_process[name] = _in_worker_process.get(name, 0) + amount
        return
    recorder, blame, position = watching
    found = _place(blame, position, sys._getframe(1))  # pyright: ignore[reportPrivateUsage]
    if found is not None:
        recorder.tally(name, amount, found)
