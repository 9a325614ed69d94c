"""The three ways to read a run's results, over either engine, each with one lifecycle."""

from __future__ import annotations

import itertools
import operator
import sys
from collections import deque
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager
from typing import Any

from .._plan import Plan
from .._source import Source
from . import _inline
from ._context import RunContext
from ._lifecycle import Lifecycle
from ._policy import Policies
from ._scope import scope

__all__ = ["collect", "count", "iterate", "running"]


def running(
    plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None
) -> AbstractContextManager[Iterator[Any]]:
    """Open one run of `plan` with the engine it needs (threads only if a step has workers)."""
    if context is None:
        context = RunContext()
    if plan.threaded:
        from . import _threads  # imported with the first threaded run, not with paipa

        return _threads.running(plan, source, context, Lifecycle())
    return _inline_run(plan, source, context, Lifecycle())


@scope
def _inline_run(
    plan: Plan, source: Source | Iterator[Any], context: RunContext, lifecycle: Lifecycle
) -> Generator[Iterator[Any], None, None]:
    """One run in the caller's thread: its lifecycle has no threads and nothing to wake."""
    lifecycle.started()
    policies = Policies(context.policies.counts, lifecycle.pause)
    try:
        with _inline.running(plan, source, RunContext(policies, context.recorder)) as results:
            yield results
    except GeneratorExit:
        lifecycle.cancel("the consumer stopped reading")
        raise
    except BaseException as error:
        lifecycle.fail(error)
        raise
    finally:
        lifecycle.release()


def iterate(
    plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None
) -> Iterator[Any]:
    """Yield the results of one run, streaming."""
    with running(plan, source, context) as results:
        yield from results


def collect(
    plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None
) -> list[Any]:
    """Return the results of one run as a list."""
    with running(plan, source, context) as results:
        return list(results)


def count(plan: Plan, source: Source | Iterator[Any], context: RunContext | None = None) -> int:
    """Run to the end, dropping the results; return how many there were."""
    with running(plan, source, context) as results:
        # zip pulls `results` first, so `remaining` only advances per real item;
        # repeat() hands out None without allocating, unlike itertools.count().
        remaining = itertools.repeat(None, sys.maxsize)
        deque(zip(results, remaining, strict=False), maxlen=0)
        return sys.maxsize - operator.length_hint(remaining)
