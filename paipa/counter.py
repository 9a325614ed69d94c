"""paipa 0.3's `Counter`: named counts and their rates, logged now and then.

Kept for code written for paipa 0.3 (the threaded `paipa.threaded.Pipeline`
keeps one as ``pipeline.counter``). New code reads per-step figures from the
runtime debugger instead (`paipa.Pipeline.debug`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["Counter"]


def _peak_memory() -> int:
    """Return the peak resident memory, as ``getrusage`` reports it (KiB on Linux)."""
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Counter:
    """Counts per name; `show` logs each count with its rate per second since `init`.

    ```pycon
    >>> counter = Counter(quiet=True)
    >>> counter.count("reads")
    >>> counter.count("reads", 2)
    >>> counter.counts["reads"]
    3

    ```
    """

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        session: Any = None,
        show_every: float | None = 10,
        quiet: bool = False,
    ) -> None:
        """Log to `logger` (a logger or its name; default ``core.pipeline``) at DEBUG.

        `show_every` seconds between two shows from `count` (None: never,
        -1: on every count); `quiet` shows nothing. `session` (an SQLAlchemy
        session, say) adds its new/dirty/deleted/identity-map sizes to each line.
        """
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger: logging.Logger = logger or logging.getLogger("core.pipeline")
        self.session: Any = session
        self.show_every: float | None = show_every
        self.quiet: bool = bool(quiet)
        self.items: list[str] = []
        self.counts: dict[str, int] = {}
        self.start: dict[str, float] = {}
        self.last_show: float = time.time()
        self.shows: int = 0
        self._lock = threading.Lock()

    def init(self, name: str) -> None:
        """Start counting `name` from zero, now."""
        with self._lock:
            self._init(name)

    def _init(self, name: str) -> None:
        if name not in self.counts:
            self.items.append(name)
        self.counts[name] = 0
        self.start[name] = time.time()

    def count(self, name: str = "default", count: int = 1) -> None:
        """Add `count` to `name`; show the counts if `show_every` seconds have passed."""
        now = time.time()
        with self._lock:
            if name not in self.counts:
                self._init(name)
            self.counts[name] += count
            due = self.show_every is not None and (
                self.show_every == -1 or now - self.last_show > self.show_every
            )
            if due:
                self.last_show = now
        if due:
            self.show()

    def gauge(self, name: str, value: int) -> None:
        """Set `name` to `value` (a level, not a count)."""
        with self._lock:
            if name not in self.counts:
                self._init(name)
            self.counts[name] = value

    def show(self) -> None:
        """Log a line of counts and rates (with a header line every 25 shows)."""
        if self.quiet:
            return
        now = time.time()
        with self._lock:
            names = list(self.items)
            counts = [self.counts[name] for name in names]
            starts = [self.start[name] for name in names]
            header = self.shows % 25 == 0
            self.shows += 1
        if header:
            cells = [f"{name:>14}" for name in names] + [f"{'Total':>5}", "Mem"]
            self.logger.debug(" | ".join(cells))
        cells = [
            f"{count:6d} {count / max(now - start, 1e-9):5.0f}/s"
            for count, start in zip(counts, starts, strict=True)
        ]
        cells.append(f"{counts[-1] if counts else 0:5d}")
        cells.append(f"[{_peak_memory()}]")
        session = self.session
        if session is not None:
            cells.append(
                f"[new:{len(session.new)}, dirty:{len(session.dirty)}, "
                f"deleted:{len(session.deleted)}, id_map:{len(session.identity_map)}]"
            )
        self.logger.debug(" | ".join(cells))
