"""Plain callables from toolz, itertools and more-itertools are steps without wrappers."""

import functools
import itertools
import operator
from collections.abc import Iterable, Iterator

import more_itertools
import toolz
import toolz.curried as tc

import paipa
from paipa import Pipeline, step


def test_toolz_curried_functions() -> None:
    pipeline = (
        Pipeline(range(10))
        | tc.map(lambda x: x * 3)
        | tc.filter(lambda x: x % 2 == 0)
        | tc.partition_all(2)
        | tc.map(sum)
    )
    assert pipeline.collect() == [6, 30, 24]
    assert [s.name for s in pipeline.steps][:1] == ["map(<lambda>)"]
    assert pipeline.steps[2].name == "partition_all(2)"


def test_toolz_plain_functions_through_partial() -> None:
    pipeline = Pipeline([3, 1, 3, 2, 1]) | toolz.unique | functools.partial(toolz.take, 2)
    assert pipeline.collect() == [3, 1]


def test_itertools_helpers() -> None:
    pipeline = (
        Pipeline([[1, 2], [3]])
        | itertools.chain.from_iterable
        | functools.partial(itertools.accumulate, func=operator.mul)
    )
    assert pipeline.collect() == [1, 2, 6]
    assert (Pipeline(range(10)) | (lambda it: itertools.islice(it, 2, 4))).collect() == [2, 3]


def test_more_itertools_helpers() -> None:
    pipeline = (
        Pipeline([1, 1, 2, 3, 3])
        | more_itertools.unique_justseen
        | functools.partial(more_itertools.chunked, n=2)
    )
    assert pipeline.collect() == [[1, 2], [3]]
    assert (Pipeline(range(5)) | more_itertools.pairwise).collect()[:2] == [(0, 1), (1, 2)]


def test_builtins_and_callable_objects() -> None:
    class Every:
        def __init__(self, n: int) -> None:
            self.n = n

        def __call__(self, items: Iterable[int]) -> Iterator[int]:
            return itertools.islice(items, 0, None, self.n)

    assert (Pipeline([3, 1, 2]) | sorted | Every(2)).collect() == [1, 3]
    assert (Pipeline([3, 1, 2]) | Every(2)).steps[0].name == "Every"


def test_seed_style_object_with_process_method() -> None:
    class Upper:
        def process(self, iterator: Iterable[str]) -> Iterator[str]:
            for text in iterator:
                yield text.upper()

    assert (Pipeline(["a"]) | Upper()).collect() == ["A"]
    assert list(paipa.combine_pipeline(["b"], [Upper()])) == ["B"]


def test_mixing_plain_callables_and_steps() -> None:
    double = step.map(lambda x: 2 * x)
    chain = tc.filter(bool) | double | tc.take(2)
    assert list(chain([0, 1, 0, 2, 3])) == [2, 4]
