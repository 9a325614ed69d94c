"""Generate one plain loop for a run of consecutive item steps.

``map``, ``filter``, ``flat_map`` and ``process`` steps that follow each other
run in a single generator frame: per item, one resume of that frame and one
call of each step's function, with a ``try`` per step (free in CPython 3.11
until something is raised) that turns `Skip` into "drop this item". The
source is generated once per sequence of step kinds and registered with
`linecache`, so tracebacks show the loop's lines.
"""

from __future__ import annotations

import functools
import linecache
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .._step import StepKind

__all__ = ["FusedLoop", "fused_loop"]


@dataclass(frozen=True)
class FusedLoop:
    """A generated generator function and what each of its lines runs."""

    function: Callable[..., Iterator[Any]]
    """Called as ``function(items, Skip, teardown, sites, *steps)``."""
    lines: Mapping[int, tuple[int, str | None]]
    """Line number -> (index of the step in the run, processor hook or None)."""


class _Writer:
    def __init__(self) -> None:
        self.source: list[str] = []
        self.lines: dict[int, tuple[int, str | None]] = {}

    def add(self, depth: int, text: str, step: int | None = None, phase: str | None = None) -> None:
        self.source.append("    " * depth + text)
        if step is not None:
            self.lines[len(self.source)] = (step, phase)


def _write_skippable(out: _Writer, depth: int, statement: str, index: int) -> None:
    head, _, body = statement.partition("\n")
    out.add(depth, "try:")
    out.add(depth + 1, head, index)
    if body:
        out.add(depth + 2, body)
    out.add(depth, "except Skip:")
    out.add(depth + 1, "continue")


@functools.lru_cache(maxsize=256)
def fused_loop(kinds: tuple[StepKind, ...]) -> FusedLoop:
    """Return the loop running item steps of these kinds, in this order."""
    out = _Writer()
    names = [f"f{index}" for index in range(len(kinds))]
    out.add(0, f"def fused(items, Skip, teardown, sites, {', '.join(names)}):")
    processors = [index for index, kind in enumerate(kinds) if kind == "process"]
    depth = 1
    if processors:
        out.add(1, "ready = []")
        out.add(1, "try:")
        depth = 2
        for index in processors:
            out.add(depth, f"f{index}.setup()", index, "setup")
            out.add(depth, f"ready.append((f{index}, sites[{index}]))")
            out.add(depth, f"f{index} = f{index}.process")
    out.add(depth, "for x in items:")
    depth += 1
    closers: list[int] = []
    for index, kind in enumerate(kinds):
        if kind in ("map", "process"):
            _write_skippable(out, depth, f"x = f{index}(x)", index)
        elif kind == "filter":
            _write_skippable(out, depth, f"if not f{index}(x):\ncontinue", index)
        else:
            _write_skippable(out, depth, f"results{index} = f{index}(x)", index)
            out.add(depth, "try:")
            out.add(depth + 1, f"for x in results{index}:", index)
            closers.append(depth)
            depth += 2
    out.add(depth, "yield x")
    for closer in reversed(closers):
        out.add(closer, "except Skip:")
        out.add(closer + 1, "continue")
    if processors:
        out.add(1, "except BaseException as error:")
        out.add(2, "teardown(ready, error)")
        out.add(2, "raise")
        out.add(1, "teardown(ready, None)")
    filename = f"<paipa fused loop: {' | '.join(kinds)}>"
    text = "\n".join(out.source) + "\n"
    namespace: dict[str, Any] = {}
    exec(compile(text, filename, "exec"), namespace)
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    return FusedLoop(namespace["fused"], out.lines)
