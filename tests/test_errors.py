"""Bad input is refused when given; errors from steps keep their identity and name the step."""

import traceback
from collections.abc import Iterable, Iterator

import pytest
import toolz.curried as tc

from paipa import Pipeline, chunk, combine_pipeline, consume, step


@pytest.mark.parametrize(
    ("make", "error", "named"),
    [
        (lambda: Pipeline(42), TypeError, "got 42 \\(int\\)"),  # type: ignore[call-overload]
        (lambda: Pipeline([1]) | 42, TypeError, "cannot use 42 \\(int\\) as a pipeline step"),  # type: ignore[operator]
        (lambda: Pipeline([1]) | "text", TypeError, "cannot use 'text' \\(str\\)"),  # type: ignore[operator]
        (lambda: Pipeline([1]) | [len, None], TypeError, "cannot use None"),
        (lambda: Pipeline([1]) | Pipeline([2]), TypeError, "has a source of its own"),  # type: ignore[operator]
        (lambda: chunk(0), ValueError, "chunk size must be at least 1, got 0"),
        (lambda: chunk(-3), ValueError, "got -3"),
        (lambda: chunk(2.5), TypeError, "got 2.5 \\(float\\)"),  # type: ignore[arg-type]
        (lambda: consume([], -1), ValueError, "got -1"),
        (lambda: combine_pipeline([1], [object()]), TypeError, "cannot use <object"),
    ],
)
def test_bad_input_is_refused_at_once(make: object, error: type[Exception], named: str) -> None:
    assert callable(make)
    with pytest.raises(error, match=named):
        make()


def test_source_callable_returning_a_non_iterable_names_the_source() -> None:
    pipeline = Pipeline(lambda: 5)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="the source '<lambda>' returned 5 \\(int\\)"):
        pipeline.collect()


def test_step_returning_a_non_iterable_names_the_step() -> None:
    def broken(items: Iterable[int]) -> int:
        return 3

    pipeline = Pipeline([1]) | broken  # type: ignore[operator]
    with pytest.raises(TypeError, match="step 'broken' returned 3 \\(int\\), expected an iterable"):
        pipeline.collect()


class Boom(Exception):
    pass


ERROR = Boom("boom")


def raise_error(*_: object) -> None:
    raise ERROR


@step.map
def fails(x: int) -> int:
    if x == 2:
        raise_error()
    return x


@step.filter
def fails_filter(x: int) -> bool:
    if x == 2:
        raise_error()
    return True


@step.flat_map
def fails_flat(x: int) -> Iterator[int]:
    yield x
    if x == 2:
        raise_error()


@step
def fails_iterator(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        if item == 2:
            raise_error()
        yield item


@step
def fails_on_call(items: Iterable[int]) -> Iterable[int]:
    raise_error()
    return items


@step
def passthrough(items: Iterable[int]) -> Iterator[int]:
    yield from items


@pytest.mark.parametrize(
    ("failing", "kind"),
    [
        (fails, "map"),
        (fails_filter, "filter"),
        (fails_flat, "flat_map"),
        (fails_iterator, "iterator"),
        (fails_on_call, "iterator"),
        (step(tc.map(lambda x: raise_error() if x == 2 else x), name="tz"), "iterator"),
    ],
)
@pytest.mark.parametrize("run", ["collect", "iterate", "run"])
def test_error_reaches_the_caller_unchanged_with_a_note_naming_the_step(
    failing: object, kind: str, run: str
) -> None:
    ERROR.__notes__ = []
    pipeline = Pipeline(range(5)) | passthrough | failing | passthrough
    with pytest.raises(Boom) as caught:
        if run == "collect":
            pipeline.collect()
        elif run == "iterate":
            list(pipeline)
        else:
            pipeline.run()
    assert caught.value is ERROR
    name = getattr(failing, "name", "")
    assert ERROR.__notes__ == [f"paipa: raised in step {name!r} (2 of 3, {kind})"]
    innermost = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert innermost.name == "raise_error"


def test_error_in_source_generator_names_the_source() -> None:
    def rows() -> Iterator[int]:
        yield 1
        raise ConnectionError("db went away")

    with pytest.raises(ConnectionError) as caught:
        (Pipeline(rows) | passthrough | fails).collect()
    assert caught.value.__notes__ == ["paipa: raised in the source 'rows'"]


def test_error_in_source_factory_call_names_the_source() -> None:
    def connect() -> list[int]:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError) as caught:
        (Pipeline(connect) | passthrough).collect()
    assert caught.value.__notes__ == ["paipa: raised in the source 'connect'"]


def test_error_in_a_custom_iterator_source_names_the_source() -> None:
    class Cursor:
        def __iter__(self) -> "Cursor":
            return self

        def __next__(self) -> int:
            raise ConnectionResetError("lost")

    with pytest.raises(ConnectionResetError) as caught:
        (Pipeline(Cursor()) | passthrough).collect()
    assert caught.value.__notes__ == ["paipa: raised in the source 'Cursor'"]


def test_same_step_twice_is_told_apart_by_position() -> None:
    @step.map
    def inverse(x: float) -> float:
        return 1 / x

    with pytest.raises(ZeroDivisionError) as caught:
        (Pipeline([2, 1, 0]) | inverse | passthrough | inverse).collect()
    # 1/2 then 1/0.5 are fine; 0 fails in the first inverse (position 1)
    assert caught.value.__notes__ == ["paipa: raised in step 'inverse' (1 of 3, map)"]
    with pytest.raises(ZeroDivisionError) as caught:
        (Pipeline([1, 2]) | step.map(lambda x: x - 1) | passthrough | inverse).collect()
    assert caught.value.__notes__ == ["paipa: raised in step 'inverse' (3 of 3, map)"]


def test_keyboard_interrupt_is_annotated_too() -> None:
    @step.map
    def interrupted(x: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        (Pipeline([1]) | interrupted).collect()
    assert caught.value.__notes__ == ["paipa: raised in step 'interrupted' (1 of 1, map)"]


def test_errors_in_the_consumer_are_not_annotated() -> None:
    with pytest.raises(LookupError) as caught:
        for _ in Pipeline([1]) | passthrough:
            raise LookupError("consumer")
    assert not hasattr(caught.value, "__notes__")
