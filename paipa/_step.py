"""Steps: immutable descriptions of one pipeline stage's work, and the ``@step`` decorators."""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from types import MethodType
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    TypeVar,
    Unpack,
    cast,
    final,
    overload,
)

from ._backends import Backend, ThreadBackend
from ._options import ErrorPolicy, StepOptions, check_options

THREADS = ThreadBackend()
"""The default backend: workers in threads of this process."""

if TYPE_CHECKING:
    from itertools import accumulate

    from ._pipeline import Chain

MYPY = False
"""True for mypy alone, which reads any name ``MYPY`` as true (pyright does not).

The ``|`` overloads for ``enumerate`` and ``itertools.accumulate`` are for
pyright under ``if TYPE_CHECKING and not MYPY``: mypy solves those classes from
their constructors through the callable overload.
"""

__all__ = [
    "ITEM_KINDS",
    "Processor",
    "Skip",
    "Step",
    "StepKind",
    "as_step",
    "make_step",
]

In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)
A = TypeVar("A")
B = TypeVar("B")
V = TypeVar("V")

if TYPE_CHECKING:
    # A step's third and fourth parameters carry the decorated function's call
    # signature and result, so direct calls are checked as if undecorated. Their
    # defaults keep ``Step[A, B]`` meaning "any step from A to B", called with
    # anything and returning Any (a map step returns a B, an iterator step an
    # iterator, a filter a bool). The steps paipa builds without a function's
    # signature (a Processor step, a partial) return object instead: a result
    # that is not an iterable keeps a step of the wrong input type from passing
    # as a plain callable (``Callable[[Iterable[A]], Iterable[B]]``) in ``|``,
    # whose Step overloads ask for ``Step[..., object]`` for the same reason
    # (mypy takes an Any there as a hint when it infers an inline step.map(f)).
    # Only the type checkers need the defaults: at run time
    # Step.__class_getitem__ fills them in, and paipa does not import
    # typing_extensions (import time).
    from typing_extensions import ParamSpec as ParamSpecWithDefault
    from typing_extensions import TypeVar as TypeVarWithDefault

    CallArgs = ParamSpecWithDefault("CallArgs", default=...)
    Returns = TypeVarWithDefault("Returns", covariant=True, default=Any)
else:
    from typing import ParamSpec

    CallArgs = ParamSpec("CallArgs")
    Returns = TypeVar("Returns", covariant=True)

StepKind = Literal["iterator", "map", "filter", "flat_map", "process"]
"""How a step consumes its input: the whole iterable, or one item at a time."""

ITEM_KINDS: frozenset[StepKind] = frozenset({"map", "filter", "flat_map", "process"})


class Skip(Exception):  # noqa: N818 - it is a signal, not an error
    """Raise inside an item step (map, filter, flat_map, process) to drop the current item.

    ```pycon
    >>> from paipa import Pipeline, Skip, step
    >>> @step.map
    ... def parse(text: str) -> int:
    ...     if not text.isdigit():
    ...         raise Skip
    ...     return int(text)
    >>> (Pipeline(["1", "x", "3"]) | parse).collect()
    [1, 3]

    ```
    """


class _class_only:  # noqa: N801 - used as a decorator, like classmethod
    """A class method that refuses calls on an instance of the class.

    ``Processor.with_options`` builds a step from the class; on an instance it
    would quietly build from the default constructor, dropping the instance.
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __get__(self, instance: object, owner: type) -> Callable[..., Any]:
        if instance is None:
            return MethodType(self.function, owner)
        name = self.function.__name__

        def refuse(*args: object, **kwargs: object) -> Any:
            raise TypeError(
                f"{name}() is called on the Processor class, not on an instance such as "
                f"{instance!r}: each worker builds its own instance. For constructor "
                f"arguments, write step(functools.partial({owner.__name__}, ...)).{name}(...)"
            )

        return refuse


class Processor(ABC, Generic[In, Out]):
    """Base class for item steps that hold a resource, such as a database connection.

    Each worker (one, when the step runs inline) gets its own instance: ``setup()``
    runs before its first item, ``process(item)`` once per item, and ``teardown()``
    after the last item, also when the run fails or is stopped early. ``teardown()``
    runs only if ``setup()`` returned normally.

    ```pycon
    >>> from paipa import Pipeline, Processor
    >>> class AddOffset(Processor[int, int]):
    ...     def setup(self) -> None:
    ...         self.offset = 100
    ...     def process(self, item: int) -> int:
    ...         return item + self.offset
    >>> (Pipeline([1, 2]) | AddOffset).collect()
    [101, 102]

    ```
    """

    def setup(self) -> None:
        """Acquire this worker's resources; called once, before the first item."""

    @abstractmethod
    def process(self, item: In) -> Out:
        """Return the result for one item (raise `Skip` to drop it)."""

    def teardown(self) -> None:
        """Release this worker's resources; called once at the end, even after an error."""

    if TYPE_CHECKING:

        @classmethod
        def with_options(cls, **options: Unpack[StepOptions]) -> Step[In, Out, ..., object]:
            """Return this class as a step with the given options: ``step(cls).with_options(...)``.

            Also what mypy finds for ``@step``-decorated classes (it ignores class
            decorators), where it is the step's own ``with_options``. Called on the
            class, never on an instance: each worker builds its own instance.
            """
            ...

    else:

        @_class_only
        def with_options(cls, **options):  # noqa: N805 - a class method, see _class_only
            """Return this class as a step with the given options: ``step(cls).with_options(...)``.

            Also what mypy finds for ``@step``-decorated classes (it ignores class
            decorators), where it is the step's own ``with_options``. Called on the
            class, never on an instance: each worker builds its own instance.

            ```pycon
            >>> from paipa import Processor
            >>> class Upper(Processor[str, str]):
            ...     def process(self, item: str) -> str:
            ...         return item.upper()
            >>> Upper.with_options(workers=2).workers
            2

            ```
            """
            return make_step(cls, "iterator", check_options(options))


def describe_callable(function: object) -> str:
    """Return a short readable name for any callable, e.g. ``map(double)``."""
    inner: object = getattr(function, "func", None)
    args: object = getattr(function, "args", None)
    keywords: object = getattr(function, "keywords", None)
    if callable(inner) and isinstance(args, tuple):
        shown = [
            describe_callable(arg) if callable(arg) else repr(arg)
            for arg in cast("tuple[object, ...]", args)
        ]
        if isinstance(keywords, dict):
            items = cast("dict[str, object]", keywords).items()
            shown += [f"{key}={value!r}" for key, value in items]
        return f"{describe_callable(inner)}({', '.join(shown)})"
    name = getattr(function, "__name__", None)
    if isinstance(name, str):
        return name
    return type(function).__name__


def is_processor_factory(value: object) -> bool:
    """Tell whether `value` builds `Processor` instances (a subclass, or a partial of one)."""
    while isinstance(value, functools.partial):
        value = cast("functools.partial[object]", value).func
    return isinstance(value, type) and issubclass(value, Processor)


def _look_like(step: object, function: object, wrapped: object) -> None:
    """Give `step` the identity of `function` for help(), inspect and doc tools."""
    for attribute in ("__module__", "__name__", "__qualname__"):
        value = getattr(function, attribute, None)
        if value is not None:
            object.__setattr__(step, attribute, value)
    # Always the function's docstring, even None: the class docstring's example
    # must not turn up as a doctest of every module that declares a step.
    object.__setattr__(step, "__doc__", getattr(function, "__doc__", None))
    object.__setattr__(step, "__wrapped__", wrapped)


@final
@dataclass(frozen=True, eq=False)
class Step(Generic[In, Out, CallArgs, Returns]):
    """One step of a pipeline: a function plus how it consumes items.

    ``Step[In, Out]`` takes items of type ``In`` and gives items of type
    ``Out``. Decorated steps have two more type parameters, the call
    signature and result of their function, so that calling a step directly
    is checked as if it were not decorated; ``Step[In, Out]`` leaves them
    open (any signature).

    Build steps with the `step` decorators; a `Step` is immutable, and
    `with_options` and `partial` return new steps. Calling a step calls the
    decorated function unchanged, so steps stay trivial to unit test.

    ```pycon
    >>> from paipa import step
    >>> @step.map(workers=4)
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21), double.kind, double.workers
    (42, 'map', 4)

    ```
    """

    function: Callable[..., Any]
    """The decorated callable (for a `Processor` step, its class or factory)."""
    kind: StepKind
    """``"iterator"`` for ``Iterable -> Iterable`` functions, otherwise an item step kind."""
    name: str
    """The name shown by `Pipeline.explain` and in error notes."""
    workers: int | None = None
    """Threads for this step; ``None`` runs it inline in the stage before it."""
    ordered: bool = True
    """With several workers, whether outputs keep the input order."""
    queue_size: int | None = None
    """Items the channel in front of this threaded step may hold (default 1024)."""
    retries: int = 0
    """Item steps: how many times a failing item is tried again."""
    retry_on: tuple[type[Exception], ...] = (Exception,)
    """Item steps: the exceptions that are retried."""
    backoff: float = 0.1
    """Item steps: seconds before the first retry, doubling for each further one."""
    on_error: ErrorPolicy = "raise"
    """Item steps: what happens to an item that still fails (see `ErrorPolicy`)."""
    backend: Backend = THREADS
    """Where the workers run: threads (the default) or processes."""

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"a step needs a callable, got {self.function!r}")
        given = {
            field: value
            for field, value in (
                ("name", self.name),
                *((field, getattr(self, field)) for field in _DEFAULTS),
            )
            if field == "name" or value != _DEFAULTS[field]
        }
        for field, value in check_options(given, self.kind).items():
            object.__setattr__(self, field, value)
        if self.workers is None and self.backend != THREADS:
            raise TypeError(
                f"step {self.name!r}: backend {self.backend.name!r} runs the step's workers; "
                "give workers=N too, e.g. with_options(workers=4, backend='process')"
            )
        _look_like(self, self.function, self.function)

    if not TYPE_CHECKING:

        def __class_getitem__(cls, params):
            # Step[A, B] stands for Step[A, B, ..., Any], as the type checkers read it.
            if isinstance(params, tuple) and len(params) == 2:
                params = (*params, ..., Any)
            return super().__class_getitem__(params)

    def __call__(self, *args: CallArgs.args, **kwargs: CallArgs.kwargs) -> Returns:
        """Call the decorated function directly, exactly as without the decorator."""
        return self.function(*args, **kwargs)  # type: ignore[no-any-return]

    @overload
    def __or__(self, other: Step[Out, V, ..., object], /) -> Chain[In, V]: ...
    @overload
    def __or__(self, other: Chain[Out, V], /) -> Chain[In, V]: ...
    @overload
    def __or__(self, other: type[Processor[Out, V]], /) -> Chain[In, V]: ...

    if TYPE_CHECKING and not MYPY:  # mypy solves these from the constructors

        @overload
        def __or__(self, other: type[enumerate[Any]], /) -> Chain[In, tuple[int, Out]]: ...
        @overload
        def __or__(self, other: type[accumulate[Any]], /) -> Chain[In, Out]: ...

    @overload
    def __or__(self, other: Callable[[Iterable[Out]], Iterable[V]], /) -> Chain[In, V]: ...
    @overload
    def __or__(self, other: Callable[[], Processor[Out, V]], /) -> Chain[In, V]: ...
    @overload
    def __or__(self, other: list[Any] | tuple[Any, ...], /) -> Chain[In, Any]: ...

    def __or__(self, other: Any, /) -> Chain[Any, Any]:
        """Return a reusable `Chain`: this step, then `other`."""
        from ._pipeline import Chain

        return Chain(self, other)

    # Generic callables in front (sorted, flatten) fail the first overload under
    # pyright, which cannot solve their type variable and A at once; the next two
    # have their shapes. The general one comes first so that a plain function
    # keeps its own input type (Iterable[object] stays object).
    @overload
    def __ror__(self, other: Callable[[Iterable[A]], Iterable[In]], /) -> Chain[A, Out]: ...
    @overload
    def __ror__(self, other: Callable[[Iterable[In]], Iterable[In]], /) -> Chain[In, Out]: ...
    @overload
    def __ror__(
        self, other: Callable[[Iterable[Iterable[In]]], Iterable[In]], /
    ) -> Chain[Iterable[In], Out]: ...

    def __ror__(self, other: Any, /) -> Chain[Any, Out]:
        """Return a reusable `Chain`: the callable `other`, then this step."""
        from ._pipeline import Chain

        return Chain(other, self)

    def with_options(self, **options: Unpack[StepOptions]) -> Step[In, Out, CallArgs, Returns]:
        """Return a copy of this step with the given options changed.

        ```pycon
        >>> from paipa import step
        >>> @step.map
        ... def send(batch: list[int]) -> list[int]:
        ...     return batch
        >>> send.with_options(workers=8).workers, send.workers
        (8, None)

        ```
        """
        changes: dict[str, Any] = dict(check_options(options))
        return replace(self, **changes)

    def partial(self, **kwargs: Any) -> Step[In, Out, ..., object]:
        """Return a copy with keyword arguments of the function bound.

        The bound names are checked against the function's signature at once.
        For statically checked parameters, write a factory function that
        returns a step instead (see ``paipa.chunk``).

        ```pycon
        >>> from paipa import Pipeline, step
        >>> @step.map
        ... def scale(x: int, *, factor: int = 1) -> int:
        ...     return x * factor
        >>> (Pipeline([1, 2]) | scale.partial(factor=10)).collect()
        [10, 20]

        ```
        """
        self._check_bindable(kwargs)
        bound = functools.partial(self.function, **kwargs)
        shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
        stepped = replace(self, function=bound, name=f"{self.name}({shown})")
        _look_like(stepped, self, bound)
        return stepped

    def _check_bindable(self, kwargs: dict[str, Any]) -> None:
        try:
            parameters = list(inspect.signature(self.function).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature: nothing to check
            return
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        data = None
        if self.kind != "process" and parameters and parameters[0].kind in positional:
            data = parameters[0].name
        named = {p.name for p in parameters if p.kind != inspect.Parameter.POSITIONAL_ONLY}
        takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)
        for key in kwargs:
            if key == data:
                raise TypeError(
                    f"step {self.name!r}: cannot bind {key!r}, it is the parameter "
                    "that receives the data"
                )
            if key not in named and not takes_any:
                raise TypeError(
                    f"step {self.name!r} has no keyword parameter {key!r}; "
                    f"it takes {sorted(named - {data}) or 'none'}"
                )

    def __repr__(self) -> str:
        options = "".join(
            f", {field}={getattr(self, field)!r}"
            for field, default in _DEFAULTS.items()
            if getattr(self, field) != default
        )
        return f"<paipa.Step {self.kind} {self.name!r}{options}>"


_DEFAULTS: dict[str, object] = {
    "workers": None,
    "ordered": True,
    "queue_size": None,
    "retries": 0,
    "retry_on": (Exception,),
    "backoff": 0.1,
    "on_error": "raise",
    "backend": THREADS,
}


def make_step(function: object, kind: StepKind, options: StepOptions) -> Step[Any, Any]:
    """Return the step of `kind` running `function`, with checked `options`."""
    if not callable(function):
        raise TypeError(
            f"@step decorates a function, got {function!r}; pass options as keywords, "
            "e.g. @step.map(workers=4)"
        )
    if kind == "iterator" and is_processor_factory(function):
        kind = "process"
    elif isinstance(function, type) and kind != "iterator" and issubclass(function, Processor):
        raise TypeError(f"{function!r}: decorate Processor classes with plain @step")
    named: dict[str, Any] = dict(options)
    name = named.pop("name", None)
    return Step(function, kind, describe_callable(function) if name is None else name, **named)


def as_step(value: object) -> Step[Any, Any]:
    """Return `value` as a `Step`, or raise `TypeError` naming it.

    Accepts a `Step`, a `Processor` class (or partial of one), any callable
    taking an iterable (toolz, itertools and more-itertools helpers,
    ``functools.partial``, objects with ``__call__``), and the seed API's
    objects with a ``process(iterator)`` method.
    """
    if isinstance(value, Step):
        return value  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, Processor):
        raise TypeError(
            f"{value!r} is a Processor instance; pass its class (or a functools.partial "
            "of it) so that each worker gets its own instance"
        )
    if isinstance(value, (str, bytes)) or not (callable(value) or _has_process(value)):
        raise TypeError(
            f"cannot use {value!r} ({type(value).__name__}) as a pipeline step: expected a "
            "Step, a Chain, a Processor class, a callable taking an iterable, or a list of these"
        )
    _check_not_partial_of_item_step(value)
    if callable(value):
        return make_step(value, "iterator", check_options(getattr(value, "step_options", {})))
    process: Callable[..., Any] = getattr(value, "process")  # noqa: B009 - checked above
    return Step(process, "iterator", type(value).__name__)


def _check_not_partial_of_item_step(value: object) -> None:
    """Refuse ``functools.partial(item_step, ...)``: it would get the whole iterable."""
    if not isinstance(value, functools.partial):
        return
    bound = cast("functools.partial[object]", value)
    inner: object = bound.func
    if isinstance(inner, Step) and inner.kind in ITEM_KINDS:
        kind: StepKind = inner.kind
        shown = ", ".join(f"{key}={item!r}" for key, item in bound.keywords.items())
        hint = f"Use {inner.name}.partial({shown}) instead"
        if bound.args:
            # A step's function takes the item first: positional arguments bound
            # by functools.partial would take its place, so there is no
            # partial() spelling of them.
            given = ", ".join(repr(arg) for arg in bound.args)
            hint = (
                f"Its positional arguments ({given}) would take the place of the item: "
                f"bind the parameters after the item by keyword, "
                f"{inner.name}.partial(name=value{', ' + shown if shown else ''})"
            )
        raise TypeError(
            f"{bound!r} binds arguments of the {kind} step {inner.name!r}, which takes "
            f"one item at a time; as a step, the partial would be called with the whole "
            f"iterable. {hint}"
        )


def _has_process(value: object) -> bool:
    return callable(getattr(value, "process", None))
