"""The one concurrency primitive: a bounded, closable channel of item batches.

Producers put lists of items; consumers take lists of up to a given number of
items. Moving lists rather than single items keeps the per-item cost of a
threaded stage at C speed (a list append), with one lock round-trip per batch.

The edges of a channel's life, named as trio names them:

- *closed*: every producer called `close`; consumers drain what is left, then
  `get` returns an empty batch (the end of input);
- *cancelled*: the run is being torn down; every blocked or later `put` and
  `get` raises `Cancelled` at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["Cancelled", "Channel"]


class Cancelled(BaseException):
    """Raised by channel operations once the run is cancelled.

    A `BaseException`, so that a step's ``except Exception`` cannot swallow it
    and keep a cancelled thread running.
    """


class Channel:
    """A bounded FIFO of items, moved in batches, with close and cancel."""

    __slots__ = (
        "_batches",
        "_cancelled",
        "_head",
        "_lock",
        "_not_empty",
        "_not_full",
        "_producers",
        "_size",
        "_taken",
        "capacity",
    )

    def __init__(self, capacity: int, producers: int = 1) -> None:
        """Hold at most `capacity` items (one oversized batch may enter when empty)."""
        self.capacity = capacity
        self._batches: deque[list[Any]] = deque()
        self._head = 0  # items of _batches[0] already taken
        self._size = 0
        self._taken = 0  # items handed out so far: numbers the next item
        self._producers = producers
        self._cancelled = False
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def __len__(self) -> int:
        """Items waiting in the channel now."""
        return self._size

    def put(self, items: list[Any]) -> None:
        """Append `items` (the channel takes the list over), waiting for room."""
        with self._lock:
            while self._size and self._size + len(items) > self.capacity and not self._cancelled:
                self._not_full.wait()
            if self._cancelled:
                raise Cancelled
            self._batches.append(items)
            self._size += len(items)
            self._not_empty.notify()

    def get(self, limit: int) -> tuple[int, list[Any]]:
        """Take up to `limit` items: ``(number of the first item, items)``.

        Waits while the channel is empty and open; returns an empty list once
        it is closed and drained.
        """
        taken = self.get_within(limit, None)
        assert taken is not None  # without a timeout, get_within always returns
        return taken

    def get_within(self, limit: int, timeout: float | None) -> tuple[int, list[Any]] | None:
        """Like `get`, but return None if no item came within `timeout` seconds."""
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._size:
                if self._cancelled:
                    raise Cancelled
                if not self._producers:
                    return self._taken, []
                if deadline is None:
                    self._not_empty.wait()
                elif (
                    not self._not_empty.wait(max(0.0, deadline - time.monotonic()))
                    and not self._size
                    and self._producers
                    and not self._cancelled
                ):
                    return None
            if self._cancelled:
                raise Cancelled
            batches = self._batches
            first = batches[0]
            head = self._head
            if not head and len(first) <= limit:
                batches.popleft()
                items = first
                # Merge whole batches behind it while they fit: fewer, larger gets.
                while batches and len(items) + len(batches[0]) <= limit:
                    items += batches.popleft()
            else:
                items = first[head : head + limit]
                head += len(items)
                if head == len(first):
                    batches.popleft()
                    head = 0
                self._head = head
            start = self._taken
            self._taken = start + len(items)
            self._size -= len(items)
            self._not_full.notify()
            if self._size:
                self._not_empty.notify()
            return start, items

    def close(self) -> None:
        """Say that one producer has finished; the last close ends the input."""
        with self._lock:
            self._producers -= 1
            if not self._producers:
                self._not_empty.notify_all()

    def cancel(self) -> None:
        """Wake every waiting producer and consumer with `Cancelled`, now and later."""
        with self._lock:
            self._cancelled = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
