"""A user's `queue.Queue` read as a run's input: batches out, woken by finish and cancel.

The run takes items with the queue's own lock and conditions, as
``Queue.get`` does, so that ``finish()`` and a cancel can wake a reader
waiting on an empty queue, and a cancel can wake ``put()`` waiting on a full
one, without putting a marker into the user's queue (which may itself be full).
"""

from __future__ import annotations

import queue
import time
from typing import Any

from ._channel import Cancelled

__all__ = ["QueueInput"]


class QueueInput:
    """Reads batches from a `queue.Queue` like a `Channel`; `end` and `cancel` wake it."""

    __slots__ = ("_cancelled", "_ended", "_queue", "_stopped", "_taken", "capacity")

    def __init__(self, source: queue.Queue[Any], capacity: int) -> None:
        """Read `source`, taking at most `capacity` items at once."""
        self._queue = source
        self._ended = False
        self._stopped = False
        self._cancelled = False
        self._taken = 0
        self.capacity = capacity

    def __len__(self) -> int:
        """Items waiting in the queue now."""
        return self._queue.qsize()

    @property
    def open(self) -> bool:
        """Whether more items may still come (the input has not ended)."""
        return not (self._ended or self._cancelled)

    def get(self, limit: int) -> tuple[int, list[Any]]:
        """Take up to `limit` items, waiting for one; an empty list once ended and drained."""
        taken = self.get_within(limit, None)
        assert taken is not None  # without a timeout, get_within always returns
        return taken

    def get_within(self, limit: int, timeout: float | None) -> tuple[int, list[Any]] | None:
        """Like `get`, but return None if no item came within `timeout` seconds."""
        source = self._queue
        size = source._qsize
        with source.not_empty:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not size() or self._stopped:
                if self._cancelled:
                    raise Cancelled
                if self._ended:
                    return self._taken, []
                if deadline is None:
                    source.not_empty.wait()
                elif (
                    not source.not_empty.wait(max(0.0, deadline - time.monotonic()))
                    and not size()
                    and not (self._cancelled or self._ended)
                ):
                    return None
            if self._cancelled:
                raise Cancelled
            take = source._get
            items = [take() for _ in range(min(limit, size()))]
            source.not_full.notify(len(items))
            start = self._taken
            self._taken += len(items)
            return start, items

    def put(self, items: list[Any]) -> None:
        """Put `items` into the queue for the run, waiting for room; `Cancelled` wakes it."""
        source = self._queue
        size = source._qsize
        append = source._put
        for item in items:
            with source.not_full:
                while 0 < source.maxsize <= size() and not self._cancelled:
                    source.not_full.wait()
                if self._cancelled:
                    raise Cancelled
                append(item)
                source.unfinished_tasks += 1
                source.not_empty.notify()

    def end(self) -> None:
        """No more input: the run reads what the queue holds, then ends."""
        with self._queue.mutex:
            self._ended = True
            self._queue.not_empty.notify_all()

    def stop(self) -> None:
        """Take nothing more from the queue (what it holds stays there); end the input."""
        with self._queue.mutex:
            self._ended = self._stopped = True
            self._queue.not_empty.notify_all()

    def close(self) -> None:
        """End the input, as `end` does."""
        self.end()

    def cancel(self) -> int:
        """Wake every reader and writer with `Cancelled`; the queue keeps its items."""
        with self._queue.mutex:
            self._cancelled = True
            self._queue.not_empty.notify_all()
            self._queue.not_full.notify_all()
        return 0
