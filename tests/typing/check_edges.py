# pyright: reportUnusedExpression=false, reportMissingTypeStubs=false
"""The edges of the chain typing (issue 13), one section per observation.

Checked by tests/typing/test_type_checkers.py under pyright strict and mypy
strict. Every case is one line, marked at its end:

- ``assert_type(...)`` holds in both checkers (``# case: typed``);
- ``name: T = expression`` is accepted by both, where the checkers differ in
  precision (``# case: accepted``);
- ``assert_type(...)`` under ``if MYPY:`` (mypy's branch) and its ``else:``
  (pyright's) where the checkers infer different types, each pinned
  (``# case: typed``);
- an ignore comment for each checker that must report an error
  (``# case: error``); the ignore comments fail the checkers if the error ever
  disappears (mypy's ``warn_unused_ignores``, pyright's
  ``reportUnnecessaryTypeIgnoreComment``);
- ``# case: pyright error`` for an error in pyright that mypy accepts (toolz,
  which mypy types ``Any``);
- ``# case: missed`` for a mistake neither checker reports at its line, pinned
  to the type they give it (docs/typing.md lists these).
"""

import functools
import itertools
import json
import queue
from collections.abc import Callable, Iterable, Iterator, Sized
from types import UnionType
from typing import Any, TypeVar, assert_type, cast

import more_itertools
import toolz.curried as tc  # type: ignore[import-untyped]

from paipa import (
    BackgroundRun,
    Chain,
    Pipeline,
    ProcessBackend,
    Processor,
    Step,
    chunk,
    combine_pipeline,
    flatten,
    step,
)

T = TypeVar("T")
MYPY = False  # mypy reads any name MYPY as true; pyright false (pyproject.toml): one branch each


@step.map
def to_text(x: int) -> str:
    return str(x)


@step.map
def double(x: int) -> int:
    return 2 * x


@step.map
def scale(x: int, *, factor: int = 1) -> int:
    return x * factor


@step.filter
def nonempty(text: str) -> bool:
    return bool(text)


@step.flat_map
def characters(text: str) -> list[str]:
    return list(text)


@step
def lengths(items: Iterable[str]) -> Iterator[int]:
    for item in items:
        yield len(item)


@step
def passthrough(items: Iterable[T]) -> Iterator[T]:
    yield from items


@step.map
def send(batch: list[int]) -> list[int]:
    return batch


class Lookup(Processor[int, str]):
    def __init__(self, dsn: str = "memory") -> None:
        self.dsn = dsn

    def process(self, item: int) -> str:
        return f"{self.dsn}:{item}"


@step
class Upper(Processor[str, str]):
    def process(self, item: str) -> str:
        return item.upper()


def odd(n: int) -> bool:
    return n % 2 == 1


def square(n: int) -> int:
    return n * n


def plain_lengths(items: Iterable[str]) -> Iterator[int]:
    return (len(item) for item in items)


@step.map
def size(items: Sized) -> int:
    return len(items)


def plain_objects(items: Iterable[object]) -> Iterator[int]:
    return (item for item in items if isinstance(item, int))


def observation_1_toolz() -> None:
    # pyright types curried toolz calls as `object | curry`, which | cannot take
    # without also taking any object (a forgotten @step.map, len, print): an
    # error under pyright. mypy types them Any: accepted, and Any after them.
    Pipeline(range(20)) | tc.filter(odd)  # pyright: ignore[reportOperatorIssue]  # case: pyright error
    to_text | tc.take(2)  # pyright: ignore[reportOperatorIssue]  # case: pyright error
    tc.take(2) | to_text  # pyright: ignore[reportOperatorIssue]  # case: pyright error
    (to_text | lengths) | tc.take(2)  # pyright: ignore[reportOperatorIssue]  # case: pyright error
    tc.take(2) | (to_text | lengths)  # pyright: ignore[reportOperatorIssue]  # case: pyright error
    # The documented form: say what the toolz step does with a cast, checked in both.
    keep_odd = cast("Callable[[Iterable[int]], Iterator[int]]", tc.filter(odd))
    assert_type(Pipeline(range(20)) | keep_odd, Pipeline[int])  # case: typed
    assert_type(Pipeline(range(20)) | keep_odd | to_text, Pipeline[str])  # case: typed
    Pipeline(["a"]) | keep_odd  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    pairs = cast("Callable[[Iterable[int]], Iterator[tuple[int, ...]]]", tc.partition_all(2))
    assert_type(Pipeline(range(3)) | pairs, Pipeline[tuple[int, ...]])  # case: typed
    if MYPY:
        assert_type(Pipeline(range(3)) | tc.take(2), Any)  # case: typed
        assert_type(to_text | tc.take(2), Any)  # case: typed


def observation_2_call_signature() -> None:
    assert_type(to_text(3), str)  # case: typed
    assert_type(to_text(x=3), str)  # case: typed
    assert_type(scale(2, factor=3), int)  # case: typed
    assert_type(scale(2), int)  # case: typed
    assert_type(nonempty("x"), bool)  # case: typed
    assert_type(characters("ab"), list[str])  # case: typed
    assert_type(lengths(["a"]), Iterator[int])  # case: typed
    assert_type(to_text.with_options(workers=2)(3), str)  # case: typed
    to_text(3, extra=1)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]  # case: error
    to_text("three")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error
    scale(2, 3)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]  # case: error
    scale(2, factor="3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error
    lengths([1])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]  # case: error
    to_text()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]  # case: error


def observation_3_lists() -> None:
    # A list of steps cannot carry one element type per position: Any, documented.
    assert_type(Pipeline(range(3)) | [double, to_text], Pipeline[Any])  # case: typed
    assert_type(combine_pipeline(range(3), [double]), Iterator[Any])  # case: typed
    # The precise forms: a chain, or a step after step.
    assert_type(Pipeline(range(3)) | (double | to_text), Pipeline[str])  # case: typed
    assert_type(Pipeline(range(3)) | double | to_text, Pipeline[str])  # case: typed
    Pipeline(range(3)) | (to_text | to_text)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error


def observation_4_classes() -> None:
    assert_type(Pipeline([1]) | Lookup, Pipeline[str])  # case: typed
    assert_type(double | Lookup, Chain[int, str])  # case: typed
    assert_type(step(Lookup) | nonempty, Chain[int, str])  # case: typed
    # A class that does not fit falls to type.__or__, the `X | Y` union syntax,
    # in both checkers (as before issue 13): a UnionType, an error only at run time.
    assert_type(Pipeline(["a"]) | Lookup, UnionType | type[Lookup])  # case: missed
    assert_type(to_text | Lookup, UnionType | type[Lookup])  # case: missed
    Pipeline(["a"]) | step(Lookup)  # type: ignore[arg-type]  # pyright: ignore[reportOperatorIssue]  # case: error


def observation_5_partial() -> None:
    with_dsn = functools.partial(Lookup, dsn="db")
    assert_type(Pipeline([1]) | with_dsn, Pipeline[str])  # case: typed
    assert_type(double | with_dsn, Chain[int, str])  # case: typed
    assert_type(step(Lookup).partial(dsn="db"), Step[int, str, ..., object])  # case: typed
    Pipeline(["a"]) | scale.partial(factor=10)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    assert_type(Pipeline([1]) | scale.partial(factor=10), Pipeline[int])  # case: typed
    Pipeline([1]) | functools.partial(scale, factor=10)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(["a"]) | with_dsn  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    functools.partial(scale, factor="10")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error


def observation_6_generic() -> None:
    if MYPY:  # mypy cannot keep a decorated value generic: Step[Any, Any]
        assert_type(Pipeline(range(3)) | passthrough, Pipeline[Any])  # case: typed
        assert_type(Pipeline(range(3)) | passthrough | to_text, Pipeline[str])  # case: typed
    else:
        assert_type(Pipeline(range(3)) | passthrough, Pipeline[int])  # case: typed
        assert_type(Pipeline(range(3)) | passthrough | to_text, Pipeline[str])  # case: typed
    assert_type(chunk(2) | send, Chain[int, list[int]])  # case: typed
    assert_type(sorted | to_text, Chain[int, str])  # case: typed
    assert_type(flatten | to_text, Chain[Iterable[int], str])  # case: typed
    assert_type(Pipeline(range(3)) | sorted | to_text, Pipeline[str])  # case: typed
    assert_type(Pipeline(range(3)) | chunk(2) | send | flatten, Pipeline[int])  # case: typed
    assert_type(chunk(2) | (send | flatten), Chain[int, int])  # case: typed
    assert_type(chunk(2) | size, Chain[object, int])  # case: typed
    chunk(2) | to_text  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    # A callable in front keeps its own input type.
    assert_type(plain_objects | to_text, Chain[object, str])  # case: typed
    assert_type(Pipeline(["a", 1]) | (plain_objects | to_text), Pipeline[str])  # case: typed


def observation_7_processor_steps() -> None:
    # A Processor step's call (it builds the processor) is typed object, not an
    # iterable, so a step of the wrong type cannot pass for a plain callable in |.
    assert_type(Upper.with_options(workers=2), Step[str, str, ..., object])  # case: typed
    assert_type(Lookup.with_options(workers=2), Step[int, str, ..., object])  # case: typed
    assert_type(Pipeline(["a"]) | Upper, Pipeline[str])  # case: typed
    assert_type(step(Lookup), Step[int, str, ..., object])  # case: typed
    Pipeline(["a"]) | Lookup.with_options(workers=2)  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Lookup.with_options(wokers=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]  # case: error


def observation_8_fed() -> None:
    # A fed pipeline's type is the type of its results; put() is not checked.
    assert_type(Pipeline(), Pipeline[Any])  # case: typed
    assert_type(Pipeline[int](), Pipeline[int])  # case: typed
    fed: Pipeline[int] = Pipeline()  # case: accepted
    assert_type(fed, Pipeline[int])  # case: typed
    assert_type(fed | to_text, Pipeline[str])  # case: typed
    assert_type((Pipeline[int]() | to_text).start(), BackgroundRun[str])  # case: typed
    assert_type(fed.start(discard_outputs=True), BackgroundRun[int])  # case: typed
    Pipeline[str]() | to_text  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    inbox: queue.Queue[int] = queue.Queue()
    assert_type(Pipeline(inbox), Pipeline[int])  # case: typed
    Pipeline(inbox) | nonempty  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    with (Pipeline(inbox) | to_text).start() as run:
        assert_type(run, BackgroundRun[str])  # case: typed


def observation_9_options() -> None:
    threaded: Step[str, int] = step(workers=2)(plain_lengths)  # case: accepted
    assert_type(step(workers=2)(plain_lengths)(["a"]), Iterator[int])  # case: typed
    step(retries=3)(plain_lengths)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error
    assert_type(step(retries=3)(Lookup), Step[int, str, ..., object])  # case: typed
    assert_type(step.map(square, retries=3, backoff=0.5)(2), int)  # case: typed
    retried: Step[int, int] = step.map(square, retries=3, backoff=0.5)  # case: accepted
    del threaded, retried
    step.map(square, retries="3")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]  # case: error
    step.map(square, backend="processes")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]  # case: error


def dropped(n: int) -> None:
    print(n)


def loose(n: int) -> Any:
    return n


def observation_9_filters() -> None:
    assert_type(Pipeline([1, 2]) | step.filter(odd), Pipeline[int])  # case: typed
    # Filters are typed by their item, whatever they return (Any, None, bool).
    if MYPY:
        assert_type(Pipeline(["1"]) | step.filter(json.loads), Pipeline[str])  # case: typed
    else:  # the filter's own parameter type
        assert_type(
            Pipeline(["1"]) | step.filter(json.loads), Pipeline[str | bytes | bytearray]
        )  # case: typed
    assert_type(Pipeline([1]) | step.filter(loose), Pipeline[int])  # case: typed
    assert_type(Pipeline([1]) | step.filter(dropped), Pipeline[int])  # case: missed


def observation_10_stdlib() -> None:
    assert_type(Pipeline(range(3)) | enumerate, Pipeline[tuple[int, int]])  # case: typed
    assert_type(Pipeline(range(3)) | itertools.accumulate, Pipeline[int])  # case: typed
    assert_type(to_text | enumerate, Chain[int, tuple[int, str]])  # case: typed
    assert_type(double | itertools.accumulate, Chain[int, int])  # case: typed
    Pipeline(range(3)) | itertools.chain.from_iterable  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    chunked = Pipeline(range(9)) | functools.partial(more_itertools.chunked, n=4)
    if MYPY:  # mypy's partial loses the type variable
        assert_type(chunked, Pipeline[list[Any]])  # case: typed
    else:
        assert_type(chunked, Pipeline[list[int]])  # case: typed
    assert_type(Pipeline([[1], [2]]) | itertools.chain.from_iterable, Pipeline[int])  # case: typed
    assert_type(Pipeline(range(3)) | more_itertools.unique_everseen, Pipeline[int])  # case: typed


def chars(text: str) -> list[str]:
    return list(text)


def generated_chars(text: str) -> Iterator[str]:
    yield from text


def inline_steps() -> None:
    # Decorators called inside a chain: the element type comes from the function.
    assert_type(Pipeline(["1"]) | step.map(int), Pipeline[int])  # case: typed
    assert_type(Pipeline(["a"]) | step.map(str.upper), Pipeline[str])  # case: typed
    assert_type(Pipeline(["ab"]) | step.map(len), Pipeline[int])  # case: typed
    assert_type(Pipeline(["ab"]) | step.filter(str.isalpha), Pipeline[str])  # case: typed
    assert_type(Pipeline(["ab"]) | step.flat_map(chars), Pipeline[str])  # case: typed
    assert_type(Pipeline(["ab"]) | step.flat_map(generated_chars), Pipeline[str])  # case: typed
    assert_type(Pipeline(["ab"]) | step(plain_lengths), Pipeline[int])  # case: typed
    assert_type(Pipeline(["ab"]) | step.map(workers=2)(len), Pipeline[int])  # case: typed
    # Overloaded and generic builtins: precise or Any, never an error.
    assert_type(Pipeline([[2, 1]]) | step.map(sorted), Pipeline[list[Any]])  # case: typed
    assert_type(Pipeline([[1]]) | step.map(set), Pipeline[set[int]])  # case: typed
    assert_type(Pipeline([[1, 2]]) | step.map(max), Pipeline[Any])  # case: typed
    if MYPY:
        assert_type(Pipeline([[1]]) | step.map(tuple), Pipeline[tuple[Any, ...]])  # case: typed
        assert_type(Pipeline([-1]) | step.map(abs), Pipeline[Any])  # case: typed
    else:
        assert_type(Pipeline([[1]]) | step.map(tuple), Pipeline[tuple[int, ...]])  # case: typed
        assert_type(Pipeline([-1]) | step.map(abs), Pipeline[int])  # case: typed
    assert_type(step.flat_map(chars)("ab"), list[str])  # case: typed
    assert_type(step.flat_map(generated_chars)("ab"), Iterator[str])  # case: typed
    Pipeline([1]) | step.map(str.upper)  # type: ignore[arg-type]  # pyright: ignore[reportOperatorIssue]  # case: error


def backends() -> None:
    on_processes = step.map(square, workers=2, backend="process")
    assert_type(on_processes(3), int)  # case: typed
    assert_type(Pipeline(range(3)) | on_processes, Pipeline[int])  # case: typed
    spawned = step.map(len, workers=2, backend=ProcessBackend(start_method="spawn"))
    assert_type(Pipeline(["ab"]) | spawned, Pipeline[int])  # case: typed
    assert_type(
        Pipeline([1]) | double.with_options(workers=2, backend="process"), Pipeline[int]
    )  # case: typed
    moved = (Pipeline(range(3)) | double | to_text).with_backend("process")
    assert_type(moved, Pipeline[str])  # case: typed
    assert_type(moved.with_backend(ProcessBackend()), Pipeline[str])  # case: typed

    @step.map(workers=2, backend="process")
    def cube(x: int) -> int:
        return x**3

    assert_type(cube(x=2), int)  # case: typed
    moved.with_backend("processes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error
    double.with_options(backend="gpu")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]  # case: error


def other_mistakes() -> None:
    Pipeline(range(3)) | "text"  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(range(3)) | 42  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(range(3)) | Pipeline(range(3))  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(range(3)) | Lookup()  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(range(3)) | plain_lengths  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    plain_lengths | nonempty  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    Pipeline(range(3)) | nonempty  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
    to_text | double  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]  # case: error
