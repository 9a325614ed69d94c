"""Retries and error policies of item steps, and the counts they keep.

A step with ``retries`` or an ``on_error`` other than ``"raise"`` has its
function wrapped, once per run (per worker); steps without them run bare, so
the policy costs nothing where it is not asked for.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._step import Processor, Skip, Step

__all__ = ["ErrorCounts", "Policies", "decide", "with_policy"]

MAX_DOUBLINGS = 64
"""Backoff doubles per attempt up to this many times (beyond it only the float overflows)."""


@dataclass
class ErrorCounts:
    """What one step's error policy did during a run."""

    retries: int = 0
    """Attempts made again after a failure."""
    skipped: int = 0
    """Items dropped after failing (``on_error="skip"`` or a dead-letter callable)."""
    dead_lettered: int = 0
    """Items handed to the ``on_error`` callable."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, retries: int = 0, skipped: int = 0, dead_lettered: int = 0) -> None:
        """Add to the counts (from any thread)."""
        with self._lock:
            self.retries += retries
            self.skipped += skipped
            self.dead_lettered += dead_lettered


def with_policy(
    member: Step[Any, Any],
    function: Callable[[Any], Any],
    counts: ErrorCounts,
    pause: Callable[[float], object],
) -> Callable[[Any], Any]:
    """Return `function` wrapped with the step's retries and ``on_error`` policy.

    `pause(seconds)` waits between attempts; a threaded run passes a wait that
    returns early when the run is cancelled.
    """
    if not member.retries and member.on_error == "raise":
        return function
    materialise = member.kind == "flat_map"  # so errors while iterating are caught here

    def call(item: Any) -> Any:
        attempt = 0
        while True:
            try:
                result = function(item)
                return list(result) if materialise else result
            except Skip:
                raise
            except Exception as error:
                attempt += 1
                verdict = decide(member, counts, pause, item, error, attempt)
                if verdict == "retry":
                    continue
                if verdict == "raise":
                    raise
                raise Skip from None

    return call


def decide(
    member: Step[Any, Any],
    counts: ErrorCounts,
    pause: Callable[[float], object],
    item: Any,
    error: Exception,
    attempt: int,
) -> str:
    """Say what becomes of `item`, whose `attempt`-th try failed with `error`.

    ``"retry"`` (after the backoff pause), ``"raise"`` (the run fails), or
    ``"drop"`` (skipped, or handed to the dead-letter callable first); the
    counts are kept here. Threads and worker processes share this decision.
    """
    if attempt <= member.retries and isinstance(error, member.retry_on):
        counts.add(retries=1)
        if member.backoff:
            pause(member.backoff * 2.0 ** min(attempt - 1, MAX_DOUBLINGS))
        return "retry"
    on_error = member.on_error
    if on_error == "raise":
        return "raise"
    if on_error != "skip":
        with contextlib.suppress(Skip):  # a callback may skip: still dead-lettered
            on_error(item, error)
        counts.add(dead_lettered=1)
    counts.add(skipped=1)
    return "drop"


class Policies:
    """What a run needs to apply error policies: the counts per step, and how to wait."""

    __slots__ = ("counts", "pause")

    def __init__(
        self,
        counts: dict[int, ErrorCounts] | None = None,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        """Count into `counts` (by step position); wait between attempts with `pause`."""
        self.counts: dict[int, ErrorCounts] = {} if counts is None else counts
        self.pause: Callable[[float], object] = pause

    def wrap(self, member: Step[Any, Any], position: int, function: Callable[[Any], Any]) -> Any:
        """Return `function` with the policy of the step at `position` applied."""
        if not member.retries and member.on_error == "raise":
            return function
        counts = self.counts.setdefault(position, ErrorCounts())
        return with_policy(member, function, counts, self.pause)

    def wrap_processor(
        self, member: Step[Any, Any], position: int, processor: Processor[Any, Any]
    ) -> Processor[Any, Any]:
        """Return `processor` with the policy of its step applied to ``process``."""
        process = self.wrap(member, position, processor.process)
        if process is processor.process:
            return processor
        return _GuardedProcessor(processor, process)


class _GuardedProcessor(Processor[Any, Any]):
    """A processor whose ``process`` goes through an error policy."""

    def __init__(self, inner: Processor[Any, Any], process: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._process = process

    def setup(self) -> None:
        self._inner.setup()

    def process(self, item: Any) -> Any:
        return self._process(item)

    def teardown(self) -> None:
        self._inner.teardown()
