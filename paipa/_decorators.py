"""The ``step`` decorator family: ``@step``, ``@step.map``, ``@step.filter``, ``@step.flat_map``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    ParamSpec,
    Protocol,
    TypeVar,
    Unpack,
    cast,
    final,
    overload,
)

from ._options import StepOptions, check_options
from ._step import Processor, Step, StepKind, make_step

__all__ = ["StepDecorator", "step"]

if TYPE_CHECKING:
    # A lambda's parameter gives A nothing to solve: the default makes it Any
    # (mypy would otherwise ask for an annotation of ``inc = step.map(lambda
    # x: x + 1)``); P and R follow A, so they need defaults too. For type
    # checkers only, see paipa._step.CallArgs.
    from typing_extensions import ParamSpec as ParamSpecWithDefault
    from typing_extensions import TypeVar as TypeVarWithDefault

    A = TypeVarWithDefault("A", default=Any)
    B = TypeVarWithDefault("B", default=Any)
    P = ParamSpecWithDefault("P", default=...)
    R = TypeVarWithDefault("R", default=Any)
else:
    A = TypeVar("A")
    B = TypeVar("B")
    P = ParamSpec("P")
    R = TypeVar("R")
First_contra = TypeVar("First_contra", contravariant=True)
Result_co = TypeVar("Result_co", covariant=True)
Returns_co = TypeVar("Returns_co", covariant=True)
Signature = ParamSpec("Signature")
# Variables without defaults for flat_map, iterator steps and Processor
# classes: with defaults, mypy loses the item type of
# step.flat_map(a_generator_function) inside a chain, and takes
# step(AProcessorOfTheWrongType) in a chain for a Step[Any, Any]. The
# defaults are for lambdas given to step.map and step.filter.
Item = TypeVar("Item")
Each = TypeVar("Each")
FlatArgs = ParamSpec("FlatArgs")

if TYPE_CHECKING:  # annotations only: not built at run time (import time)
    from ._options import IteratorStepOptions

    # pyright asks for a covariant First_contra, mypy for a contravariant one (it is
    # the type of a parameter); the protocol is only ever matched, never assigned.
    class _Function(Protocol[First_contra, Result_co, Signature, Returns_co]):  # pyright: ignore[reportInvalidTypeVarUse]
        """A function as the decorators see it: the data, and its whole signature.

        The two overloads are two views of the same function: the first binds the
        whole call signature, parameter names included, which the step keeps for
        direct calls (``Concatenate`` would make the data positional-only); the
        second the type of the data parameter and of the result the step works
        with. In this order, overloaded and generic functions (``sorted``,
        ``tuple``) keep their types in both checkers, or become Any, rather than
        being solved to their bounds.
        """

        @overload
        def __call__(self, *args: Signature.args, **kwargs: Signature.kwargs) -> Returns_co: ...
        @overload
        def __call__(self, data: First_contra, /, *args: Any, **kwargs: Any) -> Result_co: ...

    class _ProcessorDecorator(Protocol):
        """``step(...)`` with options only item steps take: for `Processor` classes alone.

        An iterator step has no single item to retry or skip, so ``@step(retries=3)``
        on a generator function is an error here, as it is at run time.
        """

        def __call__(
            self, function: type[Processor[Item, Each]], /
        ) -> Step[Item, Each, ..., object]: ...


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
    def __call__(
        self, function: type[Processor[Item, Each]], /
    ) -> Step[Item, Each, ..., object]: ...
    @overload
    def __call__(
        self, function: _Function[Iterable[Item], Iterable[Each], FlatArgs, R], /
    ) -> Step[Item, Each, FlatArgs, R]: ...
    def __call__(self, function: Callable[..., Any], /) -> Step[Any, Any, ..., Any]:
        return self.make(function)


class _MapDecorator(_Options):
    """The decorator returned by ``step.map(...)`` with options."""

    kind: ClassVar[StepKind] = "map"

    def __call__(self, function: _Function[A, B, P, B], /) -> Step[A, B, P, B]:
        return cast("Step[A, B, P, B]", self.make(function))


class _FilterDecorator(_Options):
    """The decorator returned by ``step.filter(...)`` with options."""

    kind: ClassVar[StepKind] = "filter"

    def __call__(self, function: _Function[A, object, P, R], /) -> Step[A, A, P, R]:
        return cast("Step[A, A, P, R]", self.make(function))


class _FlatMapDecorator(_Options):
    """The decorator returned by ``step.flat_map(...)`` with options."""

    kind: ClassVar[StepKind] = "flat_map"

    # The function's result names Each (list[Each], Iterator[Each], else
    # Iterable[Each]) so that mypy, inferring from where the step is used, does
    # not pin Each first.
    @overload
    def __call__(
        self, function: _Function[Item, list[Each], FlatArgs, list[Each]], /
    ) -> Step[Item, Each, FlatArgs, list[Each]]: ...
    @overload
    def __call__(
        self, function: _Function[Item, Iterator[Each], FlatArgs, Iterator[Each]], /
    ) -> Step[Item, Each, FlatArgs, Iterator[Each]]: ...
    @overload
    def __call__(
        self, function: _Function[Item, Iterable[Each], FlatArgs, Iterable[Each]], /
    ) -> Step[Item, Each, FlatArgs, Iterable[Each]]: ...
    def __call__(self, function: Callable[..., Any], /) -> Step[Any, Any, ..., Any]:
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
    def __call__(
        self, function: type[Processor[Item, Each]], /, **options: Unpack[StepOptions]
    ) -> Step[Item, Each, ..., object]: ...
    @overload
    def __call__(
        self,
        function: _Function[Iterable[Item], Iterable[Each], FlatArgs, R],
        /,
        **options: Unpack[IteratorStepOptions],
    ) -> Step[Item, Each, FlatArgs, R]: ...
    @overload
    def __call__(self, /, **options: Unpack[IteratorStepOptions]) -> _IteratorDecorator: ...
    @overload
    def __call__(self, /, **options: Unpack[StepOptions]) -> _ProcessorDecorator: ...
    def __call__(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options | _ProcessorDecorator:
        """Make an iterator step (or a `Processor` step), or a decorator with options."""
        return _decorate(function, _IteratorDecorator, options)

    @overload
    def map(
        self, function: _Function[A, B, P, B], /, **options: Unpack[StepOptions]
    ) -> Step[A, B, P, B]: ...
    @overload
    def map(self, /, **options: Unpack[StepOptions]) -> _MapDecorator: ...
    def map(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that turns each item into one result: ``(A) -> B``."""
        return _decorate(function, _MapDecorator, options)

    @overload
    def filter(
        self, function: _Function[A, object, P, R], /, **options: Unpack[StepOptions]
    ) -> Step[A, A, P, R]: ...
    @overload
    def filter(self, /, **options: Unpack[StepOptions]) -> _FilterDecorator: ...
    def filter(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that keeps the items for which the function is true: ``(A) -> bool``."""
        return _decorate(function, _FilterDecorator, options)

    @overload
    def flat_map(
        self,
        function: _Function[Item, list[Each], FlatArgs, list[Each]],
        /,
        **options: Unpack[StepOptions],
    ) -> Step[Item, Each, FlatArgs, list[Each]]: ...
    @overload
    def flat_map(
        self,
        function: _Function[Item, Iterator[Each], FlatArgs, Iterator[Each]],
        /,
        **options: Unpack[StepOptions],
    ) -> Step[Item, Each, FlatArgs, Iterator[Each]]: ...
    @overload
    def flat_map(
        self,
        function: _Function[Item, Iterable[Each], FlatArgs, Iterable[Each]],
        /,
        **options: Unpack[StepOptions],
    ) -> Step[Item, Each, FlatArgs, Iterable[Each]]: ...
    @overload
    def flat_map(self, /, **options: Unpack[StepOptions]) -> _FlatMapDecorator: ...
    def flat_map(
        self, function: Callable[..., Any] | None = None, /, **options: Unpack[StepOptions]
    ) -> Step[Any, Any] | _Options:
        """Make a step that turns each item into zero or more results: ``(A) -> Iterable[B]``."""
        return _decorate(function, _FlatMapDecorator, options)


step: StepDecorator = StepDecorator()
"""Declare pipeline steps; see `StepDecorator` for the forms."""
