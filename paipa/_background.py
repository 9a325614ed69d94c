"""Background runs: the handle of a pipeline started with ``Pipeline.start()``.

A background run is laid out like any threaded run, except that every stage
has threads of its own and the run's last channel holds its outputs for the
handle. Nothing else buffers items:

- a fed run (``Pipeline()`` or a `queue.Queue`) reads its first channel, or
  the user's queue, which `put` fills;
- outputs wait in the last channel, with backpressure, until the handle is
  iterated; they are dropped only when the caller says so: at ``start()``
  (``discard_outputs=True``), or by `join` or `stop` without reading, which
  drain them and count them in ``RunResult.discarded``.

Every wait of the handle (put, iteration, join) is woken by the run's one
cancel (see `_engine._lifecycle`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._checks import is_iterable
from ._engine._blame import describe, note
from ._engine._channel import Cancelled, Channel
from ._engine._context import RunContext
from ._engine._lifecycle import Lifecycle, RunCancelled, RunState, reraise
from ._engine._pump import BATCH
from ._engine._recorder import Recorder
from ._plan import Plan
from ._run_result import RunResult, run_result
from ._source import Source

if TYPE_CHECKING:  # threads start with a run: the module is imported then
    from ._engine._threads import ThreadedRun

__all__ = ["BackgroundRun"]

T_co = TypeVar("T_co", covariant=True)

logger = logging.getLogger("paipa")


class _Books:
    """What the run keeps about itself for its handle, without holding the handle.

    The run's last thread closes the books (`close`); the handle's finalizer
    says when nobody can read or join any more (`handle_gone`). Between them,
    a failed run's error is raised to somebody or logged, never lost.
    """

    __slots__ = (
        "handle_gone",
        "lifecycle",
        "lock",
        "observing",
        "outbox",
        "recorder",
        "retrieved",
        "seconds",
        "started",
    )

    def __init__(
        self,
        lifecycle: Lifecycle,
        observing: AbstractContextManager[RunContext],
        recorder: Recorder | None,
    ) -> None:
        self.lifecycle = lifecycle
        self.observing = observing
        self.recorder = recorder
        self.outbox: Channel | None = None
        self.lock = threading.Lock()
        self.retrieved = False
        self.handle_gone = False
        self.started = time.perf_counter()
        self.seconds: float | None = None

    def close(self) -> None:
        """Close the books of an ended run (its last thread calls this): the final report."""
        self.seconds = time.perf_counter() - self.started
        if self.recorder is not None and self.lifecycle.errors:
            self.recorder.failed = True
        try:
            self.observing.__exit__(None, None, None)
        except Exception:
            logger.exception("paipa: the debugger failed to report the end of a run")
        with self.lock:
            lost = self.handle_gone and not self.retrieved and self.lifecycle.errors
        if lost:
            _log_lost(self.lifecycle.errors[0])

    def handle_collected(self) -> None:
        """Note that the handle is gone: nobody can read or join any more."""
        with self.lock:
            self.handle_gone = True
            ended = self.lifecycle.ended.is_set()
            lost = ended and not self.retrieved and self.lifecycle.errors
        if lost:
            _log_lost(self.lifecycle.errors[0])
        elif not ended and self.outbox is not None:
            self.outbox.discard()  # the run goes on for its effects; nobody reads its outputs

    def mark_retrieved(self) -> None:
        """Note that the run's error was raised to somebody."""
        with self.lock:
            self.retrieved = True


def _log_lost(error: BaseException) -> None:
    logger.error(
        "paipa: a background run failed and nobody joined it: %s",
        describe(error),
        exc_info=(type(error), error, error.__traceback__),
    )


class BackgroundRun(Generic[T_co]):
    """A pipeline running in threads of its own, returned by `Pipeline.start`.

    Iterate it to receive the outputs as they come: every output is kept for
    the reader (with backpressure) until then. `join` waits for the end and
    raises the run's error; if nobody iterated, it drops the outputs and
    counts them. Use it as a context manager to finish and join it when the
    block ends (or cancel it, if the block fails).

    ```pycon
    >>> from paipa import Pipeline, step
    >>> @step.map
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> with (Pipeline() | double).start() as run:
    ...     run.put_all([1, 2, 3])
    ...     run.finish()
    ...     list(run)
    [2, 4, 6]

    ```
    """

    def __init__(
        self,
        plan: Plan,
        source: Source,
        observed: Callable[[], AbstractContextManager[RunContext]],
        discard_outputs: bool = False,
    ) -> None:
        """Start running `plan` over `source` in the background (use `Pipeline.start`)."""
        self._source = source
        self._discard = discard_outputs
        self._lifecycle = lifecycle = Lifecycle()
        self._lock = threading.Lock()
        self._ended_input: str | None = None  # "finish()" or "stop()", once called
        self._readers = 0
        self._reader: int | None = None  # the thread that last took outputs
        self._read = 0
        observing = observed()
        context = observing.__enter__()
        self._books = books = _Books(lifecycle, observing, context.recorder)
        from ._engine._threads import ThreadedRun

        try:
            self._run: ThreadedRun = ThreadedRun(plan, source, context, lifecycle, background=True)
            run = self._run
            self._outbox = books.outbox = cast(Channel, run.outbox)
            if discard_outputs:
                self._outbox.discard()
            lifecycle.on_end(books.close)
            weakref.finalize(self, books.handle_collected)
            run.start()
            lifecycle.release()  # the starter's hold: the run may now end by itself
        except BaseException as error:
            if not lifecycle.ended.is_set():
                lifecycle.cancel(f"the run could not start: {describe(error)}")
                lifecycle.release()
                lifecycle.wait()
            raise

    # -- state -----------------------------------------------------------------

    @property
    def state(self) -> RunState:
        """Where the run is in its life."""
        return self._lifecycle.state

    @property
    def alive(self) -> bool:
        """Whether the run is still going."""
        return not self._lifecycle.ended.is_set()

    # -- input -----------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Give one item to a pipeline started without a source (or from a queue)."""
        self.put_all((item,))

    def put_all(self, items: Iterable[Any]) -> None:
        """Give items to a pipeline started without a source, waiting for room.

        Raises `RunCancelled` once the run is cancelled or has failed, and
        `RuntimeError` after `finish` or `stop`.
        """
        inbox = self._run.inbox
        if inbox is None:
            raise TypeError(
                f"this run reads its own source ({self._source.name}); only a pipeline "
                "built without a source, Pipeline(), or from a queue.Queue is fed with put()"
            )
        if not is_iterable(items):
            raise TypeError(f"put_all() takes an iterable of items, got {items!r}")
        iterator = iter(items)
        size = min(BATCH, inbox.capacity)
        while True:
            self._check_open("put()")
            batch = list(itertools.islice(iterator, size))
            if not batch:
                return
            try:
                inbox.put(batch)
            except Cancelled:
                self._check_open("put()")
                raise RunCancelled("put() into a run that takes no more input") from None

    def _check_open(self, what: str) -> None:
        """Raise if the run takes no more input."""
        lifecycle = self._lifecycle
        if lifecycle.cancelled.is_set():
            raise RunCancelled(f"{what} into a run that was cancelled: {lifecycle.reason}")
        if self._ended_input is not None:
            raise RuntimeError(
                f"{what} after {self._ended_input}: this run's input has ended; start a new run"
            )

    def finish(self) -> None:
        """Say that no more items will be put: the run ends once they are through."""
        self._end_input("finish()")

    def _end_input(self, by: str) -> None:
        with self._lock:
            if self._ended_input is not None:
                return
            self._ended_input = by
        self._lifecycle.finishing()
        if by == "stop()":
            self._run.stop_input()
        elif self._run.inbox is not None:
            self._run.inbox.end()

    # -- output ----------------------------------------------------------------

    def __iter__(self) -> Iterator[T_co]:
        """Stream the outputs as they come, then raise the run's error if it failed.

        Leaving the loop early (``break``, an exception) cancels the run.
        """
        if self._discard:
            raise TypeError(
                "this run was started with discard_outputs=True: its outputs are counted "
                "and dropped, not kept for iteration"
            )
        return self._stream()

    def _stream(self) -> Iterator[T_co]:
        outbox, lifecycle = self._outbox, self._lifecycle
        with self._lock:
            self._readers += 1
        try:
            while True:
                self._reader = threading.get_ident()
                try:
                    _, batch = outbox.get(BATCH)
                except Cancelled:
                    break
                if not batch:
                    break
                self._read += len(batch)
                yield from batch
        except BaseException as error:  # break (GeneratorExit), Ctrl-C, an error thrown in
            stopped = isinstance(error, GeneratorExit)
            why = (
                "the reader stopped iterating"
                if stopped
                else f"the reader raised {describe(error)}"
            )
            self._cancel_and_wait(why)
            raise
        finally:
            with self._lock:
                self._readers -= 1
        self._wait()
        self._raise_error()
        if lifecycle.state is RunState.CANCELLED:
            raise RunCancelled(f"the run was cancelled before its end: {lifecycle.reason}")

    # -- ending ----------------------------------------------------------------

    def _wait(self) -> None:
        """Wait for the run to end; Ctrl-C while waiting cancels it and still waits."""
        try:
            self._lifecycle.wait()
        except BaseException:
            self._cancel_and_wait("interrupted while waiting for the run (Ctrl-C)")
            raise

    def _cancel_and_wait(self, reason: str) -> int:
        """Cancel the run and wait for its end (unless called from one of its threads).

        A Ctrl-C held back while cancelling comes out after the wait.
        """
        lifecycle = self._lifecycle
        try:
            return lifecycle.cancel(reason)
        finally:
            if not lifecycle.in_own_thread():
                try:
                    self._cancelled_and_ended(reason)
                except BaseException:  # Ctrl-C: the run is cancelled, its end is near
                    self._cancelled_and_ended(reason)
                    raise

    def _cancelled_and_ended(self, reason: str) -> None:
        """Wait for the run's end, cancelling it first if a Ctrl-C cut `cancel` short.

        A Ctrl-C that comes before the cancel has begun (before it holds back
        Ctrl-C itself) leaves the run uncancelled: waiting for it would never end.
        """
        if not self._lifecycle.cancelled.is_set():
            self._lifecycle.cancel(reason)
        self._lifecycle.wait()

    def _raise_error(self) -> None:
        error = self._lifecycle.first_error()
        if error is not None:
            self._books.mark_retrieved()
            reraise(error)

    def join(self) -> RunResult:
        """Wait for the run to end; raise its error, or return what it did.

        Outputs nobody is reading are dropped and counted (``RunResult.discarded``).
        A fed run ends only after `finish`. A cancelled run returns a result
        with ``cancelled`` set.
        """
        if self._lifecycle.in_own_thread():
            raise RuntimeError(
                "join() called from a step of the same run: it would wait for itself; "
                "use stop() or cancel(), which only ask for the end from there"
            )
        with self._lock:
            unread = not self._readers or self._reader == threading.get_ident()
        if unread:
            self._outbox.discard()
        self._wait()
        self._raise_error()
        return self._result()

    def stop(self) -> RunResult:
        """Stop taking input, let the items already taken through, then `join`.

        Called from a step of the same run, it asks for the stop and returns
        the figures so far at once (it cannot wait for the run it is part of).
        """
        self._end_input("stop()")
        if self._lifecycle.in_own_thread():
            return self._result()
        return self.join()

    def cancel(self) -> int:
        """Stop at once, dropping the items in flight; return how many were queued.

        Returns once the run has ended, or at once when called from one of the
        run's own steps.
        """
        return self._cancel_and_wait("cancel() was called")

    def __enter__(self) -> BackgroundRun[T_co]:
        """Return the run; on leaving the block it is finished and joined."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Finish and join the run; if the block failed, cancel the run instead."""
        if error is None:
            self.finish()
            self.join()
            return
        self._cancel_and_wait(f"the with block raised {describe(error)}")
        failure = self._lifecycle.first_error()
        if failure is None:
            return
        self._books.mark_retrieved()
        if isinstance(error, RunCancelled):
            reraise(failure)  # put() saw the run fail: raise why it failed
        note(error, f"paipa: the run had failed too: {describe(failure)}")

    def _result(self) -> RunResult:
        books = self._books
        stats = None
        if books.recorder is not None:
            stats = books.recorder.snapshot(final=not self.alive)
        seconds = books.seconds
        if seconds is None:
            seconds = time.perf_counter() - books.started
        discarded = self._outbox.discarded
        return run_result(
            self._read + discarded,
            seconds,
            self._run.context.policies,
            stats,
            discarded=discarded,
            cancelled=self._lifecycle.state is RunState.CANCELLED,
        )

    def __repr__(self) -> str:
        return f"<paipa.BackgroundRun {self._source.name} {self.state.value}>"
