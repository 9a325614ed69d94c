"""The three ways to read a run's results, over either engine.

A run with threads has a `Lifecycle`, which its threads, its channels and the
caller reading its outputs share. A run in the caller's thread needs none:
nothing but the caller can reach it, it cannot be cancelled from elsewhere,
and it has ended when the call reading it returns; it is an `InlineRun`,
opened and ended here around the reading.
"""

from __future__ import annotations

import itertools
import operator
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .._plan import Plan
from .._source import Source
from . import _threads
from ._context import RunContext
from ._inline import InlineRun
from ._lifecycle import Lifecycle

__all__ = ["collect", "count", "iterate"]

T = TypeVar("T")


def _threaded(plan: Plan, source: Source | Iterator[Any], context: RunContext | None) -> Any:
    return _threads.running(plan, source, context or RunContext(), Lifecycle())


def iterate(
    plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None
) -> Iterator[Any]:
    """Yield the results of one run, streaming."""
    if plan.threaded:
        with _threaded(plan, source, context) as results:
            yield from results
        return
    run = InlineRun(plan, source, context)
    try:
        yield from run.outputs
    except BaseException as error:  # GeneratorExit too: the consumer stopped reading
        run.end(error)
        raise
    run.end(None)


def collect(
    plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None
) -> list[Any]:
    """Return the results of one run as a list."""
    return _read(plan, source, context, list)


def count(plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None) -> int:
    """Run to the end, dropping the results; return how many there were."""
    return _read(plan, source, context, _drain)


def _read(
    plan: Plan,
    source: Source | Iterator[Any],
    context: RunContext | None,
    read: Callable[[Iterator[Any]], T],
) -> T:
    """Run `plan` over `source` and return what `read` makes of the outputs."""
    if plan.threaded:
        with _threaded(plan, source, context) as results:
            return read(results)
    run = InlineRun(plan, source, context)
    try:
        result = read(run.outputs)
    except BaseException as error:
        run.end(error)
        raise
    run.end(None)
    return result


def _drain(results: Iterator[Any]) -> int:
    # zip pulls `results` first, so `remaining` only advances per real item;
    # repeat() hands out None without allocating, unlike itertools.count().
    remaining = itertools.repeat(None, sys.maxsize)
    deque(zip(results, remaining, strict=False), maxlen=0)
    return sys.maxsize - operator.length_hint(remaining)
