"""Keep a threaded stage's outputs in input order, within a bounded window.

Every batch a worker takes from its channel is numbered by its first item.
Workers hand their results to `Reorder` under that number; it passes them
on to the next channel strictly in input order. A worker whose batch lies
more than ``window`` items ahead of the oldest unfinished one waits, so the
results held back never exceed the window. The worker holding the oldest
batch never waits, so the stage always makes progress.
"""

from __future__ import annotations

import threading
from typing import Any

from ._channel import Cancelled, Channel

__all__ = ["Reorder"]


class Reorder:
    """Passes numbered batches of results to `outbox` in the order of their numbers."""

    __slots__ = ("_cancelled", "_changed", "_draining", "_next", "_outbox", "_pending", "window")

    def __init__(self, outbox: Channel, window: int) -> None:
        """Hold back at most `window` input items' worth of finished batches."""
        self.window = window
        self._outbox = outbox
        self._pending: dict[int, tuple[int, list[Any]]] = {}
        self._next = 0  # number of the oldest batch not yet passed on
        self._draining = False
        self._cancelled = False
        self._changed = threading.Condition()

    def submit(self, start: int, count: int, results: list[Any]) -> None:
        """Hand in the `results` of the `count` input items numbered from `start`."""
        with self._changed:
            while start - self._next >= self.window and not self._cancelled:
                self._changed.wait()
            if self._cancelled:
                raise Cancelled
            self._pending[start] = (count, results)
            if self._draining:
                return  # the thread draining now will pass this batch on
            self._draining = True
        # Pass batches on outside the lock: a put may wait for room downstream.
        while True:
            with self._changed:
                entry = self._pending.pop(self._next, None)
                if entry is None:
                    self._draining = False
                    return
                count, results = entry
                self._next += count
                self._changed.notify_all()
            if results:
                try:
                    self._outbox.put(results)
                except BaseException:
                    with self._changed:
                        self._draining = False
                    raise

    def cancel(self) -> int:
        """Wake every waiting worker with `Cancelled`; return the items dropped (none counted)."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()
        return 0
