"""paipa 0.3's coroutine API behaves as 0.3.3 did: combine_pipeline, the debugger, old modules."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import paipa
from paipa import combine_pipeline, debug_reporter, debugger


def normalise(numbers: list[float]) -> list[float]:
    total = sum(numbers)  # reads its input twice: needs the source itself
    return [n / total for n in numbers]


def doubled(numbers: Iterable[int]) -> Iterator[int]:
    for n in numbers:
        yield 2 * n


def test_the_first_step_gets_the_source_itself() -> None:
    assert list(combine_pipeline([1, 2, 3, 4], [normalise])) == [0.1, 0.2, 0.3, 0.4]
    assert list(combine_pipeline([1, 2, 3], [reversed])) == [3, 2, 1]
    assert combine_pipeline([1, 2, 3], [len]) == 3  # a last step may return anything
    source = [1, 2]
    assert combine_pipeline(source, []) is source
    assert combine_pipeline(source, [[], paipa.identity_step]) is source


def test_steps_are_called_when_the_pipeline_is_combined() -> None:
    called: list[str] = []

    def checking(items: Iterable[int]) -> Iterator[int]:
        called.append("checking")
        if not isinstance(items, list):
            raise TypeError("needs a list")
        return iter(items)

    combined = combine_pipeline([1], [checking, doubled])
    assert called == ["checking"]
    with pytest.raises(TypeError, match="needs a list") as raised:
        combine_pipeline((1,), [checking])
    assert raised.value.__notes__ == ["paipa: raised in step 'checking' (1 of 1, iterator)"]
    assert list(combined) == [2]


def test_errors_while_iterating_name_the_step_and_send_passes_through() -> None:
    def breaks_on_four(numbers: Iterable[int]) -> Iterator[int]:
        for n in numbers:
            if n == 4:
                raise KeyError(n)
            yield n

    with pytest.raises(KeyError) as raised:
        list(combine_pipeline(range(5), [doubled, breaks_on_four]))
    assert raised.value.__notes__ == ["paipa: raised in step 'breaks_on_four' (2 of 2, iterator)"]

    def echo() -> Iterator[int]:
        received = 0
        while True:
            received = yield received

    generator = combine_pipeline(range(3), [lambda _: echo()])
    assert next(generator) == 0
    assert generator.send(5) == 5
    generator.close()


def test_a_callable_source_gives_a_function_nesting_afresh_at_each_call() -> None:
    run = combine_pipeline(range, [doubled])
    assert list(run(3)) == [0, 2, 4]
    assert list(run(1, 3)) == [2, 4]


def test_modern_steps_mix_in() -> None:
    @paipa.step.map
    def plus_one(n: int) -> int:
        return n + 1

    assert list(combine_pipeline(range(3), [doubled, plus_one, paipa.chunk(2)])) == [[1, 3], [5]]


def test_the_0_3_debugger_test_line_counts_hold() -> None:
    logger = mock.Mock()
    reporter = mock.Mock()
    observed = debugger.PipelineRuntimeDebugger(
        reporters=[debug_reporter.LoggingReporter(logger), reporter]
    )
    paipa.consume(combine_pipeline(range(10), [lambda x: x], debugger=observed))
    # A step returning its own input did nothing: one line, for the source.
    assert logger.info.call_count == 2
    assert reporter.show.call_count == 1
    ((info,), _) = reporter.show.call_args
    assert [name for name, _ in info] == ["range"]
    assert info[0][1]["count"] == 10


def test_old_reporters_get_0_3_figures_and_the_call_counter_is_read_per_item() -> None:
    class Queries:
        def pop(self) -> int:
            return 2

    shown: list[list[tuple[str, dict[str, float]]]] = []

    class Reporter:
        def show(self, info: list[tuple[str, dict[str, float]]]) -> None:
            shown.append(info)

    observed = paipa.PipelineRuntimeDebugger(reporters=[Reporter()], call_counter=Queries())
    assert list(combine_pipeline(range(5), [doubled], debugger=observed)) == [0, 2, 4, 6, 8]
    ((source, figures), (step_name, step_figures)) = shown[-1]
    assert (source, step_name) == ("range", "doubled")
    assert figures["count"] == step_figures["count"] == 5
    assert step_figures["queries"] == 10
    assert step_figures["qpe"] == 2.0
    assert step_figures["never_heard_of"] == 0.0  # 0.3 handed out defaultdicts
    with pytest.raises(TypeError, match="call_counter"):
        (paipa.Pipeline(range(3)) | doubled).debug_with(observed).collect()
    with pytest.raises(TypeError, match="pop"):
        paipa.PipelineRuntimeDebugger(call_counter=object())
    with pytest.raises(TypeError, match="show"):
        paipa.PipelineRuntimeDebugger(reporters=[object()])  # type: ignore[list-item]


def test_the_0_3_logging_reporter_aligns_its_columns(caplog: pytest.LogCaptureFixture) -> None:
    reporter = debug_reporter.LoggingReporter(logging.getLogger("old"))
    with caplog.at_level(logging.INFO, logger="old"):
        reporter.show(
            [("range", {"count": 10, "runtime": 0.5}), ("identity", {}), ("doubled", {"count": 1})]
        )
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "-" * 20
    assert len(lines) == 3  # a step without figures has no line
    assert lines[1].index("count:") == lines[2].index("count:")
    assert lines[1].startswith("> range  : count: 10 runtime: 0.50")


def test_a_0_3_style_debugger_of_ones_own_is_wired_as_0_3_did() -> None:
    calls: list[str] = []

    class Counting(debugger.Debugger):
        def head(self, iterator: Iterator[Any]) -> Iterator[Any]:
            calls.append("head")
            return iterator

        def do_track(self, iterator: Iterator[Any]) -> Iterator[Any]:
            calls.append("track")
            yield from iterator

        def tail(self, iterator: Iterator[Any]) -> Iterator[Any]:
            calls.append("tail")
            return iterator

    result = combine_pipeline([1, 2], [doubled, doubled], debugger=Counting())  # type: ignore[call-overload]
    assert calls == ["head", "tail"]  # do_track is a generator: it runs when iterated
    assert list(result) == [4, 8]
    assert calls == ["head", "tail", "track", "track", "track"]


def test_logging_basic_config_alone_shows_the_debugger_lines(tmp_path: Path) -> None:
    script = tmp_path / "seed.py"
    script.write_text(
        textwrap.dedent(
            """
            import logging
            import paipa

            logging.basicConfig()
            def doubled(numbers):
                for n in numbers:
                    yield 2 * n
            paipa.consume(paipa.combine_pipeline(
                list(range(100)), [doubled], debugger=paipa.PipelineRuntimeDebugger()))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    assert "INFO:paipa.debugger:> list   : in:      - out:    100" in result.stderr
    assert "INFO:paipa.debugger:> doubled:" in result.stderr


def test_chunk_has_0_3_default_size() -> None:
    assert [len(c) for c in paipa.chunk()(range(70))] == [32, 32, 6]


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("paipa.coroutines", ["combine_pipeline", "identity_step", "PipelineStep", "defer_call"]),
        ("paipa.iterables", ["chunk", "flatten", "consume", "recursive_flatten", "is_iterable"]),
        ("paipa.debugger", ["PipelineRuntimeDebugger", "Debugger"]),
        ("paipa.debug_reporter", ["LoggingReporter", "DebugReporter", "align_pattern"]),
        ("paipa.counter", ["Counter"]),
        ("paipa.threaded", ["AbstractStep", "Pipeline", "SkipEntry", "funcstep", "iterstep"]),
    ],
)
def test_the_0_3_modules_import(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    assert all(hasattr(imported, name) for name in names)


def test_the_0_3_helpers_work_as_before() -> None:
    from paipa.coroutines import PipelineStep, defer_call
    from paipa.iterables import is_iterable, recursive_flatten

    class Evens(PipelineStep):
        def process(self, iterator: Iterable[Any]) -> Iterable[Any]:
            return (n for n in iterator if n % 2 == 0)

    assert list(combine_pipeline(range(6), [Evens()])) == [0, 2, 4]
    assert list(defer_call(doubled)(range)(3)) == [0, 2, 4]
    assert list(recursive_flatten([1, [2, [3, (4,)]], "ab"])) == [1, 2, 3, 4, "ab"]
    assert is_iterable("x")
    assert not is_iterable(3)


def test_notes_name_the_right_step_whatever_the_steps_return() -> None:
    def source() -> Iterator[str]:
        yield "1"
        raise OSError("the source broke")

    def parse(texts: Iterable[str]) -> Iterator[int]:
        for text in texts:
            yield int(text)

    with pytest.raises(OSError) as raised:
        list(combine_pipeline(source(), [parse, doubled]))
    assert raised.value.__notes__ == ["paipa: raised in the source 'source'"]

    steps = [lambda texts: map(int, texts), doubled]  # the error is inside map, step 1
    with pytest.raises(ValueError, match="invalid literal") as raised_map:
        list(combine_pipeline(["1", "x"], steps))
    assert raised_map.value.__notes__ == ["paipa: raised in step '<lambda>' (1 of 2, iterator)"]

    @paipa.step.map
    def fragile(n: int) -> int:
        if n == 4:
            raise KeyError(n)
        return n

    with pytest.raises(KeyError) as raised_engine:
        list(combine_pipeline(range(5), [doubled, fragile, doubled]))
    assert raised_engine.value.__notes__ == ["paipa: raised in step 'fragile' (2 of 3, map)"]


def test_a_debugged_pipeline_ignores_sent_values_and_names_failing_steps() -> None:
    def breaks_on_four(numbers: Iterable[int]) -> Iterator[int]:
        for n in numbers:
            if n == 4:
                raise KeyError(n)
            yield n

    observed = paipa.PipelineRuntimeDebugger(reporters=[paipa.CallbackReporter(lambda _: None)])
    generator = combine_pipeline(range(5), [doubled, breaks_on_four], debugger=observed)
    assert next(generator) == 0
    assert generator.send("ignored, as in 0.3") == 2
    with pytest.raises(KeyError) as raised:
        list(generator)
    assert raised.value.__notes__ == ["paipa: raised in step 'breaks_on_four' (2 of 2, iterator)"]


def test_steps_reading_their_input_when_called_are_measured_and_blamed_right() -> None:
    observed = paipa.PipelineRuntimeDebugger(reporters=[paipa.CallbackReporter(lambda _: None)])
    assert list(combine_pipeline(range(5), [doubled, sorted], debugger=observed)) == [0, 2, 4, 6, 8]
    assert observed.last_snapshot is not None
    assert [step.items_out for step in observed.last_snapshot.steps] == [5, 5, 5]

    def parse(texts: Iterable[str]) -> Iterator[int]:
        for text in texts:
            yield int(text)

    for debugging in (None, observed):
        with pytest.raises(ValueError, match="invalid literal") as raised:
            combine_pipeline(["1", "x"], [parse, sorted], debugger=debugging)
        assert raised.value.__notes__ == ["paipa: raised in step 'parse' (1 of 2, iterator)"]


def test_closing_the_result_closes_the_steps_at_once() -> None:
    closed: list[str] = []

    def echo(items: Iterable[int]) -> Iterator[int]:
        try:
            yield from items
        finally:
            closed.append("echo")

    quiet = paipa.PipelineRuntimeDebugger(reporters=[paipa.CallbackReporter(lambda _: None)])
    for debugging in (None, quiet):
        generator = combine_pipeline(range(10), [echo, doubled], debugger=debugging)
        next(generator)
        generator.close()
        assert closed == ["echo"]
        closed.clear()
