"""Property: a compiled pipeline gives exactly what applying its functions by hand gives."""

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import toolz.curried as tc
from conftest import Engine, EngineSteps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paipa import Chain, Pipeline, Processor, Skip, chunk, combine_pipeline, flatten, step


def skip_multiples_of_five(x: int) -> int:
    if x % 5 == 0:
        raise Skip
    return x + 1


class Offset(Processor[int, int]):
    def process(self, item: int) -> int:
        return item - 7


def running_sum(items: Iterable[int]) -> Iterator[int]:
    total = 0
    for item in items:
        total += item
        yield total


def last_three_reversed(items: Iterable[int]) -> list[int]:
    return list(items)[-3:][::-1]


@dataclass(frozen=True)
class Case:
    """A step and the plain function that computes what it should produce."""

    label: str
    step: object
    reference: Callable[[list[int]], list[int]]

    def __repr__(self) -> str:
        return self.label


def reference_map(function: Callable[[int], int]) -> Callable[[list[int]], list[int]]:
    def apply(items: list[int]) -> list[int]:
        results = []
        for item in items:
            try:
                results.append(function(item))
            except Skip:
                pass
        return results

    return apply


CASES = [
    Case("map double", step.map(lambda x: 2 * x), lambda xs: [2 * x for x in xs]),
    Case("map skip", step.map(skip_multiples_of_five), reference_map(skip_multiples_of_five)),
    Case("process offset", Offset, lambda xs: [x - 7 for x in xs]),
    Case(
        "filter even", step.filter(lambda x: x % 2 == 0), lambda xs: [x for x in xs if x % 2 == 0]
    ),
    Case("filter positive", step.filter(lambda x: x > 0), lambda xs: [x for x in xs if x > 0]),
    Case(
        "flat_map repeat",
        step.flat_map(lambda x: [x] * (x % 3)),
        lambda xs: [y for x in xs for y in [x] * (x % 3)],
    ),
    Case(
        "flat_map range",
        step.flat_map(lambda x: range(x % 4)),
        lambda xs: [y for x in xs for y in range(x % 4)],
    ),
    Case("iterator running sum", step(running_sum), lambda xs: list(running_sum(xs))),
    Case("plain last three", last_three_reversed, last_three_reversed),
    Case("chunk|flatten", [chunk(3), flatten], lambda xs: xs),
    Case(
        "chunk|map len",
        [chunk(2), tc.map(len)],
        lambda xs: [len(xs[i : i + 2]) for i in range(0, len(xs), 2)],
    ),
    Case("toolz map", tc.map(lambda x: x - 1), lambda xs: [x - 1 for x in xs]),
    Case("islice", lambda it: itertools.islice(it, 5), lambda xs: xs[:5]),
]

chains = st.lists(st.sampled_from(CASES), max_size=6)
numbers = st.lists(st.integers(min_value=-50, max_value=50), max_size=40)


def by_hand(cases: list[Case], items: list[int]) -> list[int]:
    for case in cases:
        items = case.reference(items)
    return items


# The engine fixture is a pure function: sharing it across examples is safe.
shared_engine = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@shared_engine
@given(chains, numbers)
def test_pipeline_matches_hand_application(
    thread_engine: Engine, cases: list[Case], items: list[int]
) -> None:
    check_matches_hand_application(thread_engine, cases, items)


# Each example starts worker processes (tens of ms): fewer examples.
@settings(max_examples=10, deadline=None)
@given(chains, numbers)
def test_pipeline_in_processes_matches_hand_application(
    cases: list[Case], items: list[int]
) -> None:
    check_matches_hand_application(EngineSteps("processes-2"), cases, items)


def check_matches_hand_application(engine: Engine, cases: list[Case], items: list[int]) -> None:
    expected = by_hand(cases, items)
    pipeline: Pipeline[Any] = Pipeline(items) | engine([case.step for case in cases])
    assert pipeline.collect() == expected
    assert list(pipeline) == expected
    assert pipeline.run().items == len(expected)


@shared_engine
@given(chains, numbers)
def test_sources_and_entry_points_agree(
    thread_engine: Engine, cases: list[Case], items: list[int]
) -> None:
    expected = by_hand(cases, items)
    steps = thread_engine([case.step for case in cases])
    assert (Pipeline(iter(items)) | steps).collect() == expected
    assert (Pipeline(lambda: (x for x in items)) | steps).collect() == expected
    assert list(Chain(steps)(items)) == expected
    assert list(combine_pipeline(items, steps)) == expected


@given(chains, chains, numbers)
def test_composition_is_associative(left: list[Case], right: list[Case], items: list[int]) -> None:
    left_chain: Chain[Any, Any] = Chain(*[case.step for case in left])
    right_chain: Chain[Any, Any] = Chain(*[case.step for case in right])
    expected = by_hand(left + right, items)
    assert (Pipeline(items) | left_chain | right_chain).collect() == expected
    assert (Pipeline(items) | (left_chain | right_chain)).collect() == expected
