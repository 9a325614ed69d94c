"""Building, running and explaining pipelines and chains."""

from collections.abc import Iterable, Iterator

import pytest

from paipa import Chain, Pipeline, RunResult, chunk, flatten, step


@step.map
def double(x: int) -> int:
    return 2 * x


@step.filter
def odd(x: int) -> bool:
    return x % 2 == 1


@step
def running_total(numbers: Iterable[int]) -> Iterator[int]:
    total = 0
    for number in numbers:
        total += number
        yield total


def test_iterable_source_runs_again() -> None:
    pipeline = Pipeline([1, 2, 3]) | double
    assert pipeline.collect() == [2, 4, 6]
    assert list(pipeline) == [2, 4, 6]
    assert pipeline.run().items == 3


def test_one_shot_iterator_source_refuses_a_second_run() -> None:
    pipeline = Pipeline(iter([1, 2])) | double
    assert pipeline.collect() == [2, 4]
    with pytest.raises(RuntimeError, match=r"one-shot iterator .* Pipeline\(lambda"):
        pipeline.collect()


def test_one_shot_is_shared_by_pipelines_built_from_the_same_source() -> None:
    base = Pipeline(x for x in range(3))
    first, second = base | double, base | odd
    assert first.collect() == [0, 2, 4]
    with pytest.raises(RuntimeError, match="one-shot"):
        second.collect()


def test_callable_source_is_called_afresh_at_each_run() -> None:
    calls: list[int] = []

    def numbers() -> Iterator[int]:
        calls.append(1)
        yield from range(3)

    pipeline = Pipeline(numbers) | double
    assert pipeline.collect() == [0, 2, 4]
    assert pipeline.collect() == [0, 2, 4]
    assert len(calls) == 2


def test_iteration_streams_lazily() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for number in range(1_000_000):
            pulled.append(number)
            yield number

    results = iter(Pipeline(source) | double | running_total)
    assert [next(results), next(results)] == [0, 2]
    assert len(pulled) == 2
    results.close()


def test_composition_forms() -> None:
    chain = double | odd  # nothing is odd after doubling
    assert isinstance(chain, Chain)
    assert (Pipeline([1, 2]) | chain).collect() == []
    longer = (odd | double) | (running_total | double)
    assert [s.name for s in longer.steps] == ["odd", "double", "running_total", "double"]
    assert (Pipeline(range(6)) | longer).collect() == [4, 16, 36]
    assert (Pipeline(range(4)) | [double, [running_total, [double]]]).collect() == [0, 4, 12, 24]


def test_plain_callable_in_front_of_a_step() -> None:
    def first_three(items: Iterable[int]) -> Iterator[int]:
        for index, item in enumerate(items):
            if index == 3:
                return
            yield item

    chain = first_three | double
    assert [s.name for s in chain.steps] == ["first_three", "double"]
    assert list(chain(range(10))) == [0, 2, 4]


def test_pipelines_and_chains_are_immutable_values() -> None:
    base = Pipeline([1, 2, 3])
    doubled = base | double
    assert base.steps == ()
    assert doubled.steps == (double,)
    chain = Chain(double)
    longer = chain | odd
    assert chain.steps == (double,)
    assert longer.steps == (double, odd)


def test_chain_is_reusable_and_callable() -> None:
    chain = odd | double
    assert list(chain([1, 2, 3])) == [2, 6]
    assert list(chain(iter([5]))) == [10]
    assert (Pipeline([7]) | chain).collect() == [14]


def test_empty_pipeline_passes_items_through() -> None:
    assert Pipeline("abc").collect() == ["a", "b", "c"]


def test_run_reports_items_and_time() -> None:
    result = (Pipeline(range(10)) | chunk(3) | flatten | odd).run()
    assert isinstance(result, RunResult)
    assert result.items == 5
    assert result.seconds >= 0
    assert result.rate >= 0


def test_explain_shows_fused_and_nested_steps() -> None:
    pipeline = Pipeline(range(3)) | running_total | double | odd | chunk(2) | flatten
    text = pipeline.explain()
    assert text.splitlines()[0] == "source: range (iterable)"
    assert "stage 1: inline in the caller's thread, 5 steps" in text
    assert "1.  running_total  iterator  nested generator" in text
    assert "2.  double         map       fused loop A" in text
    assert "3.  odd            filter    fused loop A" in text
    assert "4.  chunk(2)       iterator  nested generator" in text
    assert "worker" not in text
    threaded = Pipeline([1]) | odd | double.with_options(workers=4, queue_size=64) | running_total
    assert threaded.explain().splitlines()[1:] == [
        "stage 1: inline in the feeder thread with the source, 1 step",
        "  1.  odd  filter  fused loop A",
        "stage 2: 4 worker threads, ordered, fed by a queue of 64 items",
        "  2.  double  map  its own threads",
        "stage 3: inline in the caller's thread, 1 step",
        "  3.  running_total  iterator  nested generator",
    ]
    assert "no steps" in Pipeline([1]).explain()
    assert (odd | double).explain().startswith("source: (none, a reusable chain)")


def test_reprs() -> None:
    assert repr(Pipeline([1]) | double | odd) == "<paipa.Pipeline list | double | odd>"
    assert repr(double | odd) == "<paipa.Chain double | odd>"


def closing_source(closed: list[str]) -> Iterator[int]:
    try:
        yield from range(100)
    finally:
        closed.append("source")


def test_consumer_stopping_early_closes_every_generator() -> None:
    closed: list[str] = []

    @step
    def watched(items: Iterable[int]) -> Iterator[int]:
        try:
            for item in items:  # noqa: UP028 - unlike yield from, this does not forward close()
                yield item
        finally:
            closed.append("watched")

    results = iter(Pipeline(closing_source(closed)) | watched | double | watched)
    assert next(results) == 0
    results.close()
    assert closed == ["watched", "watched", "source"]  # downstream first


def test_collect_closes_generators_after_an_error() -> None:
    closed: list[str] = []

    @step.map
    def fail_at_five(x: int) -> int:
        if x == 5:
            raise ArithmeticError(x)
        return x

    with pytest.raises(ArithmeticError):
        (Pipeline(closing_source(closed)) | fail_at_five).collect()
    assert closed == ["source"]


def test_many_consecutive_flat_maps_fuse_into_several_loops() -> None:
    # Regression: a single generated loop nests two blocks per flat_map, and
    # CPython refuses more than 20 nested blocks (SyntaxError at compile time).
    twice = step.flat_map(lambda x: [x, x])
    pipeline = Pipeline([1]) | [twice] * 14 | odd
    assert pipeline.collect() == [1] * 2**14
    loops = [line for line in pipeline.explain().splitlines() if "fused loop" in line]
    assert {line.split("fused loop ")[1] for line in loops} == {"A", "B", "C"}
