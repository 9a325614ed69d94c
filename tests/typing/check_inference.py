# pyright: reportUnusedExpression=false
"""What pyright and mypy infer along a chain; checked by tests/typing/test_type_checkers.py.

Each ``assert_type`` must hold in both checkers. Lines in ``mismatches``
must be errors: their ignore comments fail the checkers (mypy's
``warn_unused_ignores``, pyright's ``reportUnnecessaryTypeIgnoreComment``)
if the error ever disappears.
"""

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar, assert_type

from paipa import Chain, Pipeline, Processor, RunResult, Step, chunk, flatten, step

A = TypeVar("A")
B = TypeVar("B")


@step.map
def to_text(x: int) -> str:
    return str(x)


@step
def lengths(items: Iterable[str]) -> Iterator[int]:
    for item in items:
        yield len(item)


@step.filter
def nonempty(text: str) -> bool:
    return bool(text)


@step.flat_map
def characters(text: str) -> list[str]:
    return list(text)


@step.map(name="halve", workers=4, ordered=False)
def halve(x: int) -> float:
    return x / 2


@step.map
def scale(x: int, *, factor: int) -> int:
    return x * factor


@step(name="tagged")
def tag(items: Iterable[float]) -> Iterator[tuple[str, float]]:
    for item in items:
        yield ("value", item)


class Lookup(Processor[int, bytes]):
    def process(self, item: int) -> bytes:
        return bytes(item)


lookup_step = step(Lookup)


def sources() -> None:
    assert_type(Pipeline(range(3)), Pipeline[int])
    assert_type(Pipeline(["a"]), Pipeline[str])
    assert_type(Pipeline(lambda: [1.5]), Pipeline[float])
    assert_type(Pipeline(x for x in "ab"), Pipeline[str])


def item_types(value: Step[A, B]) -> tuple[A, B]:
    """The types a step takes and gives (a step's own type also holds its call signature)."""
    raise NotImplementedError


def decorators() -> None:
    assert_type(item_types(to_text), tuple[int, str])
    assert_type(item_types(lengths), tuple[str, int])
    assert_type(item_types(nonempty), tuple[str, str])
    assert_type(item_types(characters), tuple[str, str])
    assert_type(item_types(halve), tuple[int, float])
    assert_type(item_types(scale), tuple[int, int])
    assert_type(item_types(tag), tuple[float, tuple[str, float]])
    # Steps built without a function's signature say what their call returns.
    assert_type(step(Lookup), Step[int, bytes, ..., object])
    assert_type(scale.partial(factor=2), Step[int, int, ..., object])
    assert_type(item_types(to_text.with_options(workers=2)), tuple[int, str])


def direct_calls() -> None:
    # Steps keep their function's signature: direct calls are typed as without @step.
    assert_type(to_text(3), str)
    assert_type(nonempty("x"), bool)
    assert_type(scale(2, factor=3), int)
    assert_type(lengths(["a"]), Iterator[int])


def chains() -> None:
    pipeline = Pipeline(range(3)) | to_text | nonempty | characters | lengths
    assert_type(pipeline, Pipeline[int])
    assert_type(Pipeline(range(3)) | to_text, Pipeline[str])
    assert_type(to_text | lengths, Chain[int, int])
    assert_type(to_text | nonempty | lengths, Chain[int, int])
    assert_type((to_text | nonempty) | (characters | lengths), Chain[int, int])
    assert_type(Pipeline(range(3)) | (to_text | lengths), Pipeline[int])
    assert_type(Pipeline(range(3)) | halve | tag, Pipeline[tuple[str, float]])
    assert_type(Pipeline([1]) | Lookup, Pipeline[bytes])
    assert_type(Pipeline(range(3)) | chunk(2), Pipeline[list[int]])
    assert_type(Pipeline(range(3)) | chunk(2) | flatten, Pipeline[int])
    assert_type(Pipeline([[1], [2]]) | itertools.chain.from_iterable, Pipeline[int])
    assert_type(Pipeline(range(3)) | sorted, Pipeline[int])
    assert_type(to_text | chunk(2), Chain[int, list[str]])


def running() -> None:
    pipeline = Pipeline(range(3)) | to_text
    assert_type(pipeline.collect(), list[str])
    assert_type(pipeline.run(), RunResult)
    for text in pipeline:
        assert_type(text, str)
    assert_type((to_text | lengths)([1, 2]), Iterator[int])


def mismatches() -> None:
    Pipeline(range(3)) | nonempty  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    Pipeline(range(3)) | lengths  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    to_text | to_text  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    Pipeline(["a"]) | chunk(2) | to_text  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    Pipeline(range(3)) | (characters | lengths)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    Pipeline(["a"]) | lookup_step  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    to_text("three")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Pipeline(42)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    chunk("2")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    halve.with_options(wokers=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
