"""`RunResult`: what a finished run reports."""

from __future__ import annotations

from dataclasses import dataclass

from ._debug._stats import Snapshot
from ._engine._policy import Policies

__all__ = ["RunResult", "run_result"]


@dataclass(frozen=True)
class RunResult:
    """What `Pipeline.run` reports once the pipeline has finished."""

    items: int
    """Items that came out of the last step (read or not)."""
    seconds: float
    """Wall-clock time of the run."""
    retries: int = 0
    """Attempts made again by steps with ``retries``."""
    skipped: int = 0
    """Items dropped after failing, by ``on_error="skip"`` or a dead-letter callable."""
    dead_lettered: int = 0
    """Failed items handed to an ``on_error`` callable."""
    stats: Snapshot | None = None
    """With ``Pipeline.debug``: the final figures of every step."""
    discarded: int = 0
    """Outputs of a background run dropped unread (counted in `items`): by ``join()`` or
    ``stop()`` without iterating, or ``start(discard_outputs=True)``."""
    cancelled: bool = False
    """Whether the run was cancelled (``cancel()``, ``break``, Ctrl-C) before its end."""

    @property
    def rate(self) -> float:
        """Items out per second (0.0 for an instant run)."""
        return self.items / self.seconds if self.seconds > 0 else 0.0


def run_result(
    items: int,
    seconds: float,
    policies: Policies,
    stats: Snapshot | None = None,
    discarded: int = 0,
    cancelled: bool = False,
) -> RunResult:
    """Return the result of a run, with the counts its error policies kept."""
    counts = policies.counts.values()
    return RunResult(
        items,
        seconds,
        retries=sum(count.retries for count in counts),
        skipped=sum(count.skipped for count in counts),
        dead_lettered=sum(count.dead_lettered for count in counts),
        stats=stats,
        discarded=discarded,
        cancelled=cancelled,
    )
