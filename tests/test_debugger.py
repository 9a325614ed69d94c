"""The runtime debugger: accurate per-step figures, periodic and final reports, reporters."""

import io
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator

import pytest
from conftest import Engine

from paipa import (
    CallbackReporter,
    Pipeline,
    PipelineRuntimeDebugger,
    ProgressReporter,
    Snapshot,
    StepStats,
    chunk,
    step,
    tally,
)
from paipa._debug._reporters import report_lines

pytestmark = pytest.mark.timeout(30)


def by_name(snapshot: Snapshot | None) -> dict[str, StepStats]:
    assert snapshot is not None
    return {stats.name: stats for stats in snapshot.steps}


@step
def passthrough(items: Iterable[int]) -> Iterator[int]:
    yield from items


@step.map
def plus_one(x: int) -> int:
    return x + 1


@step
def sleeps(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        time.sleep(0.001)
        yield item


def test_a_slow_step_gets_its_time_and_the_others_nearly_none() -> None:
    slept: list[float] = []

    @step
    def sleeps_1ms(items: Iterable[int]) -> Iterator[int]:
        for item in items:
            began = time.perf_counter()
            time.sleep(0.001)
            slept.append(time.perf_counter() - began)
            yield item

    pipeline = Pipeline(range(300)) | passthrough | sleeps_1ms | plus_one | passthrough
    result = pipeline.debug(reporters=[]).run()
    stats = by_name(result.stats)
    # 300 sleeps of 1 ms: 0.3 s, or somewhat more on a busy machine; the step
    # measured its own sleeping, and the debugger must agree within 25%.
    assert sum(slept) >= 0.3
    assert stats["sleeps_1ms"].seconds == pytest.approx(sum(slept), rel=0.25)
    for name in ("range", "plus_one"):
        assert stats[name].seconds < 0.03
    assert sum(s.seconds for s in result.stats.steps if s.name == "passthrough") < 0.03  # type: ignore[union-attr]


def test_counts_are_exact_on_every_engine(engine: Engine) -> None:
    @step.filter
    def odd(x: int) -> bool:
        return x % 2 == 1

    @step.flat_map
    def twice(x: int) -> list[int]:
        return [x, x]

    pipeline = Pipeline(range(1001)) | engine([plus_one, odd, twice, passthrough])
    result = pipeline.debug(reporters=[]).run()
    assert result.stats is not None
    assert [(s.name, s.items_in, s.items_out) for s in result.stats.steps] == [
        ("range", 0, 1001),
        ("plus_one", 1001, 1001),
        ("odd", 1001, 501),  # 1..1001 after plus_one
        ("twice", 501, 1002),
        ("passthrough", 1002, 1002),
    ]
    assert result.items == 1002


@pytest.mark.parametrize("workers", [None, 2])
def test_a_cpu_burning_step_gets_the_cpu_time(workers: int | None) -> None:
    @step.map(workers=workers)
    def burn(x: int) -> int:
        total = 0
        for number in range(20_000):
            total += number
        return x

    result = (Pipeline(range(200)) | sleeps | burn | plus_one).debug(reporters=[]).run()
    stats = by_name(result.stats)
    cpu = stats["burn"].user_seconds + stats["burn"].system_seconds
    assert cpu > 0.5 * stats["burn"].seconds > 0
    assert stats["sleeps"].user_seconds + stats["sleeps"].system_seconds < 0.5 * cpu


def test_threaded_steps_report_workers_and_queue() -> None:
    seen: list[Snapshot] = []
    release = threading.Event()
    reported = threading.Event()

    @step.map(workers=3, queue_size=50)
    def waits(x: int) -> int:
        assert release.wait(10)
        return x

    def collect(snapshot: Snapshot) -> None:
        seen.append(snapshot)
        if not snapshot.final:
            reported.set()

    run = (Pipeline(range(200)) | waits).debug(reporters=[CallbackReporter(collect)], interval=0.02)
    worker = threading.Thread(target=run.run)
    worker.start()
    assert reported.wait(10)  # a report arrived while every worker was stuck
    stuck = by_name(seen[-1])["waits"]
    release.set()
    worker.join(10)
    assert (stuck.workers, stuck.busy_workers) == (3, 3)
    assert stuck.queue_depth is not None
    assert stuck.queue_depth > 0
    final = by_name(seen[-1])["waits"]
    assert seen[-1].final
    assert (final.items_in, final.items_out, final.busy_workers) == (200, 200, 0)


def test_reports_keep_coming_while_an_inline_step_is_stuck() -> None:
    reports = threading.Semaphore(0)
    released = threading.Event()

    @step.map
    def stuck(x: int) -> int:
        for _ in range(3):  # three periodic reports arrive while this item is stuck
            assert reports.acquire(timeout=10)
        released.set()
        return x

    def count(snapshot: Snapshot) -> None:
        if not snapshot.final:
            reports.release()

    result = (Pipeline([1]) | stuck).debug(reporters=[CallbackReporter(count)], interval=0.01).run()
    assert released.is_set()
    assert result.stats is not None
    assert result.stats.final


def test_final_report_comes_before_the_error() -> None:
    events: list[str] = []

    @step.map
    def fails(x: int) -> int:
        if x == 5:
            raise KeyError(x)
        return x

    def remember(snapshot: Snapshot) -> None:
        events.append(f"report final={snapshot.final} failed={snapshot.failed}")

    debugger = PipelineRuntimeDebugger(reporters=[CallbackReporter(remember)])
    with pytest.raises(KeyError):
        (Pipeline(range(10)) | fails).debug_with(debugger).collect()
    assert events[-1] == "report final=True failed=True"
    assert debugger.last_snapshot is not None
    assert by_name(debugger.last_snapshot)["fails"].items_out == 5


def test_a_consumer_stopping_early_is_not_a_failure() -> None:
    finals: list[Snapshot] = []
    pipeline = (Pipeline(range(100)) | plus_one).debug(
        reporters=[CallbackReporter(lambda s: finals.append(s) if s.final else None)]
    )
    for value in pipeline:
        if value == 3:
            break
    assert finals
    assert not finals[-1].failed


def test_a_reporter_that_raises_is_logged_once_and_switched_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[bool] = []

    def broken(snapshot: Snapshot) -> None:
        calls.append(snapshot.final)
        raise RuntimeError("statsd is down")

    good: list[Snapshot] = []
    pipeline = (Pipeline(range(2000)) | sleeps.with_options(name="slow")).debug(
        reporters=[CallbackReporter(broken), CallbackReporter(good.append)], interval=0.05
    )
    with caplog.at_level(logging.ERROR, logger="paipa.debugger"):
        result = pipeline.run()
    assert result.items == 2000  # the run went on
    assert len(calls) == 1
    failures = [r for r in caplog.records if "switched off" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert good[-1].final


def test_tally_counts_per_step_and_per_item(engine: Engine) -> None:
    @step.map
    def lookup(x: int) -> int:
        tally("queries", 2)
        if x % 2:
            tally("cache misses")
        return x

    result = (Pipeline(range(100)) | engine([passthrough, lookup])).debug(reporters=[]).run()
    stats = by_name(result.stats)
    assert stats["lookup"].counts == {"queries": 200, "cache misses": 50}
    assert stats["lookup"].per_item("queries") == 2.0
    assert stats["passthrough"].counts == {}


def test_tally_without_a_debugger_does_nothing() -> None:
    tally("queries")
    assert (Pipeline(range(3)) | step.map(lambda x: tally() or x)).collect() == [0, 1, 2]


def test_error_policies_show_in_the_figures() -> None:
    @step.map(on_error="skip")
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    stats = by_name((Pipeline(range(10)) | odd_fails).debug(reporters=[]).run().stats)
    assert (stats["odd_fails"].skipped, stats["odd_fails"].items_out) == (5, 5)


def burst(number: int) -> list[int]:
    """Burn CPU on one input in 50, then give a burst of outputs for it."""
    if number % 50 == 0:
        sum(range(20_000))
    return list(range(number % 50))


def test_a_step_on_one_thread_never_shows_more_cpu_than_time() -> None:
    # A bursty flat_map: the CPU of one fetch in eight, weighted, overshot the
    # step's time (1.59 s of CPU in 0.94 s); the estimate now cannot.
    for _ in range(5):
        pipeline = Pipeline(range(3000)) | step.flat_map(burst) | step.map(abs)
        snapshot = pipeline.debug(reporters=[]).run().stats
        assert snapshot is not None
        for figures in snapshot.steps:
            cpu = figures.user_seconds + figures.system_seconds
            assert cpu <= figures.seconds + 1e-9, figures


def test_logging_reporter_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paipa.debugger"):
        (Pipeline(range(50)) | plus_one | step.map(lambda x: tally() or x, name="q")).debug().run()
    lines = [r.getMessage() for r in caplog.records if r.name == "paipa.debugger"][-4:]
    assert lines[0] == "-" * 20
    assert lines[1].startswith("> range   : in:      - out:     50 runtime: ")
    assert lines[2].startswith("> plus_one: in:     50 out:     50 runtime: ")
    assert lines[3].endswith(" q: 50 q/e: 1.00")
    assert " q:" not in lines[1] + lines[2]


def stats(name: str, position: int, **figures: float) -> StepStats:
    """A step's figures as a snapshot would hold them; zeros unless given."""
    kinds = {"items_in": 0, "items_out": 0, "seconds": 0.0, "user_seconds": 0.0}
    kinds |= {"system_seconds": 0.0, "rss_growth": 0}
    kinds |= figures
    return StepStats(
        name,
        position,
        "map",
        int(kinds["items_in"]),
        int(kinds["items_out"]),
        kinds["seconds"],
        kinds["user_seconds"],
        kinds["system_seconds"],
        int(kinds["rss_growth"]),
    )


def test_report_lines_use_units_people_read() -> None:
    snapshot = Snapshot(
        1.0,
        (
            stats("source", 0, items_out=762_000, seconds=0.3076),
            stats("aggregate", 1, items_in=762_000, seconds=125.0, user_seconds=0.004),
            stats("fast", 2, items_in=2_477_325, items_out=2_477_325, seconds=1.0),
            stats("big", 3, items_in=12, items_out=12, seconds=7300.0, rss_growth=3 * 2**20),
            stats("freed", 4, rss_growth=-5912),
        ),
    )
    source, aggregate, fast, big, freed = report_lines(snapshot)
    assert "in:      - out: 762.0k runtime:  308 ms   2.5M/s" in source
    assert "in: 762.0k out:      0 runtime:   2m05s    0.0/s utime:  4.0 ms" in aggregate
    assert "in:   2.5M out:   2.5M runtime:  1.00 s   2.5M/s" in fast
    assert "runtime:   2h01m" in big
    assert "rss:    3.0 MiB" in big
    assert freed.endswith("rss:    0.0 MiB")  # not -0.0


def test_report_columns_keep_their_place_from_report_to_report() -> None:
    early = Snapshot(0.1, (stats("source", 0, items_out=3), stats("s", 1, items_in=3)))
    late = Snapshot(
        90.0,
        (
            stats("source", 0, items_out=9_000_000, seconds=50.0),
            stats("s", 1, items_in=9_000_000, items_out=1, seconds=3000.0, user_seconds=80.0),
        ),
    )
    for column in (" out:", " runtime:", "/s ", " utime:", " stime:", " rss:"):
        places = {line.index(column) for line in report_lines(early) + report_lines(late)}
        assert len(places) == 1, column


def test_the_report_reaches_stderr_with_only_basic_config_or_none() -> None:
    script = """if True:
        import logging, sys
        from paipa import Pipeline
        if sys.argv[1] == "basic":
            logging.basicConfig()
        (Pipeline(range(5)) | sorted).debug().run()
    """
    for setup in ("basic", "none"):
        child = subprocess.run(
            [sys.executable, "-c", script, setup], capture_output=True, text=True, timeout=60
        )
        assert child.returncode == 0, child.stderr
        lines = child.stderr.splitlines()
        assert lines[0] == "INFO:paipa.debugger:--------------------", (setup, child.stderr)
        assert lines[-1].startswith("INFO:paipa.debugger:> sorted: in:      5 out:      5 ")


def test_progress_reporter_draws_a_bar_per_step() -> None:
    output = io.StringIO()
    reporter = ProgressReporter(file=output)
    (Pipeline(range(500)) | plus_one).debug(reporters=[reporter]).run()
    text = output.getvalue()
    assert "range" in text
    assert "plus_one" in text
    assert "500/500" in text  # the source's length is known: bars have a total


def test_progress_bars_have_a_total_only_where_it_is_known() -> None:
    totals: list[list[int | None]] = []
    reported = threading.Event()

    class Recording(ProgressReporter):
        def report(self, snapshot: Snapshot) -> None:
            super().report(snapshot)
            if not snapshot.final:
                totals.append([bar.total for bar in self._bars])
                reported.set()

    def send(batch: list[int]) -> list[int]:
        assert reported.wait(10), "no report came while the run went on"
        return batch

    output = io.StringIO()
    reporter = Recording(file=output)
    pipeline = Pipeline(range(10_000)) | plus_one | step.filter(lambda x: x % 7 == 0, name="sevens")
    pipeline = pipeline | chunk(100) | step.map(send)
    pipeline.debug(reporters=[reporter], interval=0.01).run()
    assert totals[0] == [10_000, 10_000, None, None, None]
    finished = output.getvalue().replace("\r", "\n").splitlines()
    for name, count in [("range", 10_000), ("sevens", 1428), ("chunk", 15), ("send", 15)]:
        last = [line for line in finished if line.startswith(name)][-1]
        assert "100%" in last, last
        assert f" {count}/{count} " in last, last


def test_debug_returns_a_new_pipeline() -> None:
    plain = Pipeline(range(3)) | plus_one
    debugged = plain.debug(reporters=[])
    assert plain.run().stats is None
    assert debugged.run().stats is not None
    assert (debugged | plus_one).run().stats is not None  # the debugger stays on


@pytest.mark.parametrize(
    ("make", "error", "named"),
    [
        (lambda: PipelineRuntimeDebugger(interval=0), ValueError, "interval"),
        (lambda: PipelineRuntimeDebugger(reporters=[object()]), TypeError, "report"),  # type: ignore[list-item]
        (lambda: Pipeline([1]).debug_with("yes"), TypeError, "'yes'"),  # type: ignore[arg-type]
    ],
)
def test_bad_debugger_settings_are_refused(
    make: object, error: type[Exception], named: str
) -> None:
    assert callable(make)
    with pytest.raises(error, match=named):
        make()


def test_background_runs_can_be_debugged() -> None:
    snapshots: list[Snapshot] = []
    run = (
        (Pipeline() | plus_one.with_options(workers=2))
        .debug(reporters=[CallbackReporter(snapshots.append)])
        .start()
    )
    run.put_all(range(100))
    run.finish()
    result = run.join()
    assert result.stats is not None
    assert by_name(result.stats)["plus_one"].items_out == 100
    assert snapshots[-1].final


@pytest.mark.parametrize("workers", [None, 2])
def test_a_run_left_open_at_exit_ends_quietly_with_its_final_report(workers: int | None) -> None:
    script = f"""if True:
        import logging
        from paipa import Pipeline, step
        logging.basicConfig()

        def inc(x):
            return x + 1

        it = iter((Pipeline(range(10**6)) | step.map(inc, workers={workers})).debug())
        print(next(it))
    """
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout == "1\n"
    assert "Traceback" not in child.stderr
    assert "Exception ignored" not in child.stderr
    lines = child.stderr.splitlines()
    assert lines[-3] == "INFO:paipa.debugger:--------------------", child.stderr
    assert lines[-1].startswith("INFO:paipa.debugger:> inc  : in: ")


def test_psutil_is_imported_only_when_a_debugger_runs() -> None:
    script = """if True:
        import sys
        from paipa import Pipeline
        (Pipeline(range(3)) | sorted).run()
        print("psutil" in sys.modules)
        (Pipeline(range(3)) | sorted).debug(reporters=[]).run()
        print("psutil" in sys.modules)
    """
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert child.stdout.split() == ["False", "True"], child.stderr
