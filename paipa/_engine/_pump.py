"""Move a thread's outputs into a channel in batches, without ever holding one back.

A `Pump` collects the outputs of a thread's steps and puts them into the next
channel in batches (one lock round-trip per batch keeps threaded stages at C
speed per item). Batching must never delay an item: if the thread then
blocks (a source waiting for data, a step waiting on the network), the items
it has collected would sit in its hands. So every run has one `Flusher`
thread: a pump that starts a batch arms it, and whatever the pump still
holds a millisecond later, the flusher passes on, without waiting for room
(the next stage is busy then, and the pump tries again later).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from ._channel import BATCH, Channel
from ._lifecycle import SourceWatch, watch_fetches_in

__all__ = ["BATCH", "HOLD", "BatchSize", "Flusher", "Pump"]

HOLD = 0.001
"""Seconds an output may wait in a pump for its batch to fill before it is passed on."""


class BatchSize:
    """How many items a worker takes next: about `aim` seconds of work, at most `most`.

    It starts at one item and follows the measured time per item, so slow items
    go one at a time and spread evenly over the workers. It at most doubles from
    one batch to the next, so the first results come out early, and shrinks at once.
    """

    __slots__ = ("aim", "estimate", "limit", "most")

    def __init__(self, most: int, aim: float) -> None:
        """Take at most `most` items at once, aiming at `aim` seconds per batch."""
        self.most = most
        self.aim = aim
        self.estimate = 0.0
        """Seconds per item, averaged over the batches so far."""
        self.limit = 1
        """Items to take next."""

    def measured(self, seconds: float, items: int) -> None:
        """Record that `items` items took `seconds`; update `limit`."""
        per_item = seconds / items
        estimate = self.estimate = per_item if not self.estimate else (self.estimate + per_item) / 2
        wanted = self.most if estimate <= 0 else max(1, min(self.most, int(self.aim / estimate)))
        self.limit = min(wanted, 2 * self.limit)


class Pump:
    """A thread's outputs on their way into `outbox`, in batches."""

    __slots__ = ("_flusher", "_lock", "armed", "limit", "outbox", "pending", "since")

    def __init__(self, outbox: Channel, flusher: Flusher | None) -> None:
        """Put into `outbox`; with a `flusher`, held items are passed on after `HOLD` s."""
        self.outbox = outbox
        self.limit = outbox.batch
        self.pending: deque[Any] = deque()
        self._lock = threading.Lock()
        self._flusher = flusher
        self.armed = False
        """Whether the flusher will look at this pump (it is armed once at a time)."""
        self.since = 0.0
        """When the oldest item the pump holds came (`time.monotonic`)."""

    def run(self, results: Iterator[Any]) -> None:
        """Put every item of `results` into the outbox, then what is left."""
        pending, limit = self.pending, self.limit
        append, clock = pending.append, time.monotonic
        flusher = self._flusher
        for item in results:
            append(item)
            held = len(pending)
            if held >= limit:
                self.flush()
            elif held == 1 and flusher is not None:  # this item starts a batch
                self.since = clock()
                if not self.armed:
                    flusher.arm(self)
        self.flush()

    def run_watched(self, source: Iterator[Any], watch: SourceWatch) -> None:
        """Like `run`, for a source read directly, recording in `watch` when it waits in it.

        The same as ``run(watched(source, watch))``, without a generator between.
        """
        pending, limit = self.pending, self.limit
        append, fetch, clock = pending.append, source.__next__, time.monotonic
        flusher = self._flusher
        while not watch.halted:
            try:
                item = fetch()  # SourceWatch finds this line on the stack: waiting in the source
            except StopIteration:
                break
            append(item)
            held = len(pending)
            if held >= limit:
                self.flush()
            elif held == 1 and flusher is not None:
                self.since = clock()
                if not self.armed:
                    flusher.arm(self)
        self.flush()

    def _take(self) -> list[Any]:
        pending = self.pending
        return [pending.popleft() for _ in range(len(pending))]

    def flush(self) -> None:
        """Put what the pump holds into the outbox, waiting for room."""
        with self._lock:
            if self.pending:
                self.outbox.put(self._take())

    def flush_held(self) -> bool:
        """Put what the pump holds if there is room now; tell whether nothing is left held."""
        if not self._lock.acquire(blocking=False):
            return True  # the pump's own thread is flushing
        try:
            if not self.pending:
                return True
            items = self._take()
            if not self.outbox.try_put(items):
                self.pending.extendleft(reversed(items))
                return False
            # An item the pump appended while we took did not arm: it is looked at again.
            return not self.pending
        finally:
            self._lock.release()


class Flusher:
    """Passes on the items pumps have held for `HOLD` seconds (one thread per run)."""

    __slots__ = ("_armed", "_changed", "_stopped")

    def __init__(self) -> None:
        """Start with nothing armed."""
        self._armed: deque[tuple[float, Pump]] = deque()
        self._changed = threading.Condition(threading.Lock())
        self._stopped = False

    def arm(self, pump: Pump) -> None:
        """Look at `pump` once its oldest item has waited `HOLD` seconds."""
        with self._changed:
            pump.armed = True
            self._armed.append((max(pump.since, time.monotonic() - HOLD) + HOLD, pump))
            if len(self._armed) == 1:
                self._changed.notify()

    def run(self) -> None:
        """Flush armed pumps when their time comes, until `stop`."""
        armed, changed, clock = self._armed, self._changed, time.monotonic
        while True:
            with changed:
                while not armed and not self._stopped:
                    changed.wait()
                if self._stopped:
                    return
                due, pump = armed[0]
                delay = due - clock()
                if delay > 0:
                    changed.wait(delay)
                    continue
                armed.popleft()
                pump.armed = False
            if pump.pending and clock() - pump.since < HOLD:
                self.arm(pump)  # the pump sent its batch and started another since
            elif not pump.flush_held():
                self.arm(pump)  # no room downstream (the next stage has work), or more came

    def stop(self) -> int:
        """End `run` (the run is over or cancelled); returns 0 items dropped."""
        with self._changed:
            self._stopped = True
            self._armed.clear()
            self._changed.notify()
        return 0


watch_fetches_in(Pump.run_watched)
