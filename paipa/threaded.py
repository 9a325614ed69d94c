# 0.3 steps override protected methods such as _pass_on, and this module calls them:
# pyright: reportPrivateUsage=false
"""paipa 0.3's threaded API, run by paipa's own threaded engine.

Code written for paipa 0.3 keeps working::

    from paipa import threaded

    pipeline = threaded.Pipeline([(Download, 4), (threaded.funcstep(store), 1)])
    pipeline.put_iterable(urls)
    pipeline.run()

Each ``(step, workers)`` pair becomes a stage of paipa's threaded engine: `workers`
threads, unordered, behind a bounded queue of ``threshold`` items (64 by default).
Cancel, Ctrl-C, errors and shutdown follow the engine's protocol, so a run never
deadlocks and never hangs on termination. New code writes ``@step.map(workers=4)``
and `paipa.Pipeline`; the documentation's page "Coming from paipa 0.3" maps one to
the other.
"""

from __future__ import annotations

import atexit
import enum
import logging
import queue
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, NamedTuple, cast

from ._background import BackgroundRun
from ._checks import instance_of
from ._engine._blame import describe
from ._engine._channel import Cancelled
from ._engine._lifecycle import RunCancelled, RunState
from ._pipeline import Pipeline as _ModernPipeline
from ._step import Step
from .counter import Counter

__all__ = [
    "AbstractIterStep",
    "AbstractStep",
    "Entry",
    "FuncStep",
    "IterStep",
    "NopTracker",
    "Pipeline",
    "SiblingInfo",
    "SkipEntry",
    "TimedChunk",
    "Types",
    "funcstep",
    "is_step",
    "iterstep",
]

logger: logging.Logger = logging.getLogger(__name__)

IDLE_SECONDS = 0.5
"""A step's ``in_queue_empty`` hook is called after this long without input."""


class SkipEntry(Exception):  # noqa: N818 (0.3's name)
    """Raised by a step's ``process`` to drop the item it was given."""


class Types(enum.IntEnum):
    """What an `Entry` carries."""

    sentry = 1
    """The end of the input."""
    exception = 2
    """A failure, passed down to the pipeline (``payload`` is ``sys.exc_info()``)."""
    regular = 3
    """An item."""
    meta = 4
    """A meta item (`Pipeline.put_meta`): steps pass it to ``process_meta``."""


class Entry(NamedTuple):
    """What a step passes on with ``_pass_on`` or re-enqueues: a payload and its kind."""

    type: Types
    payload: Any
    retries: int | None


class SiblingInfo(NamedTuple):
    """What a step instance knows of its siblings (the other workers of its step)."""

    index: int  # type: ignore[assignment]  # pyright: ignore[reportIncompatibleMethodOverride] (0.3's field name)
    """This instance's place among its siblings, from 0."""
    storage: dict[Any, Any]
    """A dictionary shared by the siblings."""
    threads: list[AbstractStep]
    """All sibling instances, this one included."""


class NopTracker:
    """A tracker that does nothing; pass ``tracker=`` to `Pipeline` to be told of each item."""

    def before_process(self, step: AbstractStep) -> None:
        """Override to act before each ``process`` call."""

    def after_process(self, step: AbstractStep) -> None:
        """Override to act after each ``process`` call that returned."""


class _Meta:
    """A meta item on its way through the engine's queues."""

    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload


class _StepQueue:
    """What a 0.3 step sees as ``self._in_queue`` or ``self._out_queue``."""

    def __init__(
        self,
        put: Callable[[Entry], None],
        size: Callable[[], int],
        closed: Callable[[], bool],
        outbox: list[Any] | None = None,
    ) -> None:
        self.outbox: list[Any] | None = outbox
        """An out-queue's entries passed on and not yet handed to the engine."""
        self._put = put
        self._size = size
        self._closed = closed

    def put(self, entry: Entry, *_: Any, **__: Any) -> None:
        """In-queue: re-enqueue `entry` for a sibling; out-queue: pass it on."""
        self._put(entry)

    def qsize(self) -> int:
        """Entries waiting to be re-processed (in-queue) or passed on (out-queue)."""
        return self._size()

    def empty(self) -> bool:
        """Whether `qsize` is 0."""
        return self._size() == 0

    @property
    def closed(self) -> bool:
        """Whether the run is being cancelled (a step failed, or it was stopped)."""
        return self._closed()


class AbstractStep:
    """A 0.3 threaded step: subclass it and write ``process(entry)`` returning the result.

    Each of a step's workers has an instance of its own. Hooks, all optional:
    ``step_initialize`` (once per step, on the first instance) and
    ``initialize(**step_options)`` (each instance) before the run starts;
    ``thread_initialize`` and ``thread_shutdown`` in each worker thread;
    ``step_shutdown`` after the last worker of the step ended;
    ``in_queue_empty`` whenever no input came for half a second;
    ``process_meta`` for meta items. Raise `SkipEntry` to drop an item.

    A failing item is retried up to ``max_retries`` times (10 by default), then
    logged and dropped; with ``max_retries=0`` the run goes on and
    `Pipeline.run` raises the first failure at the end.
    """

    def __init__(
        self,
        in_queue: _StepQueue,
        out_queue: _StepQueue,
        sibling: SiblingInfo,
        counter: Counter,
        max_retries: int = 10,
        threshold: int = 64,
        tracker: Any = None,
        **kw: Any,
    ) -> None:
        """Set up the instance; the `Pipeline` makes one per worker."""
        self._in_queue: _StepQueue = in_queue
        self._out_queue: _StepQueue = out_queue
        self.sibling: SiblingInfo = sibling
        self._counter: Counter = counter
        self._max_retries: int = max_retries
        self._threshold: int = threshold
        self._tracker: Any = NopTracker() if tracker is None else tracker
        self.options: dict[str, Any] = kw
        """The pipeline's keyword options this class does not take itself."""
        self.done: bool = False
        """Whether this instance has ended."""
        self.name: str = f"{type(self).__name__}-{sibling.index}"

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def step_initialize(self) -> None:
        """Override to set up the step once, on its first instance, before the run starts."""

    def initialize(self) -> None:
        """Override to set up each instance before the run starts; gets the step's options."""

    def thread_initialize(self) -> None:
        """Override to set up each worker thread, before its first item."""

    def thread_shutdown(self) -> None:
        """Override to clean up in each worker thread, after its last item."""

    def step_shutdown(self) -> None:
        """Override to clean up the step once, in the thread of its last worker to end."""

    def in_queue_empty(self) -> None:
        """Override to act whenever no input came for half a second."""

    def process(self, entry: Any) -> Any:
        """Return the result for `entry`; subclasses write it."""
        raise NotImplementedError(f"{type(self).__name__} must define process(entry)")

    def process_meta(self, entry: Any) -> Any:
        """Return the result for a meta item; by default the item itself."""
        return entry

    def reenqueue(self, entry: Any) -> None:
        """Put `entry` back: this step (some worker of it) processes it again."""
        self._in_queue.put(Entry(Types.regular, entry, 0))

    def _retry(self, entry: Entry) -> bool:
        """Re-enqueue a failed `entry` unless it has had ``max_retries`` retries."""
        retries = entry.retries or 0
        if self._max_retries and retries < self._max_retries:
            self._in_queue.put(Entry(entry.type, entry.payload, retries + 1))
            return True
        return False

    def _pass_on(self, result: Entry) -> None:
        """Pass `result` (an `Entry`) on to the next step."""
        self._out_queue.put(result)

    def _pass_fail(self) -> None:
        """Pass the exception being handled on to the pipeline, which raises it."""
        self._pass_on(Entry(Types.exception, sys.exc_info(), None))


class AbstractIterStep(AbstractStep):
    """A step whose ``process(iterator)`` takes the items as an iterator and yields results.

    Each worker calls it once, over the items it takes from the shared input.
    An error in it fails the run.
    """


class TimedChunk(AbstractStep):
    """Groups items into lists of ``size`` (64), passing a shorter one after ``timeout`` s (5).

    Give the options as the step's third element: ``(TimedChunk, 1, {"size": 5})``.
    """

    def initialize(self, timeout: float = 5, size: int = 64) -> None:
        """Take `timeout` and `size` from the step's options."""
        self._timeout = timeout
        self._size = size
        self._chunk: list[Any] = []
        self._last_sent = _monotonic()

    def process(self, entry: Any) -> Any:
        """Return the item, to be gathered by ``_pass_on``."""
        return entry

    def _send_chunk(self) -> None:
        if self._chunk:
            chunk, self._chunk = self._chunk, []
            super()._pass_on(Entry(Types.regular, chunk, 0))
            self._last_sent = _monotonic()

    def _pass_on(self, result: Entry) -> None:
        if result.type in (Types.sentry, Types.meta):
            self._send_chunk()
            super()._pass_on(result)
        elif result.type == Types.exception:
            super()._pass_on(result)
        else:
            self._chunk.append(result.payload)
            if len(self._chunk) >= self._size:
                self._send_chunk()

    def in_queue_empty(self) -> None:
        """Pass the items gathered so far if ``timeout`` seconds went by since the last list."""
        if self._chunk and _monotonic() - self._last_sent > self._timeout:
            self._send_chunk()


def _monotonic() -> float:
    import time

    return time.monotonic()


FuncStep = AbstractStep
"""The base of the classes `funcstep` makes (another name for `AbstractStep`)."""
IterStep = AbstractIterStep
"""The base of the classes `iterstep` makes (another name for `AbstractIterStep`)."""


def funcstep(func: Callable[[Any], Any], base: type[AbstractStep] = AbstractStep) -> type[Any]:
    """Return a step class (subclass of `base`) whose ``process`` is `func`."""
    if not callable(func):
        raise TypeError(f"funcstep() takes a function, got {func!r}")
    name = getattr(func, "__name__", type(func).__name__)
    return type(name, (base,), {"process": staticmethod(func), "__module__": __name__})


def iterstep(func: Callable[[Iterator[Any]], Iterable[Any] | None]) -> type[Any]:
    """Return a step class running `func` over an iterator of items, passing on what it yields."""
    return funcstep(func, base=AbstractIterStep)


def is_step(step: object) -> bool:
    """Whether `step` is a step class (a subclass of `AbstractStep`)."""
    return isinstance(step, type) and issubclass(step, AbstractStep)


_STEP_DEFINITION = (
    "a step is (StepClass, workers) or (StepClass, workers, options): "
    "an AbstractStep subclass (or funcstep(f), iterstep(f)), a positive int, a dict"
)


def _parse(definition: object) -> tuple[type[AbstractStep], int, dict[str, Any]]:
    """Return a step definition's class, workers and options, or raise naming it."""
    if not isinstance(definition, (tuple, list)) or len(definition) not in (2, 3):  # pyright: ignore[reportUnknownArgumentType]
        raise ValueError(f"Invalid step definition: {definition!r}; {_STEP_DEFINITION}")
    parts = cast("Sequence[Any]", definition)
    step: Any = parts[0]
    workers: Any = parts[1]
    options: Any = parts[2] if len(parts) == 3 else {}
    if not is_step(step):
        hint = _STEP_DEFINITION
        if isinstance(step, Step):
            hint = (
                "this is a step of the new API: give it workers (step.with_options(workers=4)) "
                "and compose it with | in a paipa.Pipeline instead"
            )
        raise ValueError(f"Unknown step {step!r} in {definition!r}; {hint}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"Invalid number of workers {workers!r} in {definition!r}")
    if not isinstance(options, dict):
        raise ValueError(f"Invalid step options {options!r} in {definition!r}: expected a dict")
    for klass in cast("type[AbstractStep]", step).__mro__:
        if klass in _OURS:
            continue
        for name in ("_loop", "run"):
            if name in vars(klass):
                raise TypeError(
                    f"{step.__name__} overrides {name}(), which paipa's engine does not call; "
                    "put the work in process() (or process(iterator) with iterstep)"
                )
    return step, workers, dict(options)  # pyright: ignore[reportUnknownArgumentType]


_OURS = (AbstractStep, AbstractIterStep, TimedChunk, object)


class _Work:
    """What the workers of one step share: their instances and the re-enqueued entries."""

    def __init__(self, pipeline: Pipeline, name: str, instances: list[AbstractStep]) -> None:
        self.pipeline = pipeline
        self.name = name
        self.instances = instances
        self.again: deque[Entry] = deque()
        self.lock = threading.Lock()
        self._claimed = 0

    def claim(self) -> AbstractStep:
        """Return the instance of the worker calling (each worker gets the next one)."""
        with self.lock:
            instance = self.instances[self._claimed]
            self._claimed += 1
            return instance

    def end(self, instance: AbstractStep) -> bool:
        """Mark `instance` done; return whether it was the last of its siblings."""
        with self.lock:
            instance.done = True
            return all(sibling.done for sibling in self.instances)


class _Stage:
    """The engine's view of one 0.3 step: an iterator step run by each of its workers."""

    takes_timed_input = True
    """Tells the engine to give each worker an input it can wait on with a timeout."""

    def __init__(self, work: _Work, workers: int, queue_size: int, last: bool) -> None:
        self._work = work
        self._last = last
        self.__name__ = work.name
        self.step_options = {"workers": workers, "queue_size": queue_size}

    def __call__(self, items: Iterable[Any]) -> Iterator[Any]:
        """Run one worker of the step over `items` (called in the worker's thread)."""
        own, ident = self._work.pipeline._own_threads, threading.get_ident()
        own.add(ident)
        try:
            instance = self._work.claim()
            if isinstance(instance, AbstractIterStep):
                results = _iterate(instance, self._work, items)
            else:
                results = _serve(instance, self._work, items)
            yield from self._work.pipeline._counted(results) if self._last else results
        finally:
            own.discard(ident)  # thread idents are reused by later threads


class _Relay:
    """A thread moving items from a user's bounded ``in_queue`` into the engine's queues."""

    __name__ = "in_queue"

    def __init__(self, queue_size: int) -> None:
        self.step_options = {"workers": 1, "queue_size": queue_size}

    def __call__(self, items: Iterable[Any]) -> Iterator[Any]:
        return iter(items)


def _drain(outbox: list[Any]) -> list[Any]:
    """Return what `outbox` holds and empty it."""
    taken = outbox[:]
    outbox.clear()
    return taken


def _outbox(instance: AbstractStep) -> list[Any]:
    outbox = instance._out_queue.outbox
    assert outbox is not None  # the out-queue the Pipeline gave the instance
    return outbox


def _serve(instance: AbstractStep, work: _Work, items: Iterable[Any]) -> Iterator[Any]:
    """One worker of an item step: take entries, ``process`` them, yield what is passed on."""
    outbox = _outbox(instance)
    take_within: Callable[[int, float | None], list[Any] | None] | None = getattr(
        items, "take_within", None
    )
    plain = iter(items)
    limit = 1 if len(work.instances) > 1 else 64
    pending: deque[Any] = deque()
    again = work.again
    cancelling = work.pipeline._cancelling
    ended = initialized = False
    try:
        instance.thread_initialize()
        initialized = True
        while True:
            try:
                entry = again.popleft()
            except IndexError:
                if not pending:
                    if take_within is None:
                        pending.extend(_next_or_nothing(plain))
                    else:
                        taken = take_within(limit, IDLE_SECONDS)
                        if taken is None:
                            instance.in_queue_empty()
                            yield from _drain(outbox)
                            continue
                        pending.extend(taken)
                    if not pending:
                        if again:  # a sibling re-enqueued meanwhile
                            continue
                        break
                value = pending.popleft()
                entry = (
                    Entry(Types.meta, value.payload, None)
                    if type(value) is _Meta
                    else Entry(Types.regular, value, 0)
                )
            if cancelling():  # a failure elsewhere, or Ctrl-C: no more work for this run
                raise Cancelled
            _process(instance, entry)
            if outbox:
                yield from _drain(outbox)
        ended = True
        instance._pass_on(Entry(Types.sentry, None, None))
        yield from _drain(outbox)
    finally:
        _shut_down(instance, work, ended, initialized)


def _next_or_nothing(items: Iterator[Any]) -> list[Any]:
    for item in items:
        return [item]
    return []


def _process(instance: AbstractStep, entry: Entry) -> None:
    """Run one entry through `instance` as 0.3 did: skip, retry, drop or pass the failure on."""
    if entry.type == Types.meta:
        try:
            result = instance.process_meta(entry.payload)
        except SkipEntry:
            return
        except Exception:
            instance._pass_fail()
            return
        instance._pass_on(Entry(Types.meta, result, None))
        return
    tracker = instance._tracker
    try:
        _tell(tracker, "before_process", instance)
        result = instance.process(entry.payload)
        _tell(tracker, "after_process", instance)
    except SkipEntry:
        return
    except Exception:
        if instance._max_retries:
            if instance._retry(entry):
                logger.error(
                    "paipa.threaded: %s failed on %.200r (retrying)",
                    instance.name,
                    entry.payload,
                    exc_info=True,
                )
            else:
                logger.error(
                    "paipa.threaded: %s failed on %.200r after %d retries; the item is dropped",
                    instance.name,
                    entry.payload,
                    entry.retries or 0,
                    exc_info=True,
                )
            return
        instance._pass_fail()
        return
    instance._pass_on(Entry(Types.regular, result, 0))


def _tell(tracker: Any, hook: str, instance: AbstractStep) -> None:
    """Call the tracker's `hook`; a tracker's failure is logged, never the item's."""
    try:
        getattr(tracker, hook)(instance)
    except Exception:
        logger.error("paipa.threaded: tracker %r failed in %s", tracker, hook, exc_info=True)


def _iterate(instance: AbstractIterStep, work: _Work, items: Iterable[Any]) -> Iterator[Any]:
    """One worker of an iterator step: ``process(iterator)``, yielding what it yields."""
    outbox = _outbox(instance)
    again = work.again
    cancelling = work.pipeline._cancelling

    def pull() -> Iterator[Any]:
        for value in items:
            while again:  # re-enqueued entries first (reenqueue(), _retry())
                yield from _payloads(again)
            if cancelling():
                raise Cancelled
            if type(value) is _Meta:
                instance._pass_on(Entry(Types.meta, value.payload, None))
            else:
                yield value
        yield from _payloads(again)

    ended = initialized = False
    try:
        instance.thread_initialize()
        initialized = True
        results = instance.process(pull()) or ()
        for value in results:
            instance._pass_on(Entry(Types.regular, value, 0))
            yield from _drain(outbox)
        while again:  # re-enqueued after the input ended: through process() once more
            if cancelling():
                raise Cancelled
            for value in instance.process(_payloads(again)) or ():
                instance._pass_on(Entry(Types.regular, value, 0))
                yield from _drain(outbox)
        ended = True
        instance._pass_on(Entry(Types.sentry, None, None))
        yield from _drain(outbox)
    finally:
        _shut_down(instance, work, ended, initialized)


def _payloads(again: deque[Entry]) -> Iterator[Any]:
    """Yield the payloads of the re-enqueued entries (an iterator step takes them again)."""
    while True:
        try:
            entry = again.popleft()
        except IndexError:
            return
        yield entry.payload


def _shut_down(instance: AbstractStep, work: _Work, ended: bool, initialized: bool) -> None:
    """Run the shutdown hooks of a worker that ended (or was stopped, if not `ended`).

    A failing hook fails the run, as a failing item does (the other workers
    finish their items first); while the run is being stopped it is logged.
    """
    last = work.end(instance)
    try:
        if initialized:
            _call_hook(instance.thread_shutdown, instance, work, ended)
    finally:
        if last:
            _call_hook(instance.step_shutdown, instance, work, ended)


def _call_hook(
    hook: Callable[[], object], instance: AbstractStep, work: _Work, ended: bool
) -> None:
    """Call a shutdown hook; its failure fails the run, or is logged if the run is stopping."""
    try:
        hook()
    except Exception:
        if ended:
            work.pipeline._record(sys.exc_info(), f"{work.name} ({hook.__name__})")
        else:  # stopped by another error, a cancel or Ctrl-C: do not hide that
            logger.error(
                "paipa.threaded: %s() of %s failed", hook.__name__, instance.name, exc_info=True
            )


class Pipeline:
    """A 0.3 threaded pipeline: a list of ``(step, workers)`` or ``(step, workers, options)``.

    Feed it with `put`, `put_all` and `put_meta` then `finish`, or with
    `put_iterable`; `run` runs it to the end in the calling thread, raising
    the first failure. `run_forever(background=True)` (or ``with pipeline:``)
    runs it while you feed it; `stop` finishes and waits. ``count`` is the
    number of items (and meta items) out of the last step.

    Keywords other than those below are passed to each step's constructor
    (``max_retries``, ``threshold``, ``tracker``; the rest lands in the step's
    ``options``). A background run still going when the program ends is
    finished first (the input ends, what was put goes through), as in 0.3;
    with ``daemon=True`` the program ends at once and the run's items are lost.
    """

    def __init__(
        self,
        steps: list[Any],
        in_queue: queue.Queue[Any] | None = None,
        daemon: bool = False,
        quiet: bool = False,
        fail_callback: Callable[[], object] = lambda: None,
        **kw: Any,
    ) -> None:
        """Check `steps` now; `in_queue` (a `queue.Queue`) is read instead of an own queue."""
        instance_of(steps, (list, tuple), "Pipeline() takes a list of (step, workers) tuples")
        for definition in steps:
            _parse(definition)
        if in_queue is not None:
            instance_of(in_queue, queue.Queue, "in_queue must be a queue.Queue")
        if not callable(fail_callback):
            raise TypeError(f"fail_callback must be callable, got {fail_callback!r}")
        self.ok: bool = True
        """False once a run failed."""
        self.steps: list[Any] = list(steps)
        self.options: dict[str, Any] = kw
        self.counter: Counter = Counter(show_every=1, quiet=quiet)
        self.count: int = 0
        """Items (and meta items) out of the last step."""
        self._daemon = daemon
        self._in_queue: queue.Queue[Any] = queue.Queue() if in_queue is None else in_queue
        self._fail_callback = fail_callback
        self._source: Iterable[Any] | None = None
        self._got_entries = False
        self._finished = False
        self._watcher: threading.Thread | None = None
        self._background_error: BaseException | None = None
        self._run: BackgroundRun[Any] | None = None
        self._own_threads: set[int] = set()
        """The worker threads of the current run (a step calling `stop` must not wait)."""
        self._failures: list[BaseException] = []
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()

    # -- input --------------------------------------------------------------------

    def put(self, element: Any) -> None:
        """Put in one item."""
        self._check_alive("put()")
        self._in_queue.put(element)

    def put_all(self, iterable: Iterable[Any]) -> None:
        """Put in every item of `iterable`, now."""
        for element in iterable:
            self.put(element)

    def put_meta(self, element: Any) -> None:
        """Put in a meta item: steps pass it to ``process_meta`` instead of ``process``."""
        self._check_alive("put_meta()")
        self._in_queue.put(_Meta(element))

    def put_iterable(self, iterable: Iterable[Any], **options: Any) -> None:
        """Read the items from `iterable`, lazily, as the run goes (the queue is not read)."""
        instance_of(iterable, Iterable, "put_iterable() takes an iterable")
        if options:
            raise TypeError(f"put_iterable() takes no options, got {options!r}")
        if self._source is not None:
            raise RuntimeError("put_iterable() was called already: a pipeline reads one iterable")
        self._source = iterable
        self._got_entries = True

    add_iterable = put_iterable
    """`put_iterable` under the name 0.3's documentation used."""

    def finish(self) -> None:
        """Say that no more items will be put: the run ends once they are through."""
        with self._lock:
            self._got_entries = True
            run = self._run
            going = run is not None and not run.state.ended
            if not going:  # for the next run: it reads what the queue holds, then ends
                self._finished = True
        if going:
            assert run is not None
            run.finish()

    def _check_alive(self, what: str) -> None:
        run = self._run
        if run is not None and run.state in _BROKEN:
            errors = run._lifecycle.errors
            raise RunCancelled(
                f"{what} into a pipeline whose run has failed or was cancelled"
            ) from (errors[0] if errors else None)

    # -- running ------------------------------------------------------------------

    def run(self) -> None:
        """Run the pipeline until its input ends; raise the first failure."""
        if not self._got_entries:
            raise ValueError(
                "Pipeline must be filled with entries: put() items and finish(), "
                "or put_iterable(), before run()"
            )
        self._wait(self._start())

    def run_forever(self, background: bool = False) -> None:
        """Run until `finish` (or `stop`): in the background, or in this thread."""
        self._got_entries = True
        if not background:
            self.run()
            return
        if self._watcher is not None:
            raise RuntimeError("this pipeline is already running in the background")
        self._background_error = None
        # Set before the run starts: a step may call stop() at once.
        self._watcher = watcher = threading.Thread(
            target=self._watch, name="paipa.threaded background run", daemon=True
        )
        try:
            self._start()
        except BaseException:
            self._watcher = None
            raise
        watcher.start()
        if not self._daemon:
            _FINISH_AT_EXIT.add(self)

    def _watch(self) -> None:
        """Wait for a background run, as 0.3's background thread did: call back on failure."""
        run = self._run
        assert run is not None  # started before this thread
        try:
            self._wait(run)
        except BaseException as error:
            self._background_error = error
            logger.error(
                "paipa.threaded: the background run failed (stop() raises it): %s",
                describe(error),
                exc_info=error,
            )

    def stop(self) -> None:
        """Finish a background run and wait for it; raise its failure, if any.

        Called from a step of the run itself, it only finishes the input: the
        run ends once the items already put are through.
        """
        watcher = self._watcher
        if watcher is None:
            raise ValueError("No background thread running.")
        inside = threading.get_ident() in self._own_threads
        try:
            self.finish()
            if inside:
                return  # from a step of the run: waiting would wait for itself; it ends itself
            watcher.join()
        except BaseException:  # Ctrl-C while finishing or waiting: cancel, as run() does
            if self._run is not None:
                self._run.cancel()
            if not inside:
                watcher.join()
                self._watcher = None
                _FINISH_AT_EXIT.discard(self)
            raise
        _FINISH_AT_EXIT.discard(self)
        self._watcher = None
        error, self._background_error = self._background_error, None
        if error is not None:
            raise error

    def __enter__(self) -> Pipeline:
        self.run_forever(background=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._watcher is None:
            return  # stopped inside the block already
        if exc_value is None:
            self.stop()
            return
        try:
            self.stop()
        except Exception as failure:
            exc_value.add_note(f"paipa.threaded: the pipeline also failed: {failure!r}")

    @property
    def alive(self) -> bool:
        """Whether the pipeline can go on (False once a run failed or was cancelled)."""
        run = self._run
        return run is None or run.state not in _BROKEN

    def _start(self) -> BackgroundRun[Any]:
        """Make the step instances, call their setup hooks, and start the engine's run."""
        if self._run is not None and not self._run.state.ended:
            raise RuntimeError(
                "this pipeline is already running: wait for its run to end (the end of run(), "
                "or stop()) before starting another"
            )
        stages: list[Any] = []
        for definition in self.steps:
            step, workers, step_options = _parse(definition)
            self.counter.init(step.__name__)
            siblings: list[AbstractStep] = []
            storage: dict[Any, Any] = {}
            work = _Work(self, step.__name__, siblings)
            for index in range(workers):
                instance = step(
                    self._queue_of(work),
                    self._outbox_of(work, step.__name__),
                    counter=self.counter,
                    sibling=SiblingInfo(index, storage, siblings),
                    **self.options,
                )
                if index == 0:
                    instance.step_initialize()
                instance.initialize(**step_options)
                siblings.append(instance)
            last = len(stages) == len(self.steps) - 1
            stages.append(_Stage(work, workers, max(1, int(siblings[0]._threshold)), last))
        source: Any = self._in_queue if self._source is None else self._source
        if self._source is None and self._in_queue.maxsize > 0:
            # A step may put into its own pipeline's bounded queue: a thread of its own
            # empties it into the engine's queues, as 0.3's converter thread did.
            stages.insert(0, _Relay(max(1, int(self.options.get("threshold", 64)))))
        steps: list[Any] = [*stages] if stages else [self._counted]
        modern = _ModernPipeline(source) | steps
        with self._lock:
            self._failures = []
            self._own_threads = set()
            run = modern.start(discard_outputs=True)
            self._run = run
            if self._finished and self._source is None:
                run.finish()
            self._finished = False
        return run

    def _counted(self, items: Iterable[Any]) -> Iterator[Any]:
        """Yield `items`, counting them into ``count`` (from any number of workers)."""
        lock = self._count_lock
        for item in items:
            with lock:
                self.count += 1
            yield item

    def _queue_of(self, work: _Work) -> _StepQueue:
        return _StepQueue(work.again.append, work.again.__len__, self._cancelling)

    def _outbox_of(self, work: _Work, name: str) -> _StepQueue:
        outbox: list[Any] = []
        counter = self.counter

        def put(entry: object) -> None:
            if not isinstance(entry, Entry):
                entry = Entry(Types.regular, entry, 0)
            if entry.type == Types.sentry:
                return
            counter.count(name)
            if entry.type == Types.regular:
                outbox.append(entry.payload)
            elif entry.type == Types.meta:
                outbox.append(_Meta(entry.payload))
            else:
                self._record(entry.payload, name)

        return _StepQueue(put, outbox.__len__, self._cancelling, outbox)

    def _cancelling(self) -> bool:
        run = self._run
        return run is not None and run.state in _BROKEN

    def _record(self, exc_info: Any, name: str) -> None:
        """Keep a failure passed on by a step; `run` raises the first at the end."""
        error: object = exc_info[1] if isinstance(exc_info, tuple) else exc_info  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(error, BaseException):
            error = RuntimeError(f"step {name!r} passed on a failure without an exception")
        error.add_note(f"paipa.threaded: raised in step {name!r}")
        with self._lock:
            self._failures.append(error)

    def _wait(self, run: BackgroundRun[Any]) -> None:
        """Wait for `run` to end; on failure call the fail callback and raise."""
        try:
            run.join()
        except Exception:
            self._failed()
            raise
        if self._failures:
            first, *others = self._failures
            if others:
                first.add_note(f"paipa.threaded: {len(others)} more item(s) failed in this run")
            self._failed()
            raise first
        self.counter.show()

    def _failed(self) -> None:
        self.ok = False
        try:
            self._fail_callback()
        except Exception:
            logger.error(
                "paipa.threaded: fail_callback %r failed", self._fail_callback, exc_info=True
            )


_BROKEN = frozenset({RunState.CANCELLING, RunState.FAILED, RunState.CANCELLED})

_FINISH_AT_EXIT: weakref.WeakSet[Pipeline] = weakref.WeakSet()
"""Background runs of pipelines made without ``daemon=True``: finished when Python exits."""


@atexit.register
def _finish_background_runs() -> None:
    """Let background runs finish what they were given before the program ends, as in 0.3."""
    for pipeline in list(_FINISH_AT_EXIT):
        try:
            pipeline.stop()
        except Exception:
            logger.exception("paipa.threaded: a background run failed as the program ended")
