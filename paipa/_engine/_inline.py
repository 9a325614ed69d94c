"""Run a plan in the caller's thread as plain nested generators.

Iterator steps are called as ``step(upstream)``, exactly as one would nest
generators by hand; consecutive item steps run in one generated loop (see
`_fused`). Nothing is added per item: iterators without a Python frame
(builtin ``map`` objects, itertools helpers) are placed by the code they call
(`_blame`); only those calling builtins get a thin guard.

What a plan needs for every run (the sites of its steps, the fused loops) is
worked out at its first run and kept with it (`_program`), so a run of a few
items costs little more than nesting its generators by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from types import GeneratorType
from typing import Any, TypeVar

from .._plan import Plan, Segment
from .._source import Source
from .._step import Processor, Skip
from ._blame import Blame, Frameless, Site, Tail, add_note, describe, guard, log_unraisable, note
from ._channel import Cancelled
from ._context import RunContext
from ._fused import FusedLoop, fused_loop
from ._lifecycle import SourceWatch, reraise, watched
from ._policy import Policies
from ._recorder import Recorder
from ._scope import scope

__all__ = ["InlineRun", "is_inert", "running", "teardown"]

T = TypeVar("T")

# Iterators over builtin containers cannot raise on their own: no guard needed.
_EMPTY: dict[object, object] = {}
_CONTAINERS: tuple[Iterable[object], ...] = (
    *([], (), range(0), "", b"", bytearray(), set[object]()),
    *(_EMPTY, _EMPTY.values(), _EMPTY.items()),
)
_INERT: frozenset[type] = frozenset(type(iter(container)) for container in _CONTAINERS)

_GENERATOR: type[Any] = GeneratorType
"""Compared as ``type(x) is _GENERATOR``: the test costs nothing and narrows to nothing."""


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


class _Fused:
    """A fused segment as every run opens it: its loop, sites, and functions if plain."""

    __slots__ = ("by_line", "loop", "plain", "segment", "sites")

    def __init__(self, segment: Segment, total: int) -> None:
        self.segment = segment
        members = segment.steps
        self.sites = tuple(
            Site(member.name, segment.first + index, total, member.kind)
            for index, member in enumerate(members)
        )
        self.loop: FusedLoop = fused_loop(tuple(member.kind for member in members))
        self.by_line = {
            line: self.sites[index].at_phase(phase)
            for line, (index, phase) in self.loop.lines.items()
        }
        plain = all(
            member.kind != "process" and not member.retries and member.on_error == "raise"
            for member in members
        )
        self.plain = tuple(member.function for member in members) if plain else None
        """The step functions, when none needs an instance or an error policy per run."""

    def open(
        self, upstream: Iterator[Any], blame: Blame, context: RunContext | None, guard_all: bool
    ) -> Iterator[Any]:
        """Start the loop over `upstream` (a fused loop always has a frame of its own)."""
        functions = self.plain
        if functions is None:
            policies = Policies() if context is None else context.policies
            functions = tuple(self._functions(policies))
        iterator = self.loop.function(upstream, Skip, teardown, self.sites, *functions)
        blame.register(iterator, self.by_line)
        return iterator

    def _functions(self, policies: Policies) -> Iterator[Any]:
        for member, site in zip(self.segment.steps, self.sites, strict=True):
            if member.kind != "process":
                yield policies.wrap(member, site.position, member.function)
                continue
            try:
                processor = member.function()
            except BaseException as error:
                add_note(error, site)
                raise
            yield policies.wrap_processor(member, site.position, processor)


class _Nested:
    """A nested segment: one iterator step, called with the iterator before it."""

    __slots__ = ("function", "name", "site")

    def __init__(self, segment: Segment, total: int) -> None:
        member = segment.steps[0]
        self.function: Callable[[Iterator[Any]], Any] = member.function
        self.name = member.name
        self.site = Site(member.name, segment.first, total, member.kind)

    def open(
        self, upstream: Iterator[Any], blame: Blame, context: RunContext | None, guard_all: bool
    ) -> Iterator[Any]:
        """Call the step with `upstream`; place its iterator (`guard_all`: with a frame)."""
        try:
            result = self.function(upstream)
        except BaseException as error:
            blame.annotate(error, self.site)
            raise
        return self.place(result, upstream, blame, guard_all)

    def place(
        self, result: Any, upstream: Iterator[Any], blame: Blame, guard_all: bool
    ) -> Iterator[Any]:
        """Return the iterator of what the step returned, registered with `blame`."""
        if type(result) is _GENERATOR:  # the usual case, first
            blame.register_step(result, self.site)
            generator: Iterator[Any] = result
            return generator
        try:
            iterator: Iterator[Any] = iter(result)
        except TypeError:
            raise TypeError(
                f"step {self.name!r} returned {result!r} ({type(result).__name__}), "
                "expected an iterable"
            ) from None
        return _placed(iterator, upstream, blame, self.site, guard_all)


class _Program:
    """What every run of one plan opens, in order (`_Fused` and `_Nested` segments)."""

    __slots__ = ("segments",)

    def __init__(self, plan: Plan) -> None:
        total = plan.step_count
        self.segments = tuple(
            (
                segment.positions[-1],
                _Fused(segment, total) if segment.kind == "fused" else _Nested(segment, total),
            )
            for stage in plan.stages
            for segment in stage.segments
        )


def _program(plan: Plan) -> _Program:
    program: _Program | None = plan.prepared.get("inline")
    if program is None:
        program = plan.prepared["inline"] = _Program(plan)
    return program


def _placed(
    iterator: Iterator[Any],
    upstream: Iterator[Any] | None,
    blame: Blame,
    site: Site,
    guard_all: bool,
) -> Iterator[Any]:
    """Return `iterator` registered for `site`; guard it if its errors cannot be placed."""
    if iterator is upstream or type(iterator) in _INERT:
        return iterator
    if type(iterator) is _GENERATOR:
        blame.register_step(iterator, site)
        return iterator
    if not guard_all and blame.frameless(iterator, upstream, site) is not None:
        return iterator
    placed = guard(iterator)
    blame.register(placed, site, Frameless(site, (), guarded=True))
    return placed


def _open_source(source: Source, blame: Blame, guard_all: bool) -> Iterator[Any]:
    try:
        iterator = source.open()
    except BaseException as error:
        if source.kind in ("iterable", "factory"):  # user code: __iter__, or the factory
            blame.annotate(error, Site(source.name, 0, 0))
        raise
    if type(iterator) in _INERT:
        return iterator
    return _placed(iterator, None, blame, Site(source.name, 0, 0), guard_all)


def _close(opened: list[Any], error: BaseException | None) -> None:
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


class InlineRun:
    """One run of a plan in this thread, open: its `outputs`, and `end` to close it.

    Opening runs the steps' functions (not their bodies: generators start when
    read); an error while opening leaves with the step's note and closes what
    was opened. Whoever reads `outputs` must call `end` exactly once, with the
    exception that stopped the reading, if one did.
    """

    __slots__ = ("_blame", "_opened", "_recorder", "outputs")

    def __init__(
        self,
        plan: Plan,
        source: Source | Iterator[Any],
        context: RunContext | None = None,
        worker: tuple[int, int] | None = None,
        watch: SourceWatch | None = None,
    ) -> None:
        """Open one run of `plan` over `source` (see `running`)."""
        self._blame = blame = Blame(worker)
        self._opened: list[Any] = []
        """The iterators to close at the end (typed Any: a generator's ``close``)."""
        recorder = self._recorder = None if context is None else context.recorder
        try:
            if recorder is None and watch is None and type(source) is Source:
                self.outputs = self._open_plain(plan, source, context)
            else:
                if recorder is not None:
                    recorder.watch(blame)
                self.outputs = self._open(plan, source, context, watch, recorder)
        except BaseException as error:
            self.end(error, "no")
            raise

    def _open_plain(self, plan: Plan, source: Source, context: RunContext | None) -> Iterator[Any]:
        """Open the usual run, as fast as can be: no debugger, no source watch."""
        blame, opened = self._blame, self._opened
        frames = blame.frames
        iterator: Iterator[Any]
        if source.kind == "iterable":
            try:
                iterator = iter(source.value)
            except BaseException as error:
                blame.annotate(error, Site(source.name, 0, 0))  # the source's __iter__
                raise
            if type(iterator) not in _INERT:
                iterator = _placed(iterator, None, blame, Site(source.name, 0, 0), False)
                opened.append(iterator)
        else:
            iterator = _open_source(source, blame, False)
            if type(iterator) not in _INERT:
                opened.append(iterator)
        for _, segment in _program(plan).segments:
            if type(segment) is _Nested:  # inlined `_Nested.open`: a few steps run often
                try:
                    result = segment.function(iterator)
                except BaseException as error:
                    blame.annotate(error, segment.site)
                    raise
                if type(result) is _GENERATOR and blame.pending is None:
                    frames[result.gi_frame] = segment.site
                    iterator = result
                else:
                    iterator = segment.place(result, iterator, blame, False)
            else:
                iterator = segment.open(iterator, blame, context, False)
            opened.append(iterator)
        return iterator

    def _open(
        self,
        plan: Plan,
        source: Source | Iterator[Any],
        context: RunContext | None,
        watch: SourceWatch | None,
        recorder: Recorder | None,
    ) -> Iterator[Any]:
        blame, opened = self._blame, self._opened
        guard_all = recorder is not None  # the debugger samples steps by their frames
        if isinstance(source, Source):
            iterator = _open_source(source, blame, guard_all)
            position: int | None = 0
            if watch is not None and plan.stages and not is_inert(iterator):
                opened.append(iterator)
                iterator = watched(iterator, watch)
        else:
            iterator, position = source, None  # a channel or feed: time here is waiting
        opened.append(iterator)
        segments = _program(plan).segments
        if recorder is None:
            for _, segment in segments:
                iterator = segment.open(iterator, blame, context, False)
                opened.append(iterator)
            return iterator
        inert = position == 0 and is_inert(iterator)
        iterator, boundary = recorder.measure(position, iterator, None, inert)
        opened.append(iterator)
        for last, segment in segments:
            iterator = segment.open(iterator, blame, context, True)
            opened.append(iterator)
            iterator, boundary = recorder.measure(last, iterator, boundary)
            opened.append(iterator)
        return iterator

    def end(self, error: BaseException | None, tail: Tail = "yes") -> None:
        """Close the run, downstream first; note on `error` which step raised it.

        `tail` says whether `error` came from reading the outputs alone (see
        `Blame.site_of`).
        """
        if error is None and self._recorder is None:  # the usual end, kept short
            for iterator in reversed(self._opened):
                if type(iterator) is _GENERATOR:
                    iterator.close()
                else:
                    _close([iterator], None)
            return
        try:
            if error is not None and not isinstance(error, GeneratorExit):
                self._blame.annotate(error, None, tail)
            _close(self._opened, error)
        finally:
            if self._recorder is not None:
                self._recorder.unwatch()


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
    run = InlineRun(plan, source, context, worker, watch)
    try:
        yield run.outputs
    except BaseException as error:
        run.end(error, "by frames")  # the block does more than read: only frames tell
        raise
    run.end(None)
