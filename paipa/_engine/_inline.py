"""Run a plan in the caller's thread as plain nested generators.

Iterator steps are called as ``step(upstream)``, exactly as one would nest
generators by hand; consecutive item steps run in one generated loop (see
`_fused`). Nothing is added per item, except a thin guard around iterators
that have no Python frame to place their errors by (builtin ``map`` objects,
itertools helpers).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from .._plan import Plan, Segment
from .._source import Source
from .._step import Processor, Skip
from ._blame import Blame, Site, add_note, describe, guard, log_unraisable, note
from ._channel import Cancelled
from ._context import RunContext
from ._fused import fused_loop
from ._lifecycle import SourceWatch, reraise, watched
from ._policy import Policies
from ._scope import scope

__all__ = ["is_inert", "running", "teardown"]

T = TypeVar("T")

# Iterators over builtin containers cannot raise on their own: no guard needed.
_EMPTY: dict[object, object] = {}
_CONTAINERS: tuple[Iterable[object], ...] = (
    *([], (), range(0), "", b"", bytearray(), set[object]()),
    *(_EMPTY, _EMPTY.values(), _EMPTY.items()),
)
_INERT: frozenset[type] = frozenset(type(iter(container)) for container in _CONTAINERS)


def _site(segment: Segment, index: int, total: int) -> Site:
    member = segment.steps[index]
    return Site(member.name, segment.first + index, total, member.kind)


def teardown(ready: list[tuple[Processor[Any, Any], Site]], error: BaseException | None) -> None:
    """Tear down processors last-first; never let a teardown error hide `error`."""
    # Stopping (GeneratorExit) and cancellation are signals, not errors: a teardown
    # error then is raised in their place, rather than noted on them and lost.
    pending = error is not None and not isinstance(error, (GeneratorExit, Cancelled))
    first: BaseException | None = None
    for processor, site in reversed(ready):
        also = f"paipa: teardown() of step {site.name!r} also failed: "
        try:
            processor.teardown()
        except Exception as failure:
            add_note(failure, site.at_phase("teardown"))
            if pending and error is not None:
                note(error, also + describe(failure))
            elif first is None:
                first = failure
            else:
                note(first, also + describe(failure))
    if first is not None:
        if error is not None and first.__context__ is error:
            # The signal that stopped the run (a cancel, the consumer leaving) is
            # paipa's, not part of the user's chain.
            object.__setattr__(first, "__context__", None)
        reraise(first)


def _open_fused(
    segment: Segment, upstream: Iterator[Any], blame: Blame, total: int, policies: Policies
) -> Iterator[Any]:
    sites = tuple(_site(segment, index, total) for index in range(len(segment.steps)))
    functions: list[Any] = []
    for member, site in zip(segment.steps, sites, strict=True):
        if member.kind != "process":
            functions.append(policies.wrap(member, site.position, member.function))
            continue
        try:
            processor = member.function()
        except BaseException as error:
            add_note(error, site)
            raise
        functions.append(policies.wrap_processor(member, site.position, processor))
    loop = fused_loop(tuple(member.kind for member in segment.steps))
    iterator = loop.function(upstream, Skip, teardown, sites, *functions)
    by_line = {line: sites[index].at_phase(phase) for line, (index, phase) in loop.lines.items()}
    blame.register(iterator, by_line)
    return iterator


def _placed(
    iterator: Iterator[Any], upstream: Iterator[Any] | None, blame: Blame, site: Site
) -> Iterator[Any]:
    """Return `iterator` registered for `site`, guarding it if it has no frame."""
    if iterator is upstream or type(iterator) in _INERT:
        return iterator
    placed = iterator if inspect.isgenerator(iterator) else guard(iterator)
    blame.register(placed, site)
    return placed


def _open_nested(
    segment: Segment, upstream: Iterator[Any], blame: Blame, total: int
) -> Iterator[Any]:
    member = segment.steps[0]
    site = _site(segment, 0, total)
    try:
        result = member.function(upstream)
    except BaseException as error:
        blame.annotate(error, site)
        raise
    try:
        iterator = iter(result)
    except TypeError:
        raise TypeError(
            f"step {member.name!r} returned {result!r} ({type(result).__name__}), "
            "expected an iterable"
        ) from None
    return _placed(iterator, upstream, blame, site)


def _open_source(source: Source, blame: Blame) -> Iterator[Any]:
    site = Site(source.name, 0, 0)
    try:
        iterator = source.open()
    except BaseException as error:
        if source.kind in ("iterable", "factory"):  # user code: __iter__, or the factory
            blame.annotate(error, site)
        raise
    return _placed(iterator, None, blame, site)


def _close(opened: list[Iterator[Any]], error: BaseException | None) -> None:
    """Close what a run opened, downstream first, so user ``finally`` blocks run now."""
    for iterator in reversed(opened):
        close: Callable[[], None] | None = getattr(iterator, "close", None)
        if close is None:
            continue
        try:
            close()
        except Exception as failure:
            if error is None:
                raise
            if isinstance(error, GeneratorExit):
                log_unraisable(failure)
            else:
                note(
                    error, f"paipa: closing a step after the error also failed: {describe(failure)}"
                )


def is_inert(iterator: Iterator[Any]) -> bool:
    """Tell whether `iterator` walks a builtin container (it cannot block or raise)."""
    return type(iterator) in _INERT


@scope
def running(
    plan: Plan,
    source: Source | Iterator[Any],
    context: RunContext | None = None,
    worker: tuple[int, int] | None = None,
    watch: SourceWatch | None = None,
) -> Generator[Iterator[Any], None, None]:
    """Open one run of `plan` over `source`; yield its output iterator.

    Exceptions from steps leave with a note naming the step (and `worker`, in
    a threaded stage); on exit every generator the run opened is closed.
    Error policies count into the `context`, and its recorder (when debugging)
    counts every step's outputs and samples this thread. With a `watch` and
    steps after the source, the source (unless an in-memory one) records when
    this thread waits in it; without steps, the caller reading it does that.
    """
    if context is None:
        context = RunContext()
    policies, recorder = context.policies, context.recorder
    blame = Blame(worker)
    opened: list[Iterator[Any]] = []
    failure: BaseException | None = None
    if recorder is not None:
        recorder.watch(blame)
    try:
        if isinstance(source, Source):
            iterator = _open_source(source, blame)
            position: int | None = 0
            if watch is not None and plan.stages and not is_inert(iterator):
                opened.append(iterator)
                iterator = watched(iterator, watch)
        else:
            iterator, position = source, None  # a channel or feed: time here is waiting
        opened.append(iterator)
        boundary = None
        if recorder is not None:
            inert = position == 0 and is_inert(iterator)
            iterator, boundary = recorder.measure(position, iterator, None, inert)
            opened.append(iterator)
        total = plan.step_count
        for stage in plan.stages:
            for segment in stage.segments:
                if segment.kind == "fused":
                    iterator = _open_fused(segment, iterator, blame, total, policies)
                else:
                    iterator = _open_nested(segment, iterator, blame, total)
                opened.append(iterator)
                if recorder is not None:
                    iterator, boundary = recorder.measure(segment.positions[-1], iterator, boundary)
                    opened.append(iterator)
        yield iterator
    except BaseException as error:
        failure = error
        if not isinstance(error, GeneratorExit):
            blame.annotate(error)
        raise
    finally:
        _close(opened, failure)
        if recorder is not None:
            recorder.unwatch()
