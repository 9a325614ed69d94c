"""paipa 0.3's debugger module, under its old import path.

`PipelineRuntimeDebugger` is paipa's own (``paipa.PipelineRuntimeDebugger``):
it takes 0.3's reporters and ``call_counter`` too. `Debugger` is 0.3's base
for debuggers of one's own: ``combine_pipeline`` wires its ``head``,
``track`` (around each step's input), ``tail`` and ``report`` as 0.3 did.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._debug._debugger import PipelineRuntimeDebugger

__all__ = ["Debugger", "PipelineRuntimeDebugger"]


class Debugger:
    """Base of paipa 0.3's debuggers: wraps the source, each step's input and the result."""

    def head(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Wrap the source; by default return it as it is."""
        return iterator

    def tail(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Wrap the whole pipeline's output; by default return it as it is."""
        return iterator

    def report(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Wrap the result once more (after `tail`); by default return it as it is."""
        return iterator

    def do_track(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Wrap one step's input; subclasses write it."""
        raise NotImplementedError

    def track(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Wrap `iterator` with `do_track`, unless it is already so wrapped."""
        if getattr(iterator, "__name__", None) == "do_track":
            return iterator
        return self.do_track(iterator)
