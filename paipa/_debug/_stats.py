"""The debugger's figures: `StepStats` per step, and a `Snapshot` of them all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Snapshot", "StepStats"]


@dataclass(frozen=True)
class StepStats:
    """What one step (or the source, at position 0) did so far in a run.

    Times are *exclusive*: a step's seconds do not include the steps it pulls
    its input from. For a threaded step they are summed over its workers.
    """

    name: str
    position: int
    """The step's position in the pipeline, from 1; 0 for the source."""
    kind: str
    """The step's kind (``"map"``, ``"iterator"``, ...), or ``"source"``."""
    items_in: int
    """Items the step took in (for the source: none)."""
    items_out: int
    """Items the step passed on."""
    seconds: float
    """Wall-clock seconds spent inside the step (sampled; summed over workers)."""
    user_seconds: float
    """CPU seconds in user mode spent inside the step."""
    system_seconds: float
    """CPU seconds in the kernel spent inside the step."""
    rss_growth: int
    """Growth of the process's resident memory (bytes) while the step ran."""
    counts: Mapping[str, int] = field(default_factory=dict[str, int])
    """What the step counted itself with `paipa.tally` (e.g. database queries)."""
    retries: int = 0
    """Attempts made again by the step's ``retries`` policy."""
    skipped: int = 0
    """Items the step dropped after they failed (``on_error``)."""
    workers: int | None = None
    """Threads of a threaded step; None for inline steps."""
    busy_workers: int | None = None
    """Workers inside the step (not waiting for items) when the snapshot was taken."""
    queue_depth: int | None = None
    """Items waiting in the queue in front of a threaded step."""

    @property
    def rate(self) -> float:
        """Items out per second of the step's own time (its throughput); 0.0 if none measured."""
        return self.items_out / self.seconds if self.seconds > 0 else 0.0

    def per_item(self, name: str) -> float:
        """Return the tally `name` per item in (e.g. queries per item)."""
        taken = self.items_in or self.items_out
        return self.counts.get(name, 0) / taken if taken else 0.0


@dataclass(frozen=True)
class Snapshot:
    """The figures of every step of a run at one moment, source first."""

    elapsed: float
    """Seconds since the run started."""
    steps: tuple[StepStats, ...]
    """One entry per step, the source first."""
    final: bool = False
    """Whether this is the last snapshot of the run (taken when it ended)."""
    total: int | None = None
    """Items the source will give, when it knows (a list, a range): for ETAs."""
    failed: bool = False
    """Whether the run ended with an error (reported before the error is raised)."""
