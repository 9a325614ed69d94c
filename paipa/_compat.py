"""The seed library's coroutine API: ``combine_pipeline`` over lists of steps."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sized
from types import FrameType, FunctionType, GeneratorType
from typing import Any, cast, overload

from ._checks import is_iterable
from ._debug._debugger import PipelineRuntimeDebugger
from ._debug._stats import Snapshot
from ._engine._blame import RAISED_IN, Site, add_note
from ._engine._context import RunContext
from ._engine._inline import is_inert
from ._engine._recorder import Boundary, Recorder
from ._pipeline import Pipeline, to_steps
from ._step import Step, as_step

__all__ = ["combine_pipeline"]


@overload
def combine_pipeline(
    source: Iterable[Any], steps: Iterable[Any], debugger: PipelineRuntimeDebugger | None = None
) -> Iterator[Any]: ...
@overload
def combine_pipeline(
    source: Callable[..., Iterable[Any]],
    steps: Iterable[Any],
    debugger: PipelineRuntimeDebugger | None = None,
) -> Callable[..., Iterator[Any]]: ...
def combine_pipeline(
    source: Iterable[Any] | Callable[..., Iterable[Any]],
    steps: Iterable[Any],
    debugger: PipelineRuntimeDebugger | None = None,
) -> Iterator[Any] | Callable[..., Iterator[Any]]:
    """Nest `steps` around `source`, as paipa 0.3 did, and return the outermost iterator.

    `steps` is a list (nested lists are flattened) of functions taking an
    iterator, objects with a ``process(iterator)`` method, or any other step
    `Pipeline` accepts. The first step gets `source` itself and each step the
    previous one's result; the steps are called now, in order. When `source`
    is a callable rather than an iterable, the result is a function: its
    arguments are passed to `source`, and each call nests the steps afresh.
    An error from a step gets a note naming it.

    ```pycon
    >>> import paipa
    >>> def remove_odd(numbers):
    ...     return (n for n in numbers if n % 2 == 0)
    >>> sum(paipa.combine_pipeline(range(100), [remove_odd]))
    2450

    ```
    """
    if not is_iterable(steps) or isinstance(steps, (str, bytes)):
        raise TypeError(f"combine_pipeline() takes a list of steps, got {steps!r}")
    members = _members(steps)
    hooks = cast("object", debugger)
    if not (hooks is None or isinstance(hooks, PipelineRuntimeDebugger) or _is_legacy(hooks)):
        raise TypeError(
            "debugger must be a paipa.PipelineRuntimeDebugger (or an object with "
            f"{', '.join(_DEBUGGER_HOOKS)} methods, as in paipa 0.3), got {debugger!r}"
        )
    if not callable(source):  # as in 0.3: a callable source makes a function, else nest now
        combined: Iterator[Any] = _combine(source, members, debugger)
        return combined
    produce = source

    def run_pipeline(*args: Any, **kwargs: Any) -> Iterator[Any]:
        combined: Iterator[Any] = _combine(produce(*args, **kwargs), members, debugger)
        return combined

    return run_pipeline


_DEBUGGER_HOOKS = ("head", "tail", "track", "report")
"""A paipa 0.3 debugger's methods: `combine_pipeline` wires them as 0.3 did."""


def _is_legacy(debugger: object) -> bool:
    return all(callable(getattr(debugger, name, None)) for name in _DEBUGGER_HOOKS)


def _combine(source: Any, members: list[Member], debugger: object) -> Any:
    if debugger is None:
        return _nested(source, members)
    if isinstance(debugger, PipelineRuntimeDebugger):
        return _debugged(source, members, debugger)
    hooks: Any = debugger
    places = _Places(source, members)
    nested: Any = hooks.head(source)
    for member in members:
        nested = _apply(member, hooks.track(nested), places)
    return hooks.report(hooks.tail(hooks.track(nested)))


Member = Step[Any, Any] | FunctionType
"""A step of `combine_pipeline`: a plain function is kept as it is and called as 0.3 did."""


def _members(steps: Iterable[Any]) -> list[Member]:
    """Flatten `steps`; keep plain functions, make everything else a `Step` (checking it)."""
    members: list[Member] = []
    for value in steps:
        if type(value) is FunctionType and not hasattr(value, "step_options"):
            members.append(value)
        elif isinstance(value, (list, tuple)):
            members.extend(_members(cast("Iterable[Any]", value)))
        else:
            members.extend(to_steps(value))
    return members


def _apply(member: Member, upstream: Any, places: _Places) -> Any:
    """Return what `member` makes of `upstream`: its call, or a run of paipa's engine."""
    if isinstance(member, FunctionType):
        return member(upstream)
    if member.kind == "iterator" and member.workers is None:
        return member.function(upstream)
    places.engine = True
    return iter(Pipeline(upstream) | member)


def _as_step(member: Member) -> Step[Any, Any]:
    return member if isinstance(member, Step) else as_step(member)


class _Places:
    """Which step each generator of a nested pipeline runs, to name the step an error came from.

    A step's output that is a generator is known by its frame; one that is an
    iterator without a frame of its own (``map``, itertools) is handed on
    inside a one-line generator, whose frame stands for it. Reading a list or
    a range cannot fail: those are handed on as they are.
    """

    def __init__(self, source: Any, members: list[Member]) -> None:
        self.source = source
        self.members = members
        self.frames: dict[FrameType | None, int] = {}
        self.generators: list[Any] = []
        self.engine = False
        """Whether a step ran on paipa's engine (whose notes number its own steps)."""

    def place(self, output: Any, position: int) -> Any:
        """Return `output` (or its stand-in) known as the output of the step at `position`."""
        if _is_a(output, GeneratorType):
            self.frames[output.gi_frame] = position
            self.generators.append(output)
            return output
        if _is_a(output, Iterator) and not is_inert(output):
            guarded: Any = _guarded(output)
            self.frames[guarded.gi_frame] = position
            self.generators.append(guarded)
            return guarded
        return output

    def close(self) -> None:
        """Close the steps' generators, the last first, so their ``finally`` blocks run now."""
        for generator in reversed(self.generators):
            generator.close()

    def name(self, error: BaseException, fallback: int | None = None) -> None:
        """Note on `error` the step it came from, found in its traceback, else `fallback`."""
        position = None
        traceback = error.__traceback__
        while traceback is not None:  # the innermost frame of a step's generator wins
            found = self.frames.get(traceback.tb_frame)
            position = position if found is None else found
            traceback = traceback.tb_next
        if position is None:
            position = fallback
        if position is None:
            return
        if self.engine:  # an engine run in between numbered its steps its own way
            notes: list[str] = getattr(error, "__notes__", [])
            notes[:] = [text for text in notes if not text.startswith(RAISED_IN)]
        if position == 0:
            name = str(getattr(self.source, "__name__", type(self.source).__name__))
            add_note(error, Site(name, 0, 0))
            return
        step = _as_step(self.members[position - 1])
        add_note(error, Site(step.name, position, len(self.members), step.kind))


def _guarded(iterator: Iterator[Any]) -> Iterator[Any]:
    yield from iterator


def _is_a(value: object, kind: type) -> bool:
    """``isinstance``, without narrowing a value typed ``Any`` to a generic type."""
    return isinstance(value, kind)


def _nested(source: Any, members: list[Member]) -> Any:
    """Call each step on the previous result; note a step's errors with its name."""
    if not members:
        return source
    places = _Places(source, members)
    result: Any = places.place(source, 0)
    for position, member in enumerate(members, 1):
        try:
            output: Any = _apply(member, result, places)
        except BaseException as error:
            places.name(error, fallback=position)  # it may have read its input already
            raise
        if output is not result:
            result = places.place(output, position)
    if result is source or not _is_a(result, Iterator):
        return result  # the source itself, or a step's list: returned as they are, as in 0.3
    return _noted(result, places)


def _noted(iterator: Iterator[Any], places: _Places) -> Iterator[Any]:
    """Yield from `iterator` (``send`` and ``close`` pass through); name the failing step."""
    try:
        yield from iterator
    except Exception as error:
        places.name(error)
        raise
    finally:
        places.close()


def _debugged(
    source: Any, members: list[Member], debugger: PipelineRuntimeDebugger
) -> Iterator[Any]:
    """Nest as `_nested` does, each step measured; a step returning its input gets no line.

    The steps are measured from the start, also those that read their input
    when called; the reporting starts when the result is first read.
    """
    name = str(getattr(source, "__name__", type(source).__name__))
    total = len(source) if isinstance(source, Sized) else None
    recorder = _Recorder([_as_step(member) for member in members], (name, total), {})
    counter = debugger.call_counter
    places = _Places(source, members)

    def measured(items: Any, position: int, upstream: Boundary | None) -> tuple[Any, Boundary]:
        iterator, boundary = recorder.measure(position, _lazily(items), upstream)
        if counter is not None:
            iterator = _counting_calls(iterator, counter, recorder, position)
        return iterator, boundary

    current, boundary = measured(places.place(source, 0), 0, None)
    for position, member in enumerate(members, 1):
        try:
            output = _apply(member, current, places)
        except BaseException as error:
            places.name(error, fallback=position)
            raise
        if output is current:  # it did nothing: not a step of its own in the report
            recorder.skipped.add(position)
            continue
        current, boundary = measured(places.place(output, position), position, boundary)
    return _observed(current, recorder, debugger, places)


def _lazily(items: Any) -> Iterator[Any]:
    """Yield the items of `items`, calling ``iter()`` only when the first is asked for."""
    yield from items


class _Recorder(Recorder):
    """A `Recorder` whose reports leave out the steps that returned their input unchanged."""

    def __init__(
        self, steps: list[Step[Any, Any]], source: tuple[str, int | None], counts: dict[int, Any]
    ) -> None:
        super().__init__(steps, source, counts)
        self.skipped: set[int] = set()

    def snapshot(self, final: bool = False, failed: bool = False) -> Snapshot:
        """Return the figures so far, without the skipped steps."""
        snapshot = super().snapshot(final, failed)
        kept = tuple(step for step in snapshot.steps if step.position not in self.skipped)
        return dataclasses.replace(snapshot, steps=kept)


def _observed(
    items: Iterator[Any], recorder: Recorder, debugger: PipelineRuntimeDebugger, places: _Places
) -> Iterator[Any]:
    """Yield `items`, reporting to `debugger`'s reporters as they come (``send`` is ignored)."""
    try:
        with debugger._observe(recorder, RunContext()):  # pyright: ignore[reportPrivateUsage]
            for item in items:  # noqa: UP028 (a value sent in is ignored, as in 0.3)
                yield item
    except Exception as error:
        places.name(error)
        raise
    finally:
        places.close()


def _counting_calls(
    items: Iterator[Any], counter: Any, recorder: Recorder, position: int
) -> Iterator[Any]:
    """Yield `items`, adding the calls `counter.pop()` reports after each to the step's tally."""
    for item in items:
        recorder.tally("queries", int(counter.pop() or 0), position)
        yield item
