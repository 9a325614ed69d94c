"""Ready-made steps and helpers: ``chunk``, ``flatten``, ``identity_step``, ``consume``."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, final, overload

from ._checks import positive_int, seconds

if TYPE_CHECKING:
    from ._pipeline import Chain
    from ._step import Step

__all__ = ["Batch", "Chunk", "batch", "chunk", "consume", "flatten", "identity_step"]

T = TypeVar("T")
if TYPE_CHECKING:
    # For `chunk(n) | step` where the step takes any list (a `Sized`, say): the
    # element type is then not solved, and means any item. For type checkers
    # only, see paipa._step.CallArgs.
    from typing_extensions import TypeVar as TypeVarWithDefault

    Item = TypeVarWithDefault("Item", default=object)
    Result = TypeVarWithDefault("Result", default=Any)  # always solved; after Item


@final
class Chunk:
    """The step made by `chunk`: groups items into lists of up to ``size`` items.

    A class with a generic ``__call__`` (rather than a ``Step``) so that type
    checkers bind the element type where the step is used:
    ``Pipeline[int] | chunk(2)`` is a ``Pipeline[list[int]]``.
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        """Group items into lists of `size` (the last list may be shorter)."""
        self.size: int = positive_int(size, "chunk size")

    @property
    def __name__(self) -> str:
        """The name shown in plans and error notes."""
        return f"chunk({self.size})"

    def __call__(self, items: Iterable[T], /) -> Iterator[list[T]]:
        """Yield lists of up to ``size`` consecutive items."""
        iterator = iter(items)
        size = self.size
        while batch := list(itertools.islice(iterator, size)):
            yield batch

    # Typed for `chunk(n) | step`, where the step fixes the element type; at run
    # time the step's own __ror__ builds the chain.
    @overload
    def __or__(self, other: Step[list[Item], Result, ..., object], /) -> Chain[Item, Result]: ...
    @overload
    def __or__(self, other: Chain[list[Item], Result], /) -> Chain[Item, Result]: ...
    def __or__(self, other: object, /) -> Any:
        """Return a `Chain`: these lists, then `other` (a step or chain taking lists)."""
        return NotImplemented

    def __repr__(self) -> str:
        return f"paipa.chunk({self.size})"


@final
class Batch:
    """The step made by `batch`: lists of up to ``size`` items, or fewer after a stall.

    It always runs in a thread of its own (one worker), where it can wait for
    input with a timeout; run inline it could not notice a stall.
    """

    __slots__ = ("size", "timeout")

    takes_timed_input = True
    """Tells the threaded engine to give this step an input it can wait on with a timeout."""
    step_options: ClassVar[dict[str, Any]] = {"workers": 1}
    """The options this callable gets when it becomes a step."""

    def __init__(self, size: int, timeout: float) -> None:
        """Group items by `size`; emit a partial list once input stalls for `timeout` s."""
        self.size: int = positive_int(size, "batch size")
        self.timeout: float = seconds(timeout, "batch timeout", allow_zero=False)

    @property
    def __name__(self) -> str:
        """The name shown in plans and error notes."""
        return f"batch({self.size}, {self.timeout:g})"

    def __call__(self, items: Iterable[T], /) -> Iterator[list[T]]:
        """Yield lists of up to ``size`` items; a shorter one whenever input stalls."""
        take_within = getattr(items, "take_within", None)
        if take_within is None:  # not fed by the threaded engine: plain chunks
            yield from Chunk(self.size)(items)
            return
        pending: list[T] = []
        while True:
            taken = take_within(self.size - len(pending), self.timeout if pending else None)
            if taken is None:  # a stall: send what there is
                yield pending
                pending = []
                continue
            if not taken:
                break
            pending.extend(taken)
            if len(pending) >= self.size:
                yield pending
                pending = []
        if pending:
            yield pending

    # Typed for `chunk(n) | step`, where the step fixes the element type; at run
    # time the step's own __ror__ builds the chain.
    @overload
    def __or__(self, other: Step[list[Item], Result, ..., object], /) -> Chain[Item, Result]: ...
    @overload
    def __or__(self, other: Chain[list[Item], Result], /) -> Chain[Item, Result]: ...
    def __or__(self, other: object, /) -> Any:
        """Return a `Chain`: these lists, then `other` (a step or chain taking lists)."""
        return NotImplemented

    def __repr__(self) -> str:
        return f"paipa.batch({self.size}, {self.timeout:g})"


def batch(size: int, timeout: float) -> Batch:
    """Return a step grouping items into lists of `size`, or fewer once input stalls.

    For pipelines fed while running: a list goes out as soon as it is full, or
    when no new item has come for `timeout` seconds. The step runs in a thread
    of its own.

    ```pycon
    >>> from paipa import Pipeline, batch
    >>> (Pipeline(range(5)) | batch(2, timeout=0.5)).collect()
    [[0, 1], [2, 3], [4]]

    ```
    """
    return Batch(size, timeout)


def chunk(size: int = 32) -> Chunk:
    """Return a step grouping items into lists of `size` items (the last may be shorter).

    `size` defaults to 32, as in paipa 0.3.

    ```pycon
    >>> from paipa import Pipeline, chunk
    >>> (Pipeline(range(5)) | chunk(2)).collect()
    [[0, 1], [2, 3], [4]]

    ```
    """
    return Chunk(size)


def flatten(batches: Iterable[Iterable[T]], /) -> Iterator[T]:
    """Yield the items of each batch in turn: the inverse of `chunk`.

    ```pycon
    >>> from paipa import Pipeline, chunk, flatten
    >>> (Pipeline(range(5)) | chunk(2) | flatten).collect()
    [0, 1, 2, 3, 4]

    ```
    """
    for batch in batches:
        yield from batch


def identity_step(items: Iterable[T], /) -> Iterable[T]:
    """Return `items` unchanged: a step that does nothing, for slots in step lists."""
    return items


def consume(iterator: Iterable[object], n: int | None = None) -> None:
    """Advance `iterator` by `n` items, or to its end when `n` is None; drop the items.

    ```pycon
    >>> import paipa
    >>> numbers = iter(range(10))
    >>> paipa.consume(numbers, 3)
    >>> next(numbers)
    3

    ```
    """
    if n is None:
        deque(iterator, maxlen=0)
        return
    for _ in itertools.islice(iterator, positive_int(n, "consume() count", minimum=0)):
        pass
