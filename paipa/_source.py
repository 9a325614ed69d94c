"""Sources: what a pipeline reads from, opened afresh for every run."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

from ._checks import is_iterable
from ._step import describe_callable

__all__ = ["FEED", "Source"]

SourceKind = Literal["iterable", "iterator", "factory", "feed", "queue"]

FEED: Any = object()
"""Stands for "no source": the pipeline is fed while it runs in the background."""


class Source:
    """A pipeline's input, checked when it is given and opened once per run.

    - an iterable that is not its own iterator (a list, a range): re-runnable;
    - a one-shot iterator (a generator, a file, a cursor): one run only, a
      second run raises `RuntimeError` instead of silently yielding nothing;
    - a zero-argument callable: called at every run for a fresh iterable;
    - nothing (`FEED`), or a `queue.Queue`: fed while running in the background
      (``Pipeline.start()``, then ``put``), see `paipa.BackgroundRun`.
    """

    __slots__ = ("_lock", "_taken", "kind", "name", "value")

    def __init__(self, value: object) -> None:
        if value is FEED:
            kind: SourceKind = "feed"
            name = "fed while running"
        elif isinstance(value, queue.Queue):
            kind = "queue"
            name = "a queue.Queue"
        elif is_iterable(value):
            kind = "iterator" if isinstance(value, Iterator) else "iterable"
            name = type(value).__name__
            if kind == "iterator":
                name = str(getattr(value, "__name__", name))
        elif callable(value):
            kind = "factory"
            name = describe_callable(value)
        else:
            raise TypeError(
                f"a pipeline source must be an iterable or a zero-argument callable "
                f"returning one, got {value!r} ({type(value).__name__})"
            )
        self.value: Any = value
        self.kind: SourceKind = kind
        self.name: str = name
        self._taken = False
        self._lock = threading.Lock()

    def open(self) -> Iterator[Any]:
        """Return the iterator for one run (calling a factory source)."""
        if self.kind == "iterable":
            return iter(self.value)
        if self.kind in ("feed", "queue"):
            raise TypeError(
                f"this pipeline is {'fed' if self.kind == 'feed' else 'read from a queue'} "
                "while it runs: start it with pipeline.start() and give it items with "
                "put() / put_all(), then finish()"
            )
        if self.kind == "iterator":
            with self._lock:
                if self._taken:
                    raise RuntimeError(
                        f"the source {self.value!r} is a one-shot iterator and an earlier run "
                        "used it up; pass a zero-argument callable that returns a fresh "
                        "iterator, e.g. Pipeline(lambda: ...), to run a pipeline more than once"
                    )
                self._taken = True
            iterator: Iterator[Any] = self.value
            return iterator
        factory: Callable[[], object] = self.value
        produced = factory()
        if not is_iterable(produced):
            raise TypeError(
                f"the source {self.name!r} returned {produced!r} "
                f"({type(produced).__name__}), expected an iterable"
            )
        return iter(produced)

    def __repr__(self) -> str:
        return f"<paipa source {self.kind} {self.name!r}>"
