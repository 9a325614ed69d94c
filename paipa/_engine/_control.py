"""Control of a run from outside it: cancelling a background run from the caller's thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Control"]


class Control:
    """Collects the ways to cancel the parts of one run; `cancel` uses them all.

    Each part registers a function that cancels it and returns how many items
    were still waiting in its queues, so that a cancel can say what it dropped.
    """

    __slots__ = ("_cancellers", "_lock", "cancelled")

    def __init__(self) -> None:
        """Start with nothing registered and not cancelled."""
        self.cancelled = threading.Event()
        self._cancellers: list[Callable[[], int]] = []
        self._lock = threading.Lock()

    def register(self, canceller: Callable[[], int]) -> None:
        """Add a part of the run; if the run is already cancelled, cancel the part now."""
        with self._lock:
            self._cancellers.append(canceller)
            cancelled = self.cancelled.is_set()
        if cancelled:
            canceller()

    def cancel(self) -> int:
        """Cancel every registered part; return the items that were waiting in them."""
        with self._lock:
            self.cancelled.set()
            cancellers = list(self._cancellers)
        return sum(canceller() for canceller in cancellers)
