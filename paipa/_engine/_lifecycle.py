"""The one lifecycle of a run: its states, its one cancel, its threads and its errors.

Every run has a `Lifecycle`, whether it is iterated, collected, run or
started in the background, inline or in threads. The lifecycle is the only
place that decides how a run ends:

- parts of the run (channels, a queue it reads, a paused retry) register a
  *canceller*; `cancel` calls each of them once, so every blocked put, get
  and pause wakes at once;
- the run's threads are started by `spawn`: a thread that raises records its
  error and cancels the run, and the last part of the run to finish ends it;
- the end is one of three states, each reached exactly once: succeeded,
  failed (the first error is the run's error; later ones are noted on it), or
  cancelled.

A thread stuck inside a source's ``next()`` cannot be interrupted in Python.
Once the run no longer wants that source's items, such a thread is
*abandoned*: the run ends without it, and the thread closes the source and
ends as soon as ``next()`` returns.
"""

from __future__ import annotations

import contextlib
import dis
import enum
import gc
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from types import CodeType, FrameType
from typing import Any

from ._blame import describe, note
from ._channel import Cancelled

__all__ = ["Lifecycle", "RunCancelled", "RunState", "SourceWatch", "reraise"]


class RunState(enum.Enum):
    """Where a run is in its life; `BackgroundRun.state` tells it."""

    STARTING = "starting"
    """Threads are being started; an error or Ctrl-C now cancels and joins those started."""
    RUNNING = "running"
    """Items flow; a fed run takes input."""
    FINISHING = "finishing"
    """The input has ended (``finish()`` or ``stop()``): items already taken drain."""
    CANCELLING = "cancelling"
    """Cancelled, or a step failed: every blocked call is woken and the threads wind down."""
    SUCCEEDED = "succeeded"
    """Ended after all its input went through; every thread has ended."""
    FAILED = "failed"
    """Ended by an error, which ``join()`` raises; every thread has ended."""
    CANCELLED = "cancelled"
    """Ended by ``cancel()``, ``break`` or Ctrl-C; every thread has ended."""

    @property
    def ended(self) -> bool:
        """Whether this is one of the three final states."""
        return self in _ENDED


_ENDED = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})


class RunCancelled(RuntimeError):  # noqa: N818 (named like trio.Cancelled)
    """Raised where a run cannot go on because it was cancelled or has failed.

    ``put()`` into such a run raises it, and so does reading the outputs of a
    run that someone else cancelled. The message says what happened; a failed
    run's own error is raised by ``join()``.
    """


ABANDONED_GRACE = 0.25
"""Seconds `Lifecycle.wait` gives an abandoned thread to end (its source was busy, not
stalled) before it returns without it."""

_FETCHES: set[tuple[CodeType, int]] = set()
"""(code, line) of every place where paipa calls a source's ``next()``."""


def watch_fetches_in(function: Callable[..., Any]) -> None:
    """Record the lines of `function` where it calls ``fetch()``: a source's ``next()``."""
    code = function.__code__
    for instruction in dis.get_instructions(code):
        if instruction.argval == "fetch" and instruction.positions is not None:
            line = instruction.positions.lineno
            if line is not None:
                _FETCHES.add((code, line))


class SourceWatch:
    """Halts a thread reading a source, and tells whether it waits inside the source.

    Nothing is recorded per item: whether the thread is in a source's
    ``next()`` is read from its stack (one of the recorded fetch lines), so
    watching a source costs one flag test per item.
    """

    __slots__ = ("halted",)

    def __init__(self) -> None:
        """Start not halted."""
        self.halted = False

    @staticmethod
    def inside(thread: threading.Thread) -> bool:
        """Whether `thread` is inside a source's ``next()`` now."""
        frame = _current_frames().get(thread.ident or 0)
        while frame is not None:
            if (frame.f_code, frame.f_lineno) in _FETCHES:
                return True
            frame = frame.f_back
        return False


def _current_frames() -> dict[int, FrameType]:
    """Return ``sys._current_frames()``, with the garbage collector paused around it.

    On CPython before 3.11.9 a collection inside that call can run a weakref
    callback while the call holds the interpreter's thread-list lock, and
    deadlock the whole process against a thread that holds the GIL and waits
    for that lock (CPython gh-106883; seen here as a cancel that never returned).
    """
    if not gc.isenabled():
        return sys._current_frames()  # pyright: ignore[reportPrivateUsage]
    gc.disable()
    try:
        return sys._current_frames()  # pyright: ignore[reportPrivateUsage]
    finally:
        gc.enable()


def watched(source: Iterator[Any], watch: SourceWatch) -> Iterator[Any]:
    """Yield the items of `source` until `watch` is halted (no further ``next()`` starts)."""
    fetch = source.__next__
    while not watch.halted:
        try:
            item = fetch()  # SourceWatch finds this line on the stack: waiting in the source
        except StopIteration:
            return
        yield item


watch_fetches_in(watched)


@contextlib.contextmanager
def _signals_deferred() -> Generator[None, None, None]:
    """Hold back Ctrl-C (SIGINT) in the main thread for the block; it arrives right after.

    A KeyboardInterrupt raised inside ``Thread.start()`` or halfway through a
    cancel would leave a started thread unaccounted for, or parts of a run not
    woken. While the block runs, SIGINT is blocked and the Python handler of a
    SIGINT that arrived just before only records it; the handler runs when the
    block ends. Threads started here inherit the mask, so SIGINT always goes to
    the main thread.
    """
    if threading.current_thread() is not threading.main_thread() or sys.is_finalizing():
        yield  # Python shutting down: a run collected now has no Ctrl-C to defer
        return
    caught: list[FrameType | None] = []
    current = signal.getsignal(signal.SIGINT)
    # Ignored, the default, or handled outside Python (None): leave it as it is.
    handler = current if callable(current) else None
    if handler is not None:
        signal.signal(signal.SIGINT, lambda number, frame: caught.append(frame))
    masked = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if masked else None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
            if caught:
                handler(signal.SIGINT, caught[0])  # raises KeyboardInterrupt, by default


_NOT_DEFERRED = contextlib.nullcontext()


def reraise(error: BaseException) -> None:
    """Raise `error` as it was raised: its ``__context__`` is not replaced by ours."""
    context, suppress = error.__context__, error.__suppress_context__
    try:
        raise error
    finally:
        # object.__setattr__: also for exceptions whose own __setattr__ refuses (frozen).
        object.__setattr__(error, "__context__", context)
        object.__setattr__(error, "__suppress_context__", suppress)


class Lifecycle:
    """The state, the cancel, the threads and the errors of one run."""

    __slots__ = (
        "_abandoned",
        "_cancellers",
        "_holds",
        "_idents",
        "_lock",
        "_on_end",
        "_threads",
        "_watches",
        "cancelled",
        "dropped",
        "ended",
        "errors",
        "reason",
        "state",
        "woken",
    )

    def __init__(self) -> None:
        """Start in `RunState.STARTING`, held by its starter until `started`."""
        self.state = RunState.STARTING
        self.cancelled = threading.Event()
        """Set once the run is cancelled (by `cancel`, or by a failure)."""
        self.woken = threading.Event()
        """Set once the run's parts are woken: cancelled, or no longer needed (`complete`)."""
        self.ended = threading.Event()
        """Set once the run has ended (every part of it finished)."""
        self.errors: list[BaseException] = []
        self.reason: str | None = None
        """Why the run was cancelled, in words."""
        self.dropped = 0
        """Items that were waiting in the run's queues when it was cancelled."""
        self._lock = threading.Lock()
        self._cancellers: list[tuple[Callable[[], int], Callable[[], int]]] = []
        self._on_end: list[Callable[[], None]] = []
        self._threads: list[threading.Thread] = []
        self._idents: set[int] = set()
        self._watches: dict[threading.Thread, SourceWatch] = {}
        self._abandoned: set[threading.Thread] = set()
        self._holds = 1  # the starter's: the run cannot end while it is being set up

    # -- parts of the run ---------------------------------------------------------

    def on_cancel(self, canceller: Callable[[], int], upstream: Callable[[], int]) -> None:
        """Register how to cancel a part of the run, and how to stop its upstream only.

        Each returns the items it dropped. `canceller` is called by `cancel`;
        `upstream` by `complete`, when the outputs are complete and whatever
        still works before them is not needed.
        """
        with self._lock:
            self._cancellers.append((canceller, upstream))
            cancelled, woken = self.cancelled.is_set(), self.woken.is_set()
        if cancelled:
            canceller()
        elif woken:
            upstream()

    def on_end(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the run has ended, in the thread that ends it."""
        self._on_end.append(callback)

    def _deferring(self) -> contextlib.AbstractContextManager[None]:
        """Hold back Ctrl-C (`_signals_deferred`) if the run has threads or parts to wake.

        A run all in the caller's thread has neither: a Ctrl-C there just unwinds it.
        """
        if self._threads or self._cancellers:
            return _signals_deferred()
        return _NOT_DEFERRED

    def hold(self) -> None:
        """Keep the run from ending until `release` (a caller reading its outputs)."""
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        """Let go of a `hold`; the last part to let go ends the run."""
        with self._deferring():
            with self._lock:
                self._holds -= 1
                last = self._holds == 0
            if last:
                self._end()

    def spawn(
        self,
        name: str,
        body: Callable[[], None],
        after: Callable[[], None] | None = None,
        watch: SourceWatch | None = None,
    ) -> threading.Thread:
        """Start a thread of the run running `body`, then `after`, however `body` ends.

        An exception from `body` fails the run; `Cancelled` just ends the thread.
        With a `watch`, the thread may be abandoned while it waits in a source.
        """

        def target() -> None:
            ident = threading.get_ident()
            self._idents.add(ident)
            try:
                body()
            except Cancelled:
                pass
            except BaseException as error:
                self.fail(error)
            finally:
                try:
                    if after is not None:
                        after()
                finally:
                    self._idents.discard(ident)  # idents are reused by later threads
                    self._thread_done(thread)

        thread = threading.Thread(target=target, name=f"paipa {name}", daemon=True)
        with _signals_deferred():
            with self._lock:
                self._threads.append(thread)
                self._holds += 1
                if watch is not None:
                    self._watches[thread] = watch
            try:
                thread.start()
            except BaseException:
                with self._lock:
                    self._threads.remove(thread)
                    self._holds -= 1
                raise
        return thread

    def _thread_done(self, thread: threading.Thread) -> None:
        with self._lock:
            if thread in self._abandoned:
                return
            self._holds -= 1
            last = self._holds == 0
        if last:
            self._end()

    def in_own_thread(self) -> bool:
        """Whether the calling thread is one of the run's own (a step of this run)."""
        return threading.get_ident() in self._idents

    # -- moving through the states ----------------------------------------------

    def started(self) -> None:
        """Every thread is started: ``STARTING`` becomes ``RUNNING``."""
        with self._lock:
            if self.state is RunState.STARTING:
                self.state = RunState.RUNNING

    def finishing(self) -> None:
        """Note that the input has ended: ``RUNNING`` becomes ``FINISHING``."""
        with self._lock:
            if self.state in (RunState.STARTING, RunState.RUNNING):
                self.state = RunState.FINISHING

    def fail(self, error: BaseException) -> None:
        """Record `error` (the first one is the run's) and cancel the run."""
        with self._lock:
            self.errors.append(error)
            first = len(self.errors) == 1
        if first:
            self.cancel(f"the run failed: {describe(error)}")
        else:
            self.cancel("")

    def cancel(self, reason: str) -> int:
        """Cancel the run: wake every blocked part; return the items dropped from queues.

        Ctrl-C is held back until every part is woken: a cancel is never left half done.
        """
        with self._deferring():
            with self._lock:
                if self.cancelled.is_set():
                    return 0
                if not self.state.ended:
                    self.state = RunState.CANCELLING
                self.reason = reason
                self.cancelled.set()
                cancellers = [entry[0] for entry in self._cancellers]
            return self._wake(cancellers)

    def complete(self) -> None:
        """Wake whatever still works upstream: the outputs are complete, it is not needed.

        The run is not cancelled: it ends as it would have, succeeded or failed.
        """
        with self._deferring():
            with self._lock:
                if self.woken.is_set():
                    return
                upstream = [entry[1] for entry in self._cancellers]
            self._wake(upstream)

    def _wake(self, cancellers: list[Callable[[], int]]) -> int:
        self.woken.set()
        dropped = 0
        for canceller in cancellers:
            dropped += canceller()
        self.dropped += dropped
        self.abandon_stuck_sources()
        return dropped

    def abandon_stuck_sources(self) -> bool:
        """Stop waiting for threads inside a source's ``next()``: they end when it returns.

        Halts every watched source (no further ``next()`` starts); tell whether
        a thread was abandoned.
        """
        abandoned = False
        for thread, watch in list(self._watches.items()):
            watch.halted = True
            if not watch.inside(thread):  # it will not start another next(): see `watched`
                continue
            with self._lock:
                if thread in self._abandoned or not thread.is_alive():
                    continue
                self._abandoned.add(thread)
                self._holds -= 1
                last = self._holds == 0
            abandoned = True
            if last:
                self._end()
        return abandoned

    def pause(self, seconds: float) -> None:
        """Wait `seconds` (between retries), or raise `Cancelled` as soon as the run is."""
        if self.woken.wait(min(seconds, threading.TIMEOUT_MAX)):
            raise Cancelled

    def _end(self) -> None:
        with self._lock:
            if self.errors:
                self.state = RunState.FAILED
            elif self.cancelled.is_set():
                self.state = RunState.CANCELLED
            else:
                self.state = RunState.SUCCEEDED
        try:
            for callback in self._on_end:
                callback()
        finally:
            self.ended.set()

    # -- waiting for the end ------------------------------------------------------

    def wait(self) -> None:
        """Wait until the run has ended and its threads are gone (all but abandoned ones).

        Never waits for the calling thread itself.
        """
        self.ended.wait()
        current = threading.current_thread()
        for thread in list(self._threads):
            if thread is current:
                continue
            if thread in self._abandoned:
                # Usually the source was only busy, not stalled: it returns at once.
                thread.join(ABANDONED_GRACE)
            else:
                thread.join()

    def first_error(self) -> BaseException | None:
        """Return the run's error, with the later ones noted on it."""
        if not self.errors:
            return None
        first = self.errors[0]
        for other in self.errors[1:]:
            note(first, f"paipa: later, another worker also raised {describe(other)}")
        self.errors[1:] = []
        return first
