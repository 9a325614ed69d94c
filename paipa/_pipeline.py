"""`Pipeline` and `Chain`: immutable builders composed with ``|``, and running."""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from ._backends import Backend, BackendName, check_backend
from ._background import BackgroundRun
from ._checks import instance_of
from ._debug._debugger import PipelineRuntimeDebugger, check_debugger
from ._debug._reporters import Reporter
from ._engine import _results
from ._engine._context import RunContext
from ._plan import Plan, compile_plan
from ._run_result import RunResult, run_result
from ._source import FEED, Source
from ._step import MYPY, Processor, Step, as_step

if TYPE_CHECKING:
    from itertools import accumulate

__all__ = ["Chain", "Pipeline", "RunResult", "to_steps"]

T = TypeVar("T")
if TYPE_CHECKING:
    # Pipeline() without a source is a Pipeline[Any] unless told otherwise
    # (Pipeline[int]()). The default is for type checkers only, see
    # _step.CallArgs.
    from typing_extensions import TypeVar as TypeVarWithDefault

    T_co = TypeVarWithDefault("T_co", covariant=True, default=Any)
else:
    T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")
In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)

StepLike = Any
"""Anything `to_steps` accepts; typed per form on each ``__or__`` overload."""

Steps = tuple[Step[Any, Any], ...]


def to_steps(value: object) -> Steps:
    """Return the steps `value` stands for: one step, a chain's, or a nested list's."""
    if isinstance(value, Chain):
        return value.steps
    if isinstance(value, Pipeline):
        raise TypeError(
            f"cannot use the pipeline {value!r} as a step: it has a source of its own; "
            "compose source-less steps with Chain (step | step) instead"
        )
    if isinstance(value, (list, tuple)):
        items = cast("Iterable[object]", value)
        return tuple(member for item in items for member in to_steps(item))
    return (as_step(value),)


def _threaded_steps(source: object) -> bool:
    """Whether `source` looks like paipa 0.3's ``[(StepClass, workers), ...]``."""
    if type(source) is not list or not source:
        return False
    first = cast("list[object]", source)[0]
    if not (
        isinstance(first, tuple)
        and len(first) in (2, 3)  # pyright: ignore[reportUnknownArgumentType]
        and isinstance(first[0], type)
        and isinstance(first[1], int)
    ):
        return False
    from .threaded import AbstractStep  # only for lists that look like it

    return issubclass(first[0], AbstractStep)


class Pipeline(Generic[T_co]):
    """A source and the steps its items flow through; immutable and re-runnable.

    ```pycon
    >>> from paipa import Pipeline, step
    >>> @step.map
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> pipeline = Pipeline(range(4)) | double
    >>> pipeline.collect()
    [0, 2, 4, 6]
    >>> list(pipeline)  # a list source runs again; so does a callable one
    [0, 2, 4, 6]

    ```
    """

    __slots__ = ("_debugger", "_plan", "_source", "_steps")

    @overload
    def __init__(self, /) -> None: ...
    @overload
    def __init__(self, source: Iterable[T_co], /) -> None: ...
    @overload
    def __init__(self, source: Callable[[], Iterable[T_co]], /) -> None: ...
    @overload
    def __init__(self, source: queue.Queue[T_co], /) -> None: ...
    def __init__(
        self,
        source: Iterable[Any] | Callable[[], Iterable[Any]] | queue.Queue[Any] = FEED,
        /,
    ) -> None:
        """Read from `source`: an iterable, a one-shot iterator, or a zero-argument callable.

        Without a source, or with a `queue.Queue`, the pipeline is fed while it
        runs in the background: see `start` and `BackgroundRun.put`.
        """
        if _threaded_steps(source):
            raise TypeError(
                f"Pipeline() got {source!r}: a list of (step, workers) tuples is paipa 0.3's "
                "threaded pipeline. Write the steps with @step.map(workers=4) and compose them "
                "with |, as in Pipeline(source) | download | store; or keep 0.3 code running "
                "with: from paipa.threaded import Pipeline"
            )
        self._source = Source(source)
        self._steps: Steps = ()
        self._plan: Plan | None = None
        self._debugger: PipelineRuntimeDebugger | None = None

    @classmethod
    def _extend(
        cls, source: Source, steps: Steps, debugger: PipelineRuntimeDebugger | None
    ) -> Pipeline[Any]:
        pipeline: Pipeline[Any] = cls.__new__(cls)
        pipeline._source = source
        pipeline._steps = steps
        pipeline._plan = None
        pipeline._debugger = debugger
        return pipeline

    @property
    def steps(self) -> tuple[Step[Any, Any], ...]:
        """The steps, in the order items flow through them."""
        return self._steps

    @overload
    def __or__(self, other: Step[T_co, U, ..., object], /) -> Pipeline[U]: ...
    @overload
    def __or__(self, other: Chain[T_co, U], /) -> Pipeline[U]: ...
    @overload
    def __or__(self, other: type[Processor[T_co, U]], /) -> Pipeline[U]: ...

    if TYPE_CHECKING and not MYPY:  # mypy solves these from the constructors

        @overload
        def __or__(self, other: type[enumerate[Any]], /) -> Pipeline[tuple[int, T_co]]: ...
        @overload
        def __or__(self, other: type[accumulate[Any]], /) -> Pipeline[T_co]: ...

    @overload
    def __or__(self, other: Callable[[Iterable[T_co]], Iterable[U]], /) -> Pipeline[U]: ...
    @overload
    def __or__(self, other: Callable[[], Processor[T_co, U]], /) -> Pipeline[U]: ...
    @overload
    def __or__(self, other: list[Any] | tuple[Any, ...], /) -> Pipeline[Any]: ...

    def __or__(self, other: StepLike, /) -> Pipeline[Any]:
        """Return a new pipeline with `other` (a step, chain, callable or list) appended."""
        return Pipeline._extend(self._source, self._steps + to_steps(other), self._debugger)

    def debug(
        self, reporters: Sequence[Reporter] | None = None, interval: float = 5.0
    ) -> Pipeline[T_co]:
        """Return this pipeline with the runtime debugger on.

        Every `interval` seconds, and once at the end, each reporter gets a
        `Snapshot` of per-step figures (counts, time, throughput, CPU, memory,
        errors, queues); without reporters they are logged (`LoggingReporter`).
        `run()` returns the final snapshot as ``RunResult.stats``.
        """
        return self.debug_with(PipelineRuntimeDebugger(reporters, interval))

    def with_backend(self, backend: BackendName | Backend) -> Pipeline[T_co]:
        """Return this pipeline with every step that has ``workers`` on `backend`.

        One change moves the whole pipeline: ``pipeline.with_backend("process")``
        runs each step with workers in processes, ``"thread"`` back in threads.
        Steps without workers stay inline.

        ```pycon
        >>> from paipa import Pipeline, step
        >>> @step.map(workers=2)
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> moved = (Pipeline(range(3)) | double).with_backend("process")
        >>> moved.steps[0].backend.name
        'process (forkserver)'

        ```
        """
        chosen = check_backend(backend)
        steps = tuple(
            member.with_options(backend=chosen) if member.workers is not None else member
            for member in self._steps
        )
        return Pipeline._extend(self._source, steps, self._debugger)

    def debug_with(self, debugger: PipelineRuntimeDebugger) -> Pipeline[T_co]:
        """Return this pipeline reporting through an existing `debugger`."""
        return Pipeline._extend(self._source, self._steps, check_debugger(debugger))

    @property
    def plan(self) -> Plan:
        """The compiled plan (stages, fused steps); computed once."""
        if self._plan is None:
            self._plan = compile_plan(self._steps, fuse=self._debugger is None)
        return self._plan

    def explain(self) -> str:
        """Return a readable description of how the pipeline will run."""
        return self.plan.explain(f"{self._source.name} ({self._source.kind})")

    def _observed(self) -> AbstractContextManager[RunContext]:
        """Return the context of one run: measured by the debugger, if it is on."""
        if self._debugger is None:
            return contextlib.nullcontext(RunContext())
        return self._debugger.observing(self._steps, self._source, RunContext())

    def __iter__(self) -> Iterator[T_co]:
        """Run the pipeline, streaming its results."""
        if self._debugger is None:
            return _results.iterate(self.plan, self._source)
        return self._iterate_observed()

    def _iterate_observed(self) -> Iterator[T_co]:
        with self._observed() as context:
            yield from _results.iterate(self.plan, self._source, context)

    def collect(self) -> list[T_co]:
        """Run the pipeline and return its results as a list."""
        with self._observed() as context:
            return _results.collect(self.plan, self._source, context)

    def run(self) -> RunResult:
        """Run the pipeline for its effects, dropping the results; report what it did."""
        started = time.perf_counter()
        with self._observed() as context:
            items = _results.count(self.plan, self._source, context)
        stats = self._debugger.last_snapshot if self._debugger is not None else None
        return run_result(items, time.perf_counter() - started, context.policies, stats)

    def start(self, *, discard_outputs: bool = False) -> BackgroundRun[T_co]:
        """Start the pipeline in the background and return its handle at once.

        Every output is kept for the handle's reader, with backpressure, until
        it is iterated; `BackgroundRun.join` without iterating drops and counts
        them. With `discard_outputs`, outputs are counted and dropped as they
        come: a run for its side effects that never waits for a reader.
        """
        instance_of(discard_outputs, bool, "discard_outputs must be True or False")
        return BackgroundRun(self.plan, self._source, self._observed, discard_outputs)

    def __repr__(self) -> str:
        names = " | ".join(member.name for member in self._steps)
        return f"<paipa.Pipeline {self._source.name}{' | ' + names if names else ''}>"


class Chain(Generic[In, Out]):
    """Steps without a source: reusable, composable, and callable on any iterable.

    ```pycon
    >>> from paipa import Pipeline, step
    >>> @step.map
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> @step.filter
    ... def small(x: int) -> bool:
    ...     return x < 5
    >>> both = double | small
    >>> list(both([1, 2, 3]))
    [2, 4]
    >>> (Pipeline([0, 1]) | both).collect()
    [0, 2]

    ```
    """

    __slots__ = ("_plan", "steps")

    steps: tuple[Step[Any, Any], ...]

    def __init__(self, *steps: StepLike) -> None:
        """Chain the given steps (any step-like values, or lists of them)."""
        self.steps = to_steps(steps)
        self._plan: Plan | None = None

    @overload
    def __or__(self, other: Step[Out, U, ..., object], /) -> Chain[In, U]: ...
    @overload
    def __or__(self, other: Chain[Out, U], /) -> Chain[In, U]: ...
    @overload
    def __or__(self, other: type[Processor[Out, U]], /) -> Chain[In, U]: ...

    if TYPE_CHECKING and not MYPY:  # mypy solves these from the constructors

        @overload
        def __or__(self, other: type[enumerate[Any]], /) -> Chain[In, tuple[int, Out]]: ...
        @overload
        def __or__(self, other: type[accumulate[Any]], /) -> Chain[In, Out]: ...

    @overload
    def __or__(self, other: Callable[[Iterable[Out]], Iterable[U]], /) -> Chain[In, U]: ...
    @overload
    def __or__(self, other: Callable[[], Processor[Out, U]], /) -> Chain[In, U]: ...
    @overload
    def __or__(self, other: list[Any] | tuple[Any, ...], /) -> Chain[In, Any]: ...

    def __or__(self, other: StepLike, /) -> Chain[Any, Any]:
        """Return a new chain with `other` appended."""
        return Chain(self.steps, other)

    # In this order for the reasons given at Step.__ror__.
    @overload
    def __ror__(self, other: Callable[[Iterable[T]], Iterable[In]], /) -> Chain[T, Out]: ...
    @overload
    def __ror__(self, other: Callable[[Iterable[In]], Iterable[In]], /) -> Chain[In, Out]: ...
    @overload
    def __ror__(
        self, other: Callable[[Iterable[Iterable[In]]], Iterable[In]], /
    ) -> Chain[Iterable[In], Out]: ...

    def __ror__(self, other: Any, /) -> Chain[Any, Out]:
        """Return a new chain with the callable `other` in front."""
        return Chain(other, self.steps)

    def __call__(self, items: Iterable[In], /) -> Iterator[Out]:
        """Run the chain over `items` in this thread, streaming the results."""
        if self._plan is None:
            self._plan = compile_plan(self.steps)
        return _results.iterate(self._plan, Source(items))

    def explain(self) -> str:
        """Return a readable description of how the chain will run."""
        return compile_plan(self.steps).explain(None)

    def __repr__(self) -> str:
        return f"<paipa.Chain {' | '.join(member.name for member in self.steps)}>"
