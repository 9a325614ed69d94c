"""The seed library's coroutine API: ``combine_pipeline`` over lists of steps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from types import FrameType, FunctionType, GeneratorType
from typing import Any, cast, overload

from ._checks import is_iterable
from ._debug._debugger import PipelineRuntimeDebugger
from ._engine._blame import Site, add_note
from ._engine._context import RunContext
from ._engine._recorder import Recorder
from ._pipeline import Pipeline, to_steps
from ._source import Source
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
    if is_iterable(source):
        combined: Iterator[Any] = _combine(source, members, debugger)
        return combined
    if not callable(source):
        raise TypeError(
            f"combine_pipeline() needs an iterable or a callable source, got {source!r}"
        )
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
    nested: Any = hooks.head(source)
    for member in members:
        nested = _apply(member, hooks.track(nested))
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


def _apply(member: Member, upstream: Any) -> Any:
    """Return what `member` makes of `upstream`: its call, or a run of paipa's engine."""
    if isinstance(member, FunctionType):
        return member(upstream)
    if member.kind == "iterator" and member.workers is None:
        return member.function(upstream)
    return iter(Pipeline(upstream) | member)


def _as_step(member: Member) -> Step[Any, Any]:
    return member if isinstance(member, Step) else as_step(member)


def _name_step(error: BaseException, members: list[Member], position: int) -> None:
    """Note on `error` that it was raised in the step at `position` (from 1)."""
    step = _as_step(members[position - 1])
    add_note(error, Site(step.name, position, len(members), step.kind))


def _nested(source: Any, members: list[Member]) -> Any:
    """Call each step on the previous result; note a step's errors with its name."""
    result: Any = source
    frames: dict[FrameType | None, int] = {}  # the frames of the generators steps returned
    for position, member in enumerate(members, 1):
        try:
            output: Any = _apply(member, result)
        except BaseException as error:
            _name_step(error, members, position)
            raise
        if output is not result and _is_a(output, GeneratorType):
            frames[output.gi_frame] = position
        result = output
    if result is source or not _is_a(result, Iterator):
        return result  # the source itself, or a step's list: returned as they are, as in 0.3
    return _noted(result, members, frames)


def _is_a(value: object, kind: type) -> bool:
    """``isinstance``, without narrowing a value typed ``Any`` to a generic type."""
    return isinstance(value, kind)


def _noted(
    iterator: Iterator[Any], members: list[Member], frames: dict[FrameType | None, int]
) -> Iterator[Any]:
    """Yield from `iterator` (``send`` and ``close`` pass through); name the failing step."""
    try:
        yield from iterator
    except Exception as error:
        position = None
        traceback = error.__traceback__
        while traceback is not None:  # the innermost frame of a step's generator wins
            position = frames.get(traceback.tb_frame, position)
            traceback = traceback.tb_next
        if position is not None:
            _name_step(error, members, position)
        raise


def _debugged(
    source: Any, members: list[Member], debugger: PipelineRuntimeDebugger
) -> Iterator[Any]:
    """Nest as `_nested` does, each step measured; a step returning its input gets no line."""
    tracked = _Tracked(source)
    current = tracked.output(0)
    for position, member in enumerate(members, 1):
        try:
            output = _apply(member, current)
        except BaseException as error:
            _name_step(error, members, position)
            raise
        if output is current:  # it did nothing: not a step of its own in the report
            continue
        current = tracked.add(_as_step(member), output)
    return tracked.observed(debugger)


class _Tracked:
    """The outputs of a debugged `combine_pipeline`: measured once the run starts."""

    def __init__(self, source: Any) -> None:
        self._source = Source(source)
        self._members: list[Step[Any, Any]] = []
        self._raw: list[Any] = [source]
        self._measured: list[Iterator[Any]] = []
        self._counter: Any = None

    def add(self, member: Step[Any, Any], output: Any) -> Iterator[Any]:
        """Record `output` as the next step's; return its measured stand-in."""
        self._members.append(member)
        self._raw.append(output)
        return self.output(len(self._raw) - 1)

    def output(self, position: int) -> Iterator[Any]:
        """Yield the measured output at `position`, once the run has started."""
        yield from self._measured[position]

    def observed(self, debugger: PipelineRuntimeDebugger) -> Iterator[Any]:
        """Measure the whole run, reporting to `debugger`'s reporters as it goes."""
        total = len(self._source.value) if isinstance(self._source.value, Sized) else None
        recorder = Recorder(self._members, (self._source.name, total), {})
        counter = debugger.call_counter
        with debugger._observe(recorder, RunContext()):  # pyright: ignore[reportPrivateUsage]
            boundary = None
            for position, raw in enumerate(self._raw):
                items, boundary = recorder.measure(position, iter(raw), boundary)
                if counter is not None:
                    items = _counting_calls(items, counter, recorder, position)
                self._measured.append(items)
            yield from self.output(len(self._raw) - 1)


def _counting_calls(
    items: Iterator[Any], counter: Any, recorder: Recorder, position: int
) -> Iterator[Any]:
    """Yield `items`, adding the calls `counter.pop()` reports after each to the step's tally."""
    for item in items:
        recorder.tally("queries", int(counter.pop() or 0), position)
        yield item
