"""The coroutine API gives what paipa 0.3.3 gave, input by input.

0.3.3 (downloaded from PyPI, as in test_compat03_suite.py) and this paipa run
the same `combine_pipeline` calls side by side; results and exceptions must be
the same. 0.3.3 needs ``six``, of which it uses a handful of names: a small
stand-in gives them. Where paipa differs on purpose (notes on errors, earlier
validation), docs/coroutine-api.md says so and the comparison ignores it.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

import pytest
from original03 import files_of_0_3_3

import paipa
import paipa.iterables

SIX = textwrap.dedent(
    """
    import queue, sys, types
    callable = callable
    string_types = (str,)
    integer_types = (int,)
    def reraise(kind, value, traceback=None):
        raise value.with_traceback(traceback)
    moves = types.ModuleType("six.moves")
    moves.queue = queue
    sys.modules["six.moves"] = moves
    """
)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("original")
    (root / "paipa03").mkdir()
    for name, source in files_of_0_3_3(root, r"paipa/\w+\.py").items():
        (root / "paipa03" / name).write_bytes(source)
    (root / "six.py").write_text(SIX)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module("paipa03")
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == "six" or n.startswith(("six.", "paipa03"))]:
            del sys.modules[name]


def doubled(numbers: Iterable[int]) -> Iterator[int]:
    for number in numbers:
        yield 2 * number


def normalise(numbers: list[float]) -> list[float]:
    total = sum(numbers)
    return [number / total for number in numbers]


def breaks_on_six(numbers: Iterable[int]) -> Iterator[int]:
    for number in numbers:
        if number == 6:
            raise KeyError(number)
        yield number


def refuses_tuples(numbers: Iterable[int]) -> Iterable[int]:
    if isinstance(numbers, tuple):
        raise TypeError("no tuples")
    return numbers


def to_none(numbers: Iterable[int]) -> None:
    return None


class Evens:
    """0.3's PipelineStep shape: ``process(iterator)``, and calling it calls that."""

    def process(self, numbers: Iterable[int]) -> Iterator[int]:
        return (number for number in numbers if number % 2 == 0)

    def __call__(self, numbers: Iterable[int]) -> Iterator[int]:
        return self.process(numbers)


class Settings:
    """A source 0.3 handed to the first step as it is: not iterable, not callable."""

    first, last = 2, 5


def read_settings(settings: Settings) -> range:
    return range(settings.first, settings.last)


class Both:
    """Callable and iterable: 0.3 called it (a factory) rather than iterating it."""

    def __call__(self, start: int) -> range:
        return range(start, start + 2)

    def __iter__(self) -> Iterator[int]:
        return iter([100])


def counted(numbers: Iterable[int]) -> Iterator[int]:
    yield from numbers


CASES: dict[str, tuple[Any, Callable[[ModuleType], list[Any]]]] = {
    "a list to a step reading it twice": ([1, 2, 3, 4], lambda m: [normalise]),
    "reversed and len": ([1, 2, 3], lambda m: [reversed]),
    "len as last step": ([1, 2, 3], lambda m: [len]),
    "no steps": ([1, 2], lambda m: []),
    "nested empty lists and identity": ([1, 2], lambda m: [[], [m.identity_step]]),
    "generators nested": (range(10), lambda m: [doubled, [doubled, [counted]]]),
    "chunk and flatten": (range(10), lambda m: [m.chunk(3), m.iterables.flatten]),
    "chunk with its default size": (range(70), lambda m: [m.chunk()]),
    "process objects": (range(10), lambda m: [Evens(), doubled]),
    "an error while iterating": (range(10), lambda m: [breaks_on_six]),
    "an error at the call": ((1, 2), lambda m: [refuses_tuples]),
    "a step returning None": (range(3), lambda m: [to_none]),
    "None then a step": (range(3), lambda m: [to_none, doubled]),
    "a string source": ("abc", lambda m: [reversed]),
    "a dict source": ({"a": 1, "b": 2}, lambda m: [sorted]),
    "an empty source": ([], lambda m: [doubled, m.chunk(2)]),
    "a generator source": ((n for n in range(4)), lambda m: [doubled]),
    "a callable source": (range, lambda m: [doubled, m.chunk(2)]),
    "a source that is not iterable": (Settings(), lambda m: [read_settings, doubled]),
    "None and no steps": (None, lambda m: []),
    "a source both callable and iterable": (Both(), lambda m: [doubled]),
    "a map object as source": (map(int, "123"), lambda m: [doubled]),
    "a step returning a map object": ("12x", lambda m: [lambda text: map(int, text)]),
}


def outcome(run: Callable[[], Any]) -> tuple[str, Any]:
    """What a call gave: ("value", materialised result) or ("error", (type, args))."""
    try:
        result = run()
        if callable(result) and not isinstance(result, Iterable):
            result = result(5)
        if isinstance(result, Iterator):
            return "value", ("iterator", list(result))
        return "value", result
    except Exception as error:
        return "error", (type(error), error.args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_inputs_give_what_0_3_3_gave(original: ModuleType, name: str) -> None:
    source, steps = CASES[name]
    if name == "a generator source":  # one-shot: each library gets its own
        theirs = outcome(lambda: original.combine_pipeline((n for n in range(4)), steps(original)))
        ours = outcome(lambda: paipa.combine_pipeline((n for n in range(4)), steps(paipa)))
    elif name == "a map object as source":
        theirs = outcome(lambda: original.combine_pipeline(map(int, "123"), steps(original)))
        ours = outcome(lambda: paipa.combine_pipeline(map(int, "123"), steps(paipa)))
    else:
        theirs = outcome(lambda: original.combine_pipeline(source, steps(original)))
        ours = outcome(lambda: paipa.combine_pipeline(source, steps(paipa)))
    assert ours == theirs


def test_the_helpers_give_what_0_3_3_gave(original: ModuleType) -> None:
    from paipa import iterables

    nested = [1, [2, [3, (4,)]], "ab", range(5, 7)]
    assert list(iterables.recursive_flatten(nested)) == list(
        original.iterables.recursive_flatten(nested)
    )
    for value in ([], "x", 3, None, {"a": 1}):
        assert iterables.is_iterable(value) == original.iterables.is_iterable(value)
    for size in (1, 3, 32):
        assert list(iterables.chunk(size)(range(40))) == list(
            original.iterables.chunk(size)(range(40))
        )
    ours, theirs = iter(range(10)), iter(range(10))
    iterables.consume(ours, 4)
    original.iterables.consume(theirs, 4)
    assert list(ours) == list(theirs)
    assert sys.modules["paipa03.iterables"] is original.iterables


def test_the_debug_reporter_aligns_as_0_3_3_did(original: ModuleType) -> None:
    from paipa import debug_reporter

    pattern = debug_reporter.LoggingReporter.PATTERN
    rows: list[tuple[object, ...]] = [
        ("range", 10, 0.5, 20.0, 0.1, 0.0, 0, 0.0, 0.0),
        ("a longer name", 12345, 10.25, 1204.5, 1.5, 0.25, 7, 0.5, 12.0),
    ]
    assert debug_reporter.align_pattern(pattern, rows) == original.debug_reporter.align_pattern(
        pattern, rows
    )
