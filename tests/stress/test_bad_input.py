"""Bad input at every public entry point: a clear error naming the bad value, at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import paipa
from paipa import (
    CallbackReporter,
    Chain,
    LoggingReporter,
    Pipeline,
    PipelineRuntimeDebugger,
    Snapshot,
    batch,
    chunk,
    combine_pipeline,
    consume,
    step,
    tally,
)


@step.map
def double(x: int) -> int:
    return 2 * x


def one_shot_twice() -> None:
    pipeline = Pipeline(iter([1, 2])) | double
    pipeline.collect()
    pipeline.collect()


def put_after_finish() -> None:
    run = (Pipeline() | double).start()
    run.finish()
    try:
        run.put(1)
    finally:
        run.join()


def put_into_a_sourced_run() -> None:
    run = (Pipeline(range(3)) | double).start()
    try:
        run.put(1)
    finally:
        run.join()


def put_all_not_iterable() -> None:
    run = (Pipeline() | double).start()
    try:
        run.put_all(5)
    finally:
        run.finish()
        run.join()


def one_shot_twice_in_the_background() -> None:
    pipeline = Pipeline(iter([1, 2])) | double
    pipeline.start().join()
    pipeline.start().join()


BAD: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # sources
    ("source: a number", lambda: Pipeline(42), TypeError, "got 42 (int)"),
    ("source: None", lambda: Pipeline(None), TypeError, "got None"),
    (
        "source: callable returning a number",
        lambda: Pipeline(lambda: 3).collect(),
        TypeError,
        "returned 3",
    ),
    ("source: one-shot run twice", one_shot_twice, RuntimeError, "one-shot iterator"),
    ("source: one-shot started twice", one_shot_twice_in_the_background, RuntimeError, "one-shot"),
    (
        "source: fed pipeline in the foreground",
        lambda: (Pipeline() | double).run(),
        TypeError,
        "pipeline.start()",
    ),
    # steps
    ("step: a number", lambda: Pipeline([1]) | 42, TypeError, "cannot use 42 (int)"),
    ("step: a string", lambda: Pipeline([1]) | "text", TypeError, "cannot use 'text'"),
    ("step: None in a list", lambda: Pipeline([1]) | [double, None], TypeError, "cannot use None"),
    ("step: a pipeline", lambda: Pipeline([1]) | Pipeline([2]), TypeError, "source of its own"),
    ("step: Processor instance", lambda: Pipeline([1]) | _processor(), TypeError, "pass its class"),
    (
        "step: returns a number",
        lambda: (Pipeline([1]) | (lambda items: 3)).collect(),
        TypeError,
        "returned 3",
    ),
    ("chain: a number", lambda: Chain(double, 42), TypeError, "cannot use 42"),
    ("chain: called on a number", lambda: list(Chain(double)(7)), TypeError, "got 7"),
    ("decorator: not callable", lambda: step(7), TypeError, "got 7"),
    ("decorator: positional option", lambda: step.map(8), TypeError, "got 8"),
    # options
    ("option: unknown", lambda: step.map(wokers=3), TypeError, "'wokers'"),
    ("option: workers 0", lambda: double.with_options(workers=0), ValueError, "got 0"),
    ("option: workers -1", lambda: double.with_options(workers=-1), ValueError, "got -1"),
    ("option: workers a string", lambda: double.with_options(workers="2"), TypeError, "'2'"),
    ("option: workers True", lambda: double.with_options(workers=True), TypeError, "True"),
    ("option: queue_size 0", lambda: double.with_options(queue_size=0), ValueError, "got 0"),
    ("option: ordered a string", lambda: double.with_options(ordered="no"), TypeError, "'no'"),
    ("option: name empty", lambda: double.with_options(name=""), TypeError, "''"),
    ("option: retries -1", lambda: double.with_options(retries=-1), ValueError, "got -1"),
    (
        "option: retry_on an instance",
        lambda: double.with_options(retry_on=KeyError()),
        TypeError,
        "KeyError()",
    ),
    ("option: backoff negative", lambda: double.with_options(backoff=-0.5), ValueError, "-0.5"),
    (
        "option: on_error unknown",
        lambda: double.with_options(on_error="ignore"),
        TypeError,
        "'ignore'",
    ),
    (
        "option: policy on an iterator step",
        lambda: step(sorted).with_options(retries=1),
        TypeError,
        "item steps",
    ),
    ("partial: unknown keyword", lambda: double.partial(factor=2), TypeError, "'factor'"),
    # ready-made steps and helpers
    ("chunk 0", lambda: chunk(0), ValueError, "got 0"),
    ("chunk -2", lambda: chunk(-2), ValueError, "got -2"),
    ("chunk a float", lambda: chunk(1.5), TypeError, "1.5"),
    ("batch size 0", lambda: batch(0, 1.0), ValueError, "got 0"),
    ("batch timeout 0", lambda: batch(2, 0), ValueError, "got 0"),
    ("batch timeout a string", lambda: batch(2, "1s"), TypeError, "'1s'"),
    ("consume -1", lambda: consume([], -1), ValueError, "got -1"),
    ("combine_pipeline: steps", lambda: combine_pipeline([1], 42), TypeError, "got 42"),
    (
        "combine_pipeline: debugger",
        lambda: combine_pipeline([1], [], debugger="on"),
        TypeError,
        "'on'",
    ),
    # background runs
    ("put after finish", put_after_finish, RuntimeError, "after finish()"),
    ("put into a sourced run", put_into_a_sourced_run, TypeError, "reads its own source"),
    ("put_all not iterable", put_all_not_iterable, TypeError, "got 5"),
    # the debugger
    ("debugger: interval 0", lambda: PipelineRuntimeDebugger(interval=0), ValueError, "got 0"),
    ("debugger: interval a string", lambda: Pipeline([1]).debug(interval="5"), TypeError, "'5'"),
    (
        "debugger: reporter without report",
        lambda: Pipeline([1]).debug(reporters=[object()]),
        TypeError,
        "<object",
    ),
    ("debugger: not a debugger", lambda: Pipeline([1]).debug_with(3), TypeError, "got 3"),
    ("callback reporter: not callable", lambda: CallbackReporter(3), TypeError, "got 3"),
    (
        "logging reporter: not a logger",
        lambda: LoggingReporter(logger="paipa"),
        TypeError,
        "'paipa'",
    ),
    (
        "logging reporter: level a string",
        lambda: LoggingReporter(level="INFO"),
        TypeError,
        "'INFO'",
    ),
    ("tally: name a number", lambda: tally(3), TypeError, "got 3"),
    ("tally: amount a float", lambda: tally("q", 1.5), TypeError, "1.5"),
]


def _processor() -> paipa.Processor[int, int]:
    class Keep(paipa.Processor[int, int]):
        def process(self, item: int) -> int:
            return item

    return Keep()


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("case", "make", "error", "named"), BAD, ids=[row[0] for row in BAD])
def test_bad_input_gets_a_clear_error(
    case: str, make: Callable[[], object], error: type[Exception], named: str
) -> None:
    with pytest.raises(error) as caught:
        make()
    assert named in str(caught.value), f"{case}: {caught.value}"


def test_the_table_covers_every_public_callable() -> None:
    covered = " ".join(row[0] for row in BAD).lower()
    for name in (
        "source",
        "step",
        "chain",
        "decorator",
        "option",
        "partial",
        "chunk",
        "batch",
        "consume",
        "combine_pipeline",
        "put",
        "debugger",
        "callback reporter",
        "logging reporter",
        "tally",
    ):
        assert name in covered, name


@pytest.mark.timeout(20)
def test_a_reporter_that_raises_never_kills_the_run(caplog: pytest.LogCaptureFixture) -> None:
    def broken(snapshot: Snapshot) -> None:
        raise ZeroDivisionError("reporter bug")

    class NoMethod:
        report: Any = None

    with caplog.at_level(logging.ERROR, logger="paipa.debugger"):
        result = (Pipeline(range(100)) | double).debug(reporters=[CallbackReporter(broken)]).run()
    assert result.items == 100
    assert any("switched off" in r.getMessage() for r in caplog.records)
    with pytest.raises(TypeError, match="report"):
        PipelineRuntimeDebugger(reporters=[NoMethod()])
