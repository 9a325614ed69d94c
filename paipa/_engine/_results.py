"""The three ways to read a run's results, over either engine."""

from __future__ import annotations

import itertools
import operator
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from .._plan import Plan
from .._source import Source
from . import _inline, _threads
from ._control import Control
from ._policy import Policies

__all__ = ["collect", "count", "iterate", "running"]


def running(
    plan: Plan,
    source: Source | Iterator[Any],
    policies: Policies | None = None,
    control: Control | None = None,
) -> AbstractContextManager[Iterator[Any]]:
    """Open one run of `plan` with the engine it needs (threads only if a step has workers)."""
    if plan.threaded:
        return _threads.running(plan, source, policies, control)
    return _inline.running(plan, source, policies)


def iterate(plan: Plan, source: Source | Iterator[Any]) -> Iterator[Any]:
    """Yield the results of one run, streaming."""
    with running(plan, source) as results:
        yield from results


def collect(plan: Plan, source: Source | Iterator[Any]) -> list[Any]:
    """Return the results of one run as a list."""
    with running(plan, source) as results:
        return list(results)


def count(plan: Plan, source: Source | Iterator[Any], policies: Policies | None = None) -> int:
    """Run to the end, dropping the results; return how many there were."""
    with running(plan, source, policies) as results:
        # zip pulls `results` first, so `remaining` only advances per real item;
        # repeat() hands out None without allocating, unlike itertools.count().
        remaining = itertools.repeat(None, sys.maxsize)
        deque(zip(results, remaining, strict=False), maxlen=0)
        return sys.maxsize - operator.length_hint(remaining)
