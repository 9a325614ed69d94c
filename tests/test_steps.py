"""The @step decorator family and Step values."""

import dataclasses
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from paipa import Chain, Pipeline, Processor, Skip, Step, batch, chunk, combine_pipeline, step


@step
def evens(numbers: Iterable[int]) -> Iterator[int]:
    """Keep the even numbers."""
    for number in numbers:
        if number % 2 == 0:
            yield number


@step.map
def double(x: int) -> int:
    """Return twice x."""
    return 2 * x


@step.filter
def positive(x: int) -> bool:
    return x > 0


@step.flat_map
def repeat(x: int) -> list[int]:
    return [x] * x


def test_each_form_records_its_kind_and_name() -> None:
    assert [(s.kind, s.name) for s in (evens, double, positive, repeat)] == [
        ("iterator", "evens"),
        ("map", "double"),
        ("filter", "positive"),
        ("flat_map", "repeat"),
    ]


def test_calling_a_step_calls_the_function_unchanged() -> None:
    assert double(21) == 42
    assert positive(-1) is False
    assert repeat(2) == [2, 2]
    assert list(evens([1, 2, 3, 4])) == [2, 4]


def test_decorator_keeps_name_docstring_and_signature() -> None:
    assert double.__name__ == "double"
    assert double.__doc__ == "Return twice x."
    assert double.__module__ == __name__
    assert str(inspect.signature(double)) == "(x: int) -> int"
    assert inspect.signature(evens) == inspect.signature(evens.function)


def test_options_as_decorator_arguments() -> None:
    @step.map(name="send batch", workers=8, ordered=False)
    def send(batch: list[int]) -> list[int]:
        return batch

    assert (send.name, send.workers, send.ordered) == ("send batch", 8, False)

    @step(name="pairs")
    def pairs(items: Iterable[int]) -> Iterator[tuple[int, int]]:
        yield from zip(items, items, strict=False)

    assert pairs.name == "pairs"
    assert pairs.kind == "iterator"


def test_with_options_returns_a_new_step_and_leaves_the_original() -> None:
    threaded = double.with_options(workers=4, name="double4")
    assert (threaded.workers, threaded.name) == (4, "double4")
    assert (double.workers, double.name) == (None, "double")
    assert threaded(5) == 10


def test_steps_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        double.workers = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"workers": 0}, ValueError, "0"),
        ({"workers": -2}, ValueError, "-2"),
        ({"workers": "4"}, TypeError, "'4'"),
        ({"workers": True}, TypeError, "True"),
        ({"name": ""}, TypeError, "''"),
        ({"ordered": "yes"}, TypeError, "'yes'"),
    ],
)
def test_bad_option_values_are_rejected_naming_the_value(
    options: dict[str, object], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        step.map(**options)  # type: ignore[call-overload]
    with pytest.raises(error, match=named):
        double.with_options(**options)  # type: ignore[arg-type]


def test_unknown_option_is_rejected_naming_it() -> None:
    with pytest.raises(TypeError, match="wokers"):
        step.map(wokers=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="wokers"):
        double.with_options(wokers=3)  # type: ignore[call-arg]


def test_positional_option_or_non_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="got 8"):
        step.map(8)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="'text'"):
        step("text")  # type: ignore[call-overload]


@step.map
def scale(x: int, *, factor: int = 1, offset: int = 0) -> int:
    return x * factor + offset


def test_partial_binds_keyword_arguments() -> None:
    triple = scale.partial(factor=3)
    assert triple(2) == 6
    assert triple.name == "scale(factor=3)"
    assert triple.__name__ == "scale"
    shifted = triple.partial(offset=1)
    assert (Pipeline([1, 2]) | shifted).collect() == [4, 7]
    assert (shifted.__name__, shifted.name) == ("scale", "scale(factor=3)(offset=1)")
    assert str(inspect.signature(shifted)) == "(x: int, *, factor: int = 3, offset: int = 1) -> int"
    assert scale(2) == 2  # the original is unchanged


def test_partial_rejects_unknown_and_data_parameters() -> None:
    with pytest.raises(TypeError, match="no keyword parameter 'factr'"):
        scale.partial(factr=3)
    with pytest.raises(TypeError, match="cannot bind 'x'"):
        scale.partial(x=3)


def test_partial_on_a_builtin_without_signature_is_not_checked() -> None:
    lengths = step.map(len)
    assert lengths.partial().function("abc") == 3


def test_skip_drops_items_in_every_item_kind() -> None:
    @step.map
    def parse(text: str) -> int:
        if not text.isdigit():
            raise Skip
        return int(text)

    @step.filter
    def not_seven(x: int) -> bool:
        if x == 7:
            raise Skip
        return True

    @step.flat_map
    def upto(x: int) -> Iterator[int]:
        for value in range(x):
            if value == 2:
                raise Skip  # drops the rest of this item's results
            yield value

    pipeline = Pipeline(["1", "x", "7", "3"]) | parse | not_seven | upto
    assert pipeline.collect() == [0, 0, 1]


def test_step_repr_names_kind_and_options() -> None:
    assert repr(double) == "<paipa.Step map 'double'>"
    assert repr(double.with_options(workers=2)) == "<paipa.Step map 'double', workers=2>"


def test_steps_compose_into_chains() -> None:
    chain = double | positive
    assert [s.name for s in chain.steps] == ["double", "positive"]
    assert isinstance(double, Step)


def test_a_functools_partial_of_an_item_step_is_refused_naming_the_step_partial() -> None:
    @step.map
    def scale(x: int, *, factor: int = 1) -> int:
        return x * factor

    with pytest.raises(TypeError, match=r"map step 'scale'.*scale\.partial\(factor=10\)"):
        Pipeline([1]) | functools.partial(scale, factor=10)
    assert (Pipeline([1]) | scale.partial(factor=10)).collect() == [10]


def test_a_refused_partial_with_positional_arguments_names_them() -> None:
    @step.map
    def scale(x: int, factor: int = 1) -> int:
        return x * factor

    expected = r"positional arguments \(3\) would take the place of the item.*scale\.partial\("
    with pytest.raises(TypeError, match=expected):
        Pipeline([1]) | functools.partial(scale, 3)
    with pytest.raises(TypeError, match=r"\(3\).*scale\.partial\(name=value, factor=2\)"):
        Pipeline([1]) | functools.partial(scale, 3, factor=2)


@pytest.mark.parametrize(
    "compose",
    [
        pytest.param(lambda bound: Pipeline([1]) | [bound], id="list"),
        pytest.param(lambda bound: Chain(bound), id="chain"),
        pytest.param(lambda bound: list(combine_pipeline([1], [bound])), id="combine_pipeline"),
    ],
)
def test_a_partial_of_an_item_step_is_refused_wherever_it_is_composed(
    compose: Callable[[object], object],
) -> None:
    @step.map
    def scale(x: int, *, factor: int = 1) -> int:
        return x * factor

    with pytest.raises(TypeError, match=r"scale\.partial\(factor=10\)"):
        compose(functools.partial(scale, factor=10))


def test_a_functools_partial_of_an_iterator_step_still_works() -> None:
    @step
    def repeat(items: Iterable[int], times: int = 1) -> Iterator[int]:
        for item in items:
            yield from [item] * times

    assert (Pipeline([1, 2]) | functools.partial(repeat, times=2)).collect() == [1, 1, 2, 2]


def test_step_subscripted_with_two_types_stands_for_any_signature() -> None:
    assert Step[int, str] == Step[int, str, ..., Any]

    def factory() -> Step[int, int]:  # annotations evaluated at run time
        return step.map(abs)

    assert factory()(-2) == 2


def test_processor_classes_have_with_options() -> None:
    class Upper(Processor[str, str]):
        def process(self, item: str) -> str:
            return item.upper()

    threaded = Upper.with_options(workers=2, name="upper")
    assert (threaded.kind, threaded.workers, threaded.name) == ("process", 2, "upper")
    assert (Pipeline(["a", "b"]) | threaded).collect() == ["A", "B"]
    assert Upper.with_options.__doc__ == Processor.with_options.__doc__


def test_processor_with_options_checks_the_options_like_every_step() -> None:
    class Upper(Processor[str, str]):
        def process(self, item: str) -> str:
            return item.upper()

    with pytest.raises(TypeError, match=r"unknown step option 'wokers'"):
        Upper.with_options(wokers=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    with pytest.raises(ValueError, match=r"workers"):
        Upper.with_options(workers=0)


def test_processor_with_options_refuses_an_instance() -> None:
    class Lookup(Processor[int, str]):
        def __init__(self, dsn: str = "memory") -> None:
            self.dsn = dsn

        def process(self, item: int) -> str:
            return f"{self.dsn}:{item}"

    instance = Lookup("db")
    with pytest.raises(TypeError, match=r"on the Processor class, not on an instance.*Lookup"):
        instance.with_options(workers=2)
    # The spelling the message gives keeps the constructor arguments.
    kept = step(functools.partial(Lookup, "db")).with_options(workers=2)
    assert (Pipeline([1]) | kept).collect() == ["db:1"]


def test_a_chunk_before_a_step_makes_a_chain() -> None:
    @step.map
    def total(batch: list[int]) -> int:
        return sum(batch)

    chained = chunk(2) | total
    assert isinstance(chained, Chain)
    assert [member.name for member in chained.steps] == ["chunk(2)", "total"]
    assert list(chained([1, 2, 3])) == [3, 3]
    assert list((chunk(2) | (total | step.map(str)))([1, 2, 3])) == ["3", "3"]


def test_chunk_or_leaves_the_chain_to_the_step_after_it() -> None:
    # Chunk.__or__ types `chunk(n) | step` for the checkers; at run time it
    # declines, so Python asks the step (Step.__ror__, Chain.__ror__).
    @step.map
    def total(batch: list[int]) -> int:
        return sum(batch)

    assert chunk(2).__or__(total) is NotImplemented
    assert batch(2, 1.0).__or__(total) is NotImplemented
    with pytest.raises(TypeError, match=r"unsupported operand"):
        chunk(2) | 3  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
