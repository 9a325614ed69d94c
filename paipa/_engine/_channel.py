"""The one concurrency primitive: a bounded, closable channel of item batches.

Producers put lists of items; consumers take lists of up to a given number of
items. Moving lists rather than single items keeps the per-item cost of a
threaded stage at C speed (a list append), with one lock round-trip per batch.

The edges of a channel's life, named as trio names them:

- *closed*: every producer called `close`; consumers drain what is left, then
  `get` returns an empty batch (the end of input);
- *cancelled*: the run is being torn down; every blocked or later `put` and
  `get` raises `Cancelled` at once;
- *discarding*: nobody will read (the last channel of a background run whose
  caller said so): what it holds and every later `put` is counted and dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Protocol

__all__ = ["Cancelled", "Channel", "Inbox"]


class Cancelled(BaseException):
    """Raised by channel operations once the run is cancelled.

    A `BaseException`, so that a step's ``except Exception`` cannot swallow it
    and keep a cancelled thread running.
    """


class Inbox(Protocol):
    """What a stage reads from: a `Channel`, or a user's queue read as one."""

    @property
    def capacity(self) -> int:
        """The most items it holds (and so the most taken at once)."""
        ...

    def __len__(self) -> int:
        """Items waiting now."""
        ...

    @property
    def open(self) -> bool:
        """Whether more items may still come."""
        ...

    def get(self, limit: int) -> tuple[int, list[Any]]:
        """Take up to `limit` items; an empty list at the end."""
        ...

    def get_within(self, limit: int, timeout: float | None) -> tuple[int, list[Any]] | None:
        """Like `get`, or None if nothing came within `timeout` seconds."""
        ...

    def put(self, items: list[Any]) -> None:
        """Append `items`, waiting for room."""
        ...

    def end(self) -> None:
        """End the input: readers drain what is held, then stop."""
        ...

    def cancel(self) -> int:
        """Wake everyone with `Cancelled`; return the items dropped."""
        ...


BATCH = 64
"""The most items a thread takes from, or puts into, a channel at once (and never more
than the channel holds, so that a small ``queue_size`` really bounds what is in flight)."""


class Channel:
    """A bounded FIFO of items, moved in batches, with close and cancel."""

    __slots__ = (
        "_batches",
        "_cancelled",
        "_discarding",
        "_head",
        "_lock",
        "_not_empty",
        "_not_full",
        "_producers",
        "_sealed",
        "_size",
        "_taken",
        "batch",
        "capacity",
        "discarded",
    )

    def __init__(self, capacity: int, producers: int = 1, batch: int = BATCH) -> None:
        """Hold at most `capacity` items (one oversized batch may enter when empty).

        Its producers put up to `batch` items at once (never more than `capacity`).
        """
        self.capacity = capacity
        self.batch = max(1, min(batch, capacity))
        self._batches: deque[list[Any]] = deque()
        self._head = 0  # items of _batches[0] already taken
        self._size = 0
        self._taken = 0  # items handed out so far: numbers the next item
        self._producers = producers
        self._cancelled = False
        self._discarding = False
        self._sealed = False
        self.discarded = 0
        """Items dropped unread while discarding."""
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def __len__(self) -> int:
        """Items waiting in the channel now."""
        return self._size

    def put(self, items: list[Any]) -> None:
        """Append `items` (the channel takes the list over), waiting for room."""
        with self._lock:
            while self._size + len(items) > self.capacity and self._size and self._waits():
                self._not_full.wait()
            self._append(items)

    def try_put(self, items: list[Any]) -> bool:
        """Append `items` if there is room now; tell whether they went in."""
        with self._lock:
            if self._size + len(items) > self.capacity and self._size and self._waits():
                return False
            self._append(items)
            return True

    def _waits(self) -> bool:
        """Whether a producer with no room should wait (it should not once it is refused)."""
        return not (self._cancelled or self._sealed or self._discarding)

    def _append(self, items: list[Any]) -> None:
        if self._cancelled or self._sealed:
            raise Cancelled
        if self._discarding:
            self.discarded += len(items)
            return
        self._batches.append(items)
        self._size += len(items)
        self._not_empty.notify()

    def discard(self) -> None:
        """Drop what the channel holds and everything put from now on, counting them."""
        with self._lock:
            self._discarding = True
            self.discarded += self._size
            self._batches.clear()
            self._head = 0
            self._size = 0
            self._not_full.notify_all()

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
            items = self._take(limit)
            start = self._taken
            self._taken = start + len(items)
            self._size -= len(items)
            self._not_full.notify()
            if self._size:
                self._not_empty.notify()
            return start, items

    def _take(self, limit: int) -> list[Any]:
        """Remove and return up to `limit` items (at least one is held), across batches."""
        batches = self._batches
        first = batches[0]
        head = self._head
        if not head and len(first) <= limit:
            batches.popleft()
            items = first  # the channel owns its batches: the first is handed over whole
        else:
            items = first[head : head + limit]
            head += len(items)
            if head < len(first):
                self._head = head
                return items
            batches.popleft()
            self._head = 0
        # Whole batches behind it while they fit, then part of the next: fewer, larger gets.
        while batches and len(items) + len(batches[0]) <= limit:
            items += batches.popleft()
        if batches and len(items) < limit:
            self._head = limit - len(items)
            items += batches[0][: self._head]
        return items

    def close(self) -> None:
        """Say that one producer has finished; the last close ends the input."""
        with self._lock:
            self._producers = max(0, self._producers - 1)
            if not self._producers:
                self._not_empty.notify_all()

    def end(self) -> None:
        """End the input for every producer at once: consumers drain what is held, then stop.

        A producer that puts after this gets `Cancelled`: its items are not wanted.
        """
        with self._lock:
            self._producers = 0
            self._sealed = True
            self._not_full.notify_all()
            self._not_empty.notify_all()

    @property
    def open(self) -> bool:
        """Whether some producer may still put."""
        return self._producers > 0 and not self._cancelled

    def cancel(self) -> int:
        """Wake every waiting producer and consumer with `Cancelled`, now and later.

        Return how many items were still held (dropped by the cancel).
        """
        with self._lock:
            held = 0 if self._cancelled else self._size
            self._cancelled = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
            return held
