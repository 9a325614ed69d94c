"""Background runs: the handle of a pipeline started with ``Pipeline.start()``.

A background run is an ordinary run whose caller's part is done by a thread
of its own, the *sink*. The sink hands the run's outputs to the handle:

- while nobody iterates the handle, outputs are kept up to a bounded number
  and the ones beyond are dropped (and counted), so a run for side effects
  never waits for a reader that will not come;
- once the handle is iterated, outputs stream to the iterating thread, with
  backpressure.

A pipeline without a source (``Pipeline()``), or reading a ``queue.Queue``,
is fed while it runs: `BackgroundRun.put`, `put_all`, then `finish`.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._checks import is_iterable
from ._engine import _results
from ._engine._channel import Cancelled, Channel
from ._engine._context import RunContext
from ._engine._control import Control
from ._engine._policy import Policies
from ._plan import DEFAULT_QUEUE_SIZE, Plan
from ._run_result import RunResult, run_result
from ._source import Source

__all__ = ["BackgroundRun"]

T_co = TypeVar("T_co", covariant=True)

_END: Any = object()
"""Put into a user's queue.Queue to end the run's input."""

_FEED_BATCH = 64


class _Feed:
    """The input of a fed run: items given with `put`, read by the run's source side."""

    def __init__(self, source: Source) -> None:
        self._queue: queue.Queue[Any] | None = source.value if source.kind == "queue" else None
        self._channel = Channel(DEFAULT_QUEUE_SIZE, producers=1)
        self._finished = False
        self._lock = threading.Lock()

    def put_all(self, items: Iterable[Any]) -> None:
        iterator = iter(items)
        while batch := list(itertools.islice(iterator, _FEED_BATCH)):
            with self._lock:
                if self._finished:
                    raise RuntimeError(
                        "put() after finish(): this run's input has ended; start a new run"
                    )
            if self._queue is not None:
                for item in batch:
                    self._queue.put(item)
            else:
                self._channel.put(batch)

    def finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if self._queue is not None:
            self._queue.put(_END)
        else:
            self._channel.close()

    def cancel(self) -> int:
        waiting = len(self._channel)
        self._channel.cancel()
        if self._queue is not None:
            self._queue.put(_END)  # wakes the reader blocked in get()
        return waiting

    def items(self) -> _FedItems:
        return _FedItems(self._take)

    def _take(self, wait: bool) -> list[Any] | None:
        """Return what was put so far: None if nothing yet (and not `wait`), [] at the end."""
        if self._queue is not None:
            try:
                item = self._queue.get(block=wait)
            except queue.Empty:
                return None
            return [] if item is _END else [item]
        taken = self._channel.get_within(DEFAULT_QUEUE_SIZE, None if wait else 0.0)
        return None if taken is None else taken[1]


class _FedItems:
    """The items of a feed, with `on_wait` called before it waits for more.

    The threaded engine's feeder sets `on_wait` to pass on the items it has
    batched so far, so that fed items never wait for later ones.
    """

    def __init__(self, take: Callable[[bool], list[Any] | None]) -> None:
        self._take = take
        self._items: deque[Any] = deque()
        self.on_wait: Callable[[], None] | None = None

    def __iter__(self) -> _FedItems:
        return self

    def __next__(self) -> Any:
        if not self._items:
            taken = self._take(False)
            if taken is None:
                if self.on_wait is not None:
                    self.on_wait()
                taken = self._take(True)
            if not taken:
                raise StopIteration
            self._items.extend(taken)
        return self._items.popleft()


class _Outputs:
    """The outputs on their way to the handle: kept, streamed, or dropped."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.dropped = 0
        self.streaming = False
        self.ended = False
        self.cancelled = False
        self._items: deque[Any] = deque()
        self._changed = threading.Condition()

    def deliver(self, item: Any) -> None:
        with self._changed:
            if self.streaming:
                while len(self._items) >= self.capacity and not self.cancelled:
                    self._changed.wait()
            elif len(self._items) >= self.capacity:
                self.dropped += 1
                return
            if self.cancelled:
                raise Cancelled
            self._items.append(item)
            self._changed.notify()

    def end(self) -> None:
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def cancel(self) -> int:
        with self._changed:
            self.cancelled = True
            self._changed.notify_all()
        return 0

    def stream(self) -> Iterator[Any]:
        with self._changed:
            self.streaming = True
        while True:
            with self._changed:
                while not self._items and not self.ended:
                    self._changed.wait()
                if not self._items:
                    return
                batch = list(self._items)
                self._items.clear()
                self._changed.notify_all()
            yield from batch

    def discard(self) -> None:
        with self._changed:
            self._items.clear()
            self._changed.notify_all()


class BackgroundRun(Generic[T_co]):
    """A pipeline running in threads of its own, returned by `Pipeline.start`.

    Iterate it to receive the outputs as they come; otherwise they are not
    kept beyond a bounded number (a run for its side effects never waits for
    a reader). Use it as a context manager to join it, and raise its error,
    when the block ends.

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
    ) -> None:
        """Start running `plan` over `source` in the background (use `Pipeline.start`)."""
        self._plan = plan
        self._observed = observed
        self._policies = Policies()
        self._control = Control()
        self._feed: _Feed | None = None
        self._stopping = threading.Event()
        self._outputs = _Outputs(DEFAULT_QUEUE_SIZE)
        self._control.register(self._outputs.cancel)
        self._error: BaseException | None = None
        self._context: RunContext | None = None
        self._items = 0
        self._started = time.perf_counter()
        self._seconds: float | None = None
        if source.kind in ("feed", "queue"):
            self._feed = _Feed(source)
            self._control.register(self._feed.cancel)
        self._source = source
        self._thread = threading.Thread(target=self._sink, name="paipa background run", daemon=True)
        self._thread.start()

    def _input(self) -> Source | Iterator[Any]:
        if self._feed is not None:
            return self._feed.items()
        return self._stoppable(self._source.open())

    def _stoppable(self, items: Iterator[Any]) -> Iterator[Any]:
        stopping = self._stopping
        for item in items:
            yield item
            if stopping.is_set():
                return

    def _sink(self) -> None:
        try:
            with (
                self._observed() as context,
                _results.running(self._plan, self._input(), self._with(context)) as out,
            ):
                # One output at a time: an output never waits for the next one.
                deliver = self._outputs.deliver
                for item in out:
                    self._items += 1
                    deliver(item)
        except Cancelled:
            pass
        except BaseException as error:
            self._error = error
        finally:
            self._seconds = time.perf_counter() - self._started
            self._outputs.end()

    def _with(self, context: RunContext) -> RunContext:
        context.control = self._control
        self._policies = context.policies
        self._context = context
        return context

    @property
    def outputs_dropped(self) -> int:
        """Outputs dropped because nobody was iterating the handle and it held enough."""
        return self._outputs.dropped

    @property
    def alive(self) -> bool:
        """Whether the run is still going."""
        return self._thread.is_alive()

    def put(self, item: Any) -> None:
        """Give one item to a pipeline started without a source (or from a queue)."""
        self.put_all((item,))

    def put_all(self, items: Iterable[Any]) -> None:
        """Give items to a pipeline started without a source, waiting for room."""
        if self._feed is None:
            raise TypeError(
                f"this run reads its own source ({self._source.name}); only a pipeline "
                "built without a source, Pipeline(), or from a queue.Queue is fed with put()"
            )
        if not is_iterable(items):
            raise TypeError(f"put_all() takes an iterable of items, got {items!r}")
        self._feed.put_all(items)

    def finish(self) -> None:
        """Say that no more items will be put: the run ends once they are through."""
        if self._feed is not None:
            self._feed.finish()

    def join(self) -> RunResult:
        """Wait for the run to end; raise its error, or return what it did.

        Outputs nobody iterated are dropped. A fed run ends only after `finish`.
        """
        self._thread.join()
        if not self._outputs.streaming:
            self._outputs.discard()
        if self._error is not None:
            raise self._error
        return self._result()

    def stop(self) -> RunResult:
        """Stop taking input, let the items already taken through, then `join`."""
        self._stopping.set()
        self.finish()
        return self.join()

    def cancel(self) -> int:
        """Stop at once, discarding items still queued; return how many were dropped."""
        dropped = self._control.cancel()
        self._thread.join()
        return dropped

    def __iter__(self) -> Iterator[T_co]:
        """Stream the outputs as they come, then raise the run's error if it failed."""
        yield from self._outputs.stream()
        self._thread.join()
        if self._error is not None:
            raise self._error

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
        if error is not None:
            self.cancel()
            return
        self.finish()
        self.join()

    def _result(self) -> RunResult:
        recorder = self._context.recorder if self._context is not None else None
        stats = recorder.snapshot(final=True) if recorder is not None else None
        return run_result(self._items, self._seconds or 0.0, self._policies, stats)
