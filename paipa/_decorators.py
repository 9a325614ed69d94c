"""The ``step`` decorator family: ``@step``, ``@step.map``, ``@step.filter``, ``@step.flat_map``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar, final, overload

from ._step import Processor, Step, check_name, check_ordered, check_workers, make_step

__all__ = ["StepDecorator", "step"]

A = TypeVar("A")
B = TypeVar("B")
P = ParamSpec("P")


class _IteratorDecorator:
    """The decorator returned by ``step(...)`` called with options only."""

    def __init__(self, name: str | None, workers: int | None, ordered: bool) -> None:
        self._options = (name, workers, ordered)

    @overload
    def __call__(self, function: type[Processor[A, B]], /) -> Step[A, B]: ...
    @overload
    def __call__(
        self, function: Callable[Concatenate[Iterable[A], P], Iterable[B]], /
    ) -> Step[A, B]: ...
    def __call__(self, function: Callable[..., Any], /) -> Step[Any, Any]:
        return make_step(function, "iterator", *self._options)


class _MapDecorator:
    """The decorator returned by ``step.map(...)`` with options."""

    def __init__(self, name: str | None, workers: int | None, ordered: bool) -> None:
        self._options = (name, workers, ordered)

    def __call__(self, function: Callable[Concatenate[A, P], B], /) -> Step[A, B]:
        return make_step(function, "map", *self._options)


class _FilterDecorator:
    """The decorator returned by ``step.filter(...)`` with options."""

    def __init__(self, name: str | None, workers: int | None, ordered: bool) -> None:
        self._options = (name, workers, ordered)

    def __call__(self, function: Callable[Concatenate[A, P], object], /) -> Step[A, A]:
        return make_step(function, "filter", *self._options)


class _FlatMapDecorator:
    """The decorator returned by ``step.flat_map(...)`` with options."""

    def __init__(self, name: str | None, workers: int | None, ordered: bool) -> None:
        self._options = (name, workers, ordered)

    def __call__(self, function: Callable[Concatenate[A, P], Iterable[B]], /) -> Step[A, B]:
        return make_step(function, "flat_map", *self._options)


def _check_options(
    function: object, name: str | None, workers: int | None, ordered: bool
) -> tuple[str | None, int | None, bool]:
    if function is not None and not callable(function):
        raise TypeError(
            f"@step decorates a function, got {function!r}; pass options as keywords, "
            "e.g. @step.map(workers=4)"
        )
    if name is not None:
        check_name(name)
    return name, check_workers(workers), check_ordered(ordered)


@final
class StepDecorator:
    """The ``step`` decorator family; use the instance `paipa.step`.

    - ``@step`` on ``(Iterable[A]) -> Iterable[B]`` (usually a generator), or on
      a `Processor` subclass;
    - ``@step.map`` on ``(A) -> B``; ``@step.filter`` on ``(A) -> bool``;
      ``@step.flat_map`` on ``(A) -> Iterable[B]``.

    Each form also takes keyword options: ``@step.map(name="send", workers=8)``.
    """

    @overload
    def __call__(self, function: type[Processor[A, B]], /) -> Step[A, B]: ...
    @overload
    def __call__(
        self, function: Callable[Concatenate[Iterable[A], P], Iterable[B]], /
    ) -> Step[A, B]: ...
    @overload
    def __call__(
        self, /, *, name: str | None = None, workers: int | None = None, ordered: bool = True
    ) -> _IteratorDecorator: ...
    def __call__(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        workers: int | None = None,
        ordered: bool = True,
    ) -> Step[Any, Any] | _IteratorDecorator:
        """Make an iterator step (or a `Processor` step), or a decorator with options."""
        options = _check_options(function, name, workers, ordered)
        if function is None:
            return _IteratorDecorator(*options)
        return make_step(function, "iterator", *options)

    @overload
    def map(self, function: Callable[Concatenate[A, P], B], /) -> Step[A, B]: ...
    @overload
    def map(
        self, /, *, name: str | None = None, workers: int | None = None, ordered: bool = True
    ) -> _MapDecorator: ...
    def map(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        workers: int | None = None,
        ordered: bool = True,
    ) -> Step[Any, Any] | _MapDecorator:
        """Make a step that turns each item into one result: ``(A) -> B``."""
        options = _check_options(function, name, workers, ordered)
        if function is None:
            return _MapDecorator(*options)
        return make_step(function, "map", *options)

    @overload
    def filter(self, function: Callable[Concatenate[A, P], object], /) -> Step[A, A]: ...
    @overload
    def filter(
        self, /, *, name: str | None = None, workers: int | None = None, ordered: bool = True
    ) -> _FilterDecorator: ...
    def filter(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        workers: int | None = None,
        ordered: bool = True,
    ) -> Step[Any, Any] | _FilterDecorator:
        """Make a step that keeps the items for which the function is true: ``(A) -> bool``."""
        options = _check_options(function, name, workers, ordered)
        if function is None:
            return _FilterDecorator(*options)
        return make_step(function, "filter", *options)

    @overload
    def flat_map(self, function: Callable[Concatenate[A, P], Iterable[B]], /) -> Step[A, B]: ...
    @overload
    def flat_map(
        self, /, *, name: str | None = None, workers: int | None = None, ordered: bool = True
    ) -> _FlatMapDecorator: ...
    def flat_map(
        self,
        function: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        workers: int | None = None,
        ordered: bool = True,
    ) -> Step[Any, Any] | _FlatMapDecorator:
        """Make a step that turns each item into zero or more results: ``(A) -> Iterable[B]``."""
        options = _check_options(function, name, workers, ordered)
        if function is None:
            return _FlatMapDecorator(*options)
        return make_step(function, "flat_map", *options)


step: StepDecorator = StepDecorator()
"""Declare pipeline steps; see `StepDecorator` for the forms."""
