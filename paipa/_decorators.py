"""The ``step`` decorator family: ``@step``, ``@step.map``, ``@step.filter``, ``@step.flat_map``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar, Unpack, final, overload

from ._options import StepOptions, check_options
from ._step import Processor, Step, StepKind, make_step

__all__ = ["StepDecorator", "step"]

A = TypeVar("A")
B = TypeVar("B")
P = ParamSpec("P")


class _Options:
    """Options given to a decorator ahead of its function; applied when it comes."""

    kind: ClassVar[StepKind]

    def __init__(self, options: StepOptions) -> None:
        self._options = options

    def make(self, function: Callable[..., Any]) -> Step[Any, Any]:
        """Return the step running `function` with these options."""
        return make_step(function, self.kind, self._options)


class _IteratorDecorator(_Options):
    """The decorator returned by ``step(...)`` called with options only."""

    kind: ClassVar[StepKind] = "iterator"

    @overload
    def __call__(self, function: type[Processor[A, B]], /) -> Step[A, B]: ...
    @overload
    def __call__(
        self, function: Callable[Concatenate[Iterable[A], P], Iterable[B]], /
    ) -> Step[A, B]: ...
    def __call__(self, function: Callable[..., Any], /) -> Step[Any, Any]:
        return self.make(function)


class _MapDecorator(_Options):
    """The decorator returned by ``step.map(...)`` with options."""

    kind: ClassVar[StepKind] = "map"

    def __call__(self, function: Callable[Concatenate[A, P], B], /) -> Step[A, B]:
        return self.make(function)


class _FilterDecorator(_Options):
    """The decorator returned by ``step.filter(...)`` with options."""

    kind: ClassVar[StepKind] = "filter"

    def __call__(self, function: Callable[Concatenate[A, P], object], /) -> Step[A, A]:
        return self.make(function)


class _FlatMapDecorator(_Options):
    """The decorator returned by ``step.flat_map(...)`` with options."""

    kind: ClassVar[StepKind] = "flat_map"

    def __call__(self, function: Callable[Concatenate[A, P], Iterable[B]], /) -> Step[A, B]:
        return self.make(function)


def _decorate(
    function: object, decorator: type[_Options], options: StepOptions
) -> Step[Any, Any] | _Options:
    """Decorate `function` now, or return the decorator holding the options."""
    if function is not None and not callable(function):
        raise TypeError(
            f"@step decorates a function, got {function!r}; pass options as keywords, "
            "e.g. @step.map(workers=4)"
        )
    holder = decorator(check_options(options))
    if function is None:
        return holder
    return holder.make(function)


@final
class StepDecorator:
    """The ``step`` decorator family; use the instance `paipa.step`.

    - ``@step`` on ``(Iterable[A]) -> Iterable[B]`` (usually a generator), or on
      a `Processor` subclass;
    - ``@step.map`` on ``(A) -> B``; ``@step.filter`` on ``(A) -> bool``;
      ``@step.flat_map`` on ``(A) -> Iterable[B]``.

    Each form also takes the keyword options of `StepOptions`:
    ``@step.map(name="send", workers=8)``.
    """

    @overload
    def __call__(self, function: type[Processor[A, B]], /) -> Step[A, B]: ...
    @overload
    def __call__(
        self, function: Callable[Concatenate[Iterable[A], P], Iterable[B]], /
    ) -> Step[A, B]: ...
    @overload
    def __call__(self, /, **options: Unpack[StepOptions]) -> _IteratorDecorator: ...
    def __call__(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make an iterator step (or a `Processor` step), or a decorator with options."""
        return _decorate(function, _IteratorDecorator, options)

    @overload
    def map(self, function: Callable[Concatenate[A, P], B], /) -> Step[A, B]: ...
    @overload
    def map(self, /, **options: Unpack[StepOptions]) -> _MapDecorator: ...
    def map(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that turns each item into one result: ``(A) -> B``."""
        return _decorate(function, _MapDecorator, options)

    @overload
    def filter(self, function: Callable[Concatenate[A, P], object], /) -> Step[A, A]: ...
    @overload
    def filter(self, /, **options: Unpack[StepOptions]) -> _FilterDecorator: ...
    def filter(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that keeps the items for which the function is true: ``(A) -> bool``."""
        return _decorate(function, _FilterDecorator, options)

    @overload
    def flat_map(self, function: Callable[Concatenate[A, P], Iterable[B]], /) -> Step[A, B]: ...
    @overload
    def flat_map(self, /, **options: Unpack[StepOptions]) -> _FlatMapDecorator: ...
    def flat_map(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that turns each item into zero or more results: ``(A) -> Iterable[B]``."""
        return _decorate(function, _FlatMapDecorator, options)


step: StepDecorator = StepDecorator()
"""Declare pipeline steps; see `StepDecorator` for the forms."""
