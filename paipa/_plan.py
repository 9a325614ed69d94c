"""Compile a pipeline's steps into a plan of stages; render it for ``explain()``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._step import ITEM_KINDS, Step

__all__ = ["Plan", "Segment", "Stage", "compile_plan"]


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
    """Segments that run in one thread, each pulling from the one before it."""

    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Plan:
    """The compiled form of a pipeline: its stages, in data-flow order."""

    stages: tuple[Stage, ...]
    step_count: int

    def explain(self, source: str | None) -> str:
        """Return a readable description of the stages and which steps fused."""
        lines = [f"source: {source}" if source else "source: (none, a reusable chain)"]
        fused_labels = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for number, stage in enumerate(self.stages, 1):
            steps = sum(len(segment.steps) for segment in stage.segments)
            lines.append(f"stage {number}: inline in the caller's thread, {steps} steps")
            rows: list[tuple[str, str, str, str]] = []
            for segment in stage.segments:
                how = "nested generator"
                if segment.kind == "fused":
                    how = f"fused loop {next(fused_labels, '?')}"
                for position, member in zip(segment.positions, segment.steps, strict=True):
                    extra = f", workers={member.workers}" if member.workers else ""
                    rows.append((f"{position}.", member.name, member.kind, how + extra))
            widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                lines.append("  " + "  ".join([*cells, row[3]]).rstrip())
        if not self.stages:
            lines.append("no steps: the source's items pass through unchanged")
        return "\n".join(lines)


def compile_plan(steps: Sequence[Step[Any, Any]]) -> Plan:
    """Group steps into segments: runs of item steps fuse, iterator steps nest."""
    segments: list[Segment] = []
    pending: list[Step[Any, Any]] = []
    start = 1
    for position, member in enumerate(steps, 1):
        if member.kind in ITEM_KINDS:
            if not pending:
                start = position
            pending.append(member)
            continue
        if pending:
            segments.append(Segment("fused", tuple(pending), start))
            pending = []
        segments.append(Segment("nested", (member,), position))
    if pending:
        segments.append(Segment("fused", tuple(pending), start))
    stages = (Stage(tuple(segments)),) if segments else ()
    return Plan(stages, len(steps))
