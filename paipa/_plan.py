"""Compile a pipeline's steps into a plan of stages; render it for ``explain()``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._step import ITEM_KINDS, Step

__all__ = ["DEFAULT_QUEUE_SIZE", "Plan", "Segment", "Stage", "compile_plan"]

DEFAULT_QUEUE_SIZE = 1024
"""Items a channel in front of a threaded stage holds unless the step says otherwise."""


@dataclass(frozen=True)
class Segment:
    """Steps that run as one unit inside a stage.

    ``"fused"``: consecutive item steps, run by one generated loop.
    ``"nested"``: one iterator step, called with the iterator before it.
    """

    kind: Literal["fused", "nested"]
    steps: tuple[Step[Any, Any], ...]
    first: int
    """Position of the first step in the pipeline, counting from 1."""

    @property
    def positions(self) -> range:
        """Pipeline positions (from 1) of this segment's steps."""
        return range(self.first, self.first + len(self.steps))


@dataclass(frozen=True)
class Stage:
    """Segments run by one thread each pulling from the one before, or one step's workers."""

    segments: tuple[Segment, ...]
    workers: int | None = None
    """Threads of a threaded stage (one step with ``workers``); None for inline steps."""

    @property
    def step(self) -> Step[Any, Any]:
        """The step of a threaded stage."""
        return self.segments[0].steps[0]

    @property
    def queue_size(self) -> int:
        """Items the channel in front of this stage holds."""
        if self.workers is None:
            return self.own_queue_size or DEFAULT_QUEUE_SIZE
        return self.step.queue_size or DEFAULT_QUEUE_SIZE

    @property
    def own_queue_size(self) -> int | None:
        """The smallest ``queue_size`` one of this stage's steps asked for, if any did."""
        sizes = [m.queue_size for s in self.segments for m in s.steps if m.queue_size]
        return min(sizes, default=None)


@dataclass(frozen=True)
class Plan:
    """The compiled form of a pipeline: its stages, in data-flow order."""

    stages: tuple[Stage, ...]
    step_count: int

    @property
    def threaded(self) -> bool:
        """Whether any stage runs in threads of its own."""
        return any(stage.workers is not None for stage in self.stages)

    def explain(self, source: str | None) -> str:
        """Return a readable description of the stages and which steps fused."""
        lines = [f"source: {source}" if source else "source: (none, a reusable chain)"]
        fused_labels = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for number, stage in enumerate(self.stages, 1):
            lines.append(f"stage {number}: {self._where(number, stage)}")
            rows: list[tuple[str, str, str, str]] = []
            for segment in stage.segments:
                how = "nested generator"
                if stage.workers is not None:
                    how = "its own threads"
                    if stage.step.backend.name != "thread":
                        how = "its own processes"
                elif segment.kind == "fused":
                    how = f"fused loop {next(fused_labels, '?')}"
                for position, member in zip(segment.positions, segment.steps, strict=True):
                    rows.append((f"{position}.", member.name, member.kind, how))
            widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                lines.append("  " + "  ".join([*cells, row[3]]).rstrip())
        if not self.stages:
            lines.append("no steps: the source's items pass through unchanged")
        return "\n".join(lines)

    def _where(self, number: int, stage: Stage) -> str:
        steps = sum(len(segment.steps) for segment in stage.segments)
        counted = f"{steps} step{'s' if steps != 1 else ''}"
        if stage.workers is not None:
            order = "ordered" if stage.step.ordered or stage.workers == 1 else "unordered"
            if stage.step.kind == "iterator" and stage.workers > 1:
                order = "unordered"
            plural = "s" if stage.workers != 1 else ""
            threads = f"{stage.workers} worker thread{plural}"
            if stage.step.backend.name != "thread":
                threads = f"{stage.workers} worker process{'es' if plural else ''}"
                threads += f" ({stage.step.backend.name.partition('(')[2].rstrip(')')})"
            return f"{threads}, {order}, fed by a queue of {stage.queue_size} items"
        if not self.threaded or number == len(self.stages):
            return f"inline in the caller's thread, {counted}"
        if number == 1:
            return f"inline in the feeder thread with the source, {counted}"
        return f"inline in a thread of its own, {counted}, fed by a queue of {stage.queue_size}"


def _groups(
    steps: Sequence[Step[Any, Any]], first: int, together: Callable[[Step[Any, Any]], bool]
) -> Iterator[tuple[bool, int, tuple[Step[Any, Any], ...]]]:
    """Yield (joined, position, steps): maximal runs that go `together`, the rest one by one."""
    position = first
    for joined, group in itertools.groupby(steps, key=together):
        members = tuple(group)
        if joined:
            yield True, position, members
        else:
            for offset, member in enumerate(members):
                yield False, position + offset, (member,)
        position += len(members)


def _segments(steps: Sequence[Step[Any, Any]], first: int, fuse: bool) -> tuple[Segment, ...]:
    """Group inline steps: runs of item steps fuse (unless not `fuse`), iterator steps nest."""
    segments: list[Segment] = []
    for fused, position, members in _groups(steps, first, lambda m: m.kind in ITEM_KINDS):
        if fused and fuse:
            segments += _fused_runs(members, position)
        else:
            kind: Literal["fused", "nested"] = "fused" if fused else "nested"
            segments += [Segment(kind, (m,), position + i) for i, m in enumerate(members)]
    return tuple(segments)


FLAT_MAPS_PER_LOOP = 6
"""A fused loop nests two blocks per flat_map; CPython allows 20 nested blocks."""


def _fused_runs(members: tuple[Step[Any, Any], ...], position: int) -> list[Segment]:
    """Split consecutive item steps into fused loops of at most `FLAT_MAPS_PER_LOOP` flat_maps."""
    runs: list[Segment] = []
    start, flat_maps = 0, 0
    for index, member in enumerate(members):
        if member.kind == "flat_map":
            if flat_maps == FLAT_MAPS_PER_LOOP:
                runs.append(Segment("fused", members[start:index], position + start))
                start, flat_maps = index, 0
            flat_maps += 1
    runs.append(Segment("fused", members[start:], position + start))
    return runs


def compile_plan(steps: Sequence[Step[Any, Any]], fuse: bool = True) -> Plan:
    """Split the steps into stages: each step with workers alone, the rest inline.

    With `fuse` false (when debugging), every item step gets a loop of its own,
    so that each step's outputs can be counted.
    """
    stages: list[Stage] = []
    for inline, position, members in _groups(steps, 1, lambda m: m.workers is None):
        if inline:
            stages.append(Stage(_segments(members, position, fuse)))
        else:
            (member,) = members
            kind: Literal["fused", "nested"] = "nested" if member.kind == "iterator" else "fused"
            stages.append(Stage((Segment(kind, members, position),), member.workers))
    return Plan(tuple(stages), len(steps))
