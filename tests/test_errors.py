"""Bad input is refused when given; errors from steps keep their identity and name the step."""

import functools
import traceback
from collections.abc import Iterable, Iterator

import pytest
import toolz.curried as tc
from conftest import Engine

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
        (lambda: combine_pipeline(42, []), TypeError, "got 42"),  # type: ignore[call-overload]
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


def read(pipeline: Pipeline[object], run: str) -> None:
    """Run `pipeline` by `run`: ``collect``, ``iterate`` or ``run``."""
    if run == "collect":
        pipeline.collect()
    elif run == "iterate":
        list(pipeline)
    else:
        pipeline.run()


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
        read(pipeline, run)
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


# -- steps whose iterators have no Python frame (toolz, builtins, itertools) -------


def add_one(x: int) -> int:
    return x + 1


def fails_on_two(x: int) -> int:
    if x == 2:
        raise_error()
    return x


def keep_all(x: int) -> bool:
    return fails_on_two(x) is not None


class Countdown:
    """An iterator class with a Python ``__next__``: no generator frame of its own."""

    def __init__(self, items: Iterable[int]) -> None:
        self._items = iter(items)

    def __iter__(self) -> "Countdown":
        return self

    def __next__(self) -> int:
        return fails_on_two(next(self._items))


FRAMELESS: dict[str, object] = {
    "toolz map": tc.map(fails_on_two),
    "toolz filter": tc.filter(keep_all),
    "partial of builtin map": functools.partial(map, fails_on_two),
    "iterator class": Countdown,
}


@pytest.mark.parametrize("where", [0, 1, 2])
@pytest.mark.parametrize("failing", sorted(FRAMELESS))
@pytest.mark.parametrize("run", ["collect", "iterate", "run"])
def test_frameless_steps_are_told_apart_wherever_they_sit(
    failing: str, where: int, run: str, thread_engine: Engine
) -> None:
    ERROR.__notes__ = []
    steps: list[object] = [tc.map(add_one), tc.filter(bool), tc.take(10)]
    steps.insert(where, step(FRAMELESS[failing], name="failing"))  # type: ignore[call-overload]
    pipeline = Pipeline([0, 1, 2, 3]) | thread_engine(steps)
    with pytest.raises(Boom):
        read(pipeline, run)
    assert ERROR.__notes__[0].startswith(
        f"paipa: raised in step 'failing' ({where + 1} of 4, iterator)"
    )


def test_a_frameless_step_adds_no_frame_per_item() -> None:
    def fresh_error(x: int) -> int:
        if x == 2:
            raise Boom("fresh")  # ERROR's traceback holds earlier tests' frames
        return x

    with pytest.raises(Boom) as caught:
        (Pipeline([0, 1, 2]) | tc.map(add_one) | tc.map(fresh_error)).collect()
    frames = [entry.name for entry in traceback.extract_tb(caught.value.__traceback__)]
    assert "guard" not in frames  # the map objects run as they are, nested by hand
    assert caught.value.__notes__ == ["paipa: raised in step 'map(fresh_error)' (2 of 2, iterator)"]


def test_a_frameless_step_calling_a_builtin_is_guarded_and_named() -> None:
    with pytest.raises(ValueError, match="invalid literal") as caught:
        (Pipeline(["1", "x"]) | tc.map(str.strip) | tc.map(int) | tc.map(add_one)).collect()
    assert caught.value.__notes__ == ["paipa: raised in step 'map(int)' (2 of 3, iterator)"]


def test_a_frameless_step_behind_a_generator_step_is_named() -> None:
    ERROR.__notes__ = []

    def relay(items: Iterable[int]) -> Iterator[int]:
        for item in items:  # noqa: UP028 - a for loop, unlike relay_all
            yield item

    def relay_all(items: Iterable[int]) -> Iterator[int]:
        yield from items

    with pytest.raises(Boom):
        (Pipeline(range(4)) | tc.map(fails_on_two) | relay | tc.map(add_one) | relay_all).collect()
    assert ERROR.__notes__ == ["paipa: raised in step 'map(fails_on_two)' (1 of 4, iterator)"]


def test_a_generator_step_calling_the_same_function_is_named_itself() -> None:
    ERROR.__notes__ = []

    def calls_it(items: Iterable[int]) -> Iterator[int]:
        for item in items:
            yield fails_on_two(item + 2)

    with pytest.raises(Boom):
        (Pipeline([0, 1]) | tc.map(fails_on_two) | calls_it).collect()
    assert ERROR.__notes__ == ["paipa: raised in step 'calls_it' (2 of 2, iterator)"]


def test_the_same_function_in_two_frameless_steps_names_both() -> None:
    ERROR.__notes__ = []
    with pytest.raises(Boom):
        (Pipeline([1, 5]) | tc.map(fails_on_two) | tc.map(add_one) | tc.map(fails_on_two)).collect()
    assert ERROR.__notes__ == [
        "paipa: raised in one of the steps 'map(fails_on_two)' (1 of 3, iterator), "
        "'map(fails_on_two)' (3 of 3, iterator): they call the same code without Python "
        "frames of their own, so which one cannot be told"
    ]


def test_a_frameless_error_without_a_python_frame_is_placed_when_alone() -> None:
    def two_arguments(a: int, b: int) -> int:
        return a + b

    with pytest.raises(TypeError, match="missing 1 required positional argument") as caught:
        (Pipeline([1]) | passthrough | tc.map(two_arguments)).collect()
    assert caught.value.__notes__ == [
        "paipa: raised in step 'map(two_arguments)' (2 of 2, iterator)"
    ]
