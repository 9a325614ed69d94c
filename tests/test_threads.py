"""Threaded stages: workers, order, backpressure, errors, early stops and cleanup.

Every test synchronises with events and barriers (with timeouts), never with
sleeps; the autouse fixture in conftest fails any test that leaves a paipa
thread running.
"""

import functools
import itertools
import threading
import traceback
from collections.abc import Iterable, Iterator
from typing import ClassVar

import pytest

from paipa import Pipeline, Processor, step

pytestmark = pytest.mark.timeout(20)

WAIT = 10  # seconds any event wait may take before the test fails instead of hanging


def wait_for(event: threading.Event) -> None:
    assert event.wait(WAIT), "an event the test waits for never came"


@step.map(workers=4)
def double(x: int) -> int:
    return 2 * x


def test_ordered_output_keeps_input_order() -> None:
    @step.map(workers=8)
    def uneven(x: int) -> int:
        # Busy work that differs per item, so workers finish out of order.
        return sum(range((x * 7919) % 300)) * 0 + x

    assert (Pipeline(range(2000)) | uneven).collect() == list(range(2000))


def test_ordered_mode_waits_for_the_oldest_item() -> None:
    later_done = threading.Event()

    @step.map(workers=2)
    def first_is_slow(x: int) -> int:
        if x == 0:
            wait_for(later_done)
        elif x == 1:
            later_done.set()
        return x

    assert (Pipeline(range(2)) | first_is_slow).collect() == [0, 1]


def test_unordered_output_yields_as_soon_as_ready() -> None:
    second_received = threading.Event()

    @step.map(workers=2, ordered=False)
    def first_is_slow(x: int) -> int:
        if x == 0:
            wait_for(second_received)
        return x

    received = []
    for value in Pipeline(range(2)) | first_is_slow:
        received.append(value)
        second_received.set()
    assert received == [1, 0]


def test_unordered_output_loses_and_duplicates_nothing() -> None:
    pipeline = Pipeline(range(5000)) | double.with_options(ordered=False, workers=7)
    assert sorted(pipeline.collect()) == [2 * x for x in range(5000)]


@pytest.mark.parametrize("workers", [1, 3])
def test_iterator_step_runs_one_generator_per_worker(workers: int) -> None:
    started: list[str] = []
    lock = threading.Lock()

    @step(workers=workers)
    def tag(items: Iterable[int]) -> Iterator[tuple[str, int]]:
        with lock:
            started.append(threading.current_thread().name)
        for item in items:
            yield threading.current_thread().name, item

    results = (Pipeline(range(1000)) | tag).collect()
    assert sorted(item for _, item in results) == list(range(1000))
    assert sorted(started) == [f"paipa tag {n}/{workers}" for n in range(1, workers + 1)]
    assert {name for name, _ in results} <= set(started)


def test_explain_shows_threads_and_queues() -> None:
    pipeline = (
        Pipeline(range(3))
        | double.with_options(queue_size=32)
        | double.with_options(workers=2, ordered=False)
    )
    assert pipeline.explain().splitlines() == [
        "source: range (iterable)",
        "stage 1: 4 worker threads, ordered, fed by a queue of 32 items",
        "  1.  double  map  its own threads",
        "stage 2: 2 worker threads, unordered, fed by a queue of 1024 items",
        "  2.  double  map  its own threads",
    ]


def test_thread_names_say_paipa_and_the_step() -> None:
    names: set[str] = set()

    @step.map(workers=2, name="fetch")
    def record(x: int) -> int:
        names.add(threading.current_thread().name)
        return x

    (Pipeline(range(200)) | record).run()
    assert names <= {"paipa fetch 1/2", "paipa fetch 2/2"}
    assert names


class Counting:
    """A source that counts what it produced; the consumer counts what it finished."""

    def __init__(self) -> None:
        self.produced = 0
        self.finished = 0
        self.most_in_flight = 0

    def source(self) -> Iterator[bytes]:
        for _ in range(20_000):
            self.produced += 1
            yield b"x"

    def finish(self) -> None:
        self.finished += 1
        self.most_in_flight = max(self.most_in_flight, self.produced - self.finished)


@pytest.mark.parametrize("workers", [1, 3])
def test_backpressure_bounds_the_items_in_flight(workers: int) -> None:
    counting = Counting()
    queue = 8
    pipeline = (
        Pipeline(counting.source)
        | step.map(lambda item: item).with_options(workers=workers, queue_size=queue)
        | step.map(lambda item: item).with_options(workers=1, queue_size=queue)
    )
    for _ in pipeline:  # the consumer is the slowest part: it pauses on every item
        counting.finish()
    assert counting.finished == 20_000
    # Batches never exceed a channel's size, so at most: the feeder's pending batch,
    # three channels (two in front of the steps, one after), a batch per worker,
    # the ordered stage's reorder window, the caller's batch, one item in the source.
    window = 2 * workers * queue if workers > 1 else 0
    bound = queue + 3 * queue + (workers + 1) * queue + window + queue + 1
    assert counting.most_in_flight <= bound
    assert counting.most_in_flight < 20_000 // 10


class Boom(Exception):
    pass


def raise_boom(x: int) -> None:
    raise Boom(f"item {x}")


def test_first_error_reaches_the_caller_with_step_worker_and_item() -> None:
    @step.map(workers=3)
    def fails_at_57(x: int) -> int:
        if x == 57:
            raise_boom(x)
        return x

    with pytest.raises(Boom, match="item 57") as caught:
        (Pipeline(range(10_000)) | fails_at_57).collect()
    (note,) = caught.value.__notes__
    assert note.startswith("paipa: raised in step 'fails_at_57' (1 of 1, map), worker ")
    assert note.endswith(" of 3, on input item #57")
    assert traceback.extract_tb(caught.value.__traceback__)[-1].name == "raise_boom"


def test_later_errors_are_attached_not_lost() -> None:
    both_failing = threading.Barrier(2, timeout=WAIT)

    @step.map(workers=2)
    def fails(x: int) -> int:
        both_failing.wait()
        raise Boom(f"item {x}")

    with pytest.raises(Boom) as caught:
        (Pipeline(range(2)) | fails).collect()
    notes = caught.value.__notes__
    assert notes[0].startswith("paipa: raised in step 'fails'")
    assert any(note.startswith("paipa: later, another worker also raised Boom(") for note in notes)


@pytest.mark.parametrize(
    "where", ["source", "first inline stage", "threaded stage", "middle stage", "last stage"]
)
def test_errors_anywhere_cancel_the_run_and_name_their_place(where: str) -> None:
    def source() -> Iterator[int]:
        for item in itertools.count():
            if where == "source" and item == 100:
                raise Boom("source")
            yield item

    def make(place: str) -> object:
        @step.map(name=place)
        def maybe_fail(x: int) -> int:
            if where == place and x == 100:
                raise Boom(place)
            return x

        return maybe_fail

    pipeline = (
        Pipeline(source)
        | make("first inline stage")
        | make("threaded stage").with_options(workers=2)  # type: ignore[attr-defined]
        | make("middle stage")
        | double
        | make("last stage")
    )
    with pytest.raises(Boom, match=where) as caught:
        pipeline.collect()
    expected = "the source 'source'" if where == "source" else f"step '{where}'"
    assert caught.value.__notes__[0].startswith(f"paipa: raised in {expected}")


def test_error_in_the_consumer_stops_the_threads() -> None:
    with pytest.raises(LookupError, match="consumer"):
        for value in Pipeline(itertools.count()) | double:
            if value > 100:
                raise LookupError("consumer")


def test_keyboard_interrupt_in_the_caller_cancels_and_joins() -> None:
    with pytest.raises(KeyboardInterrupt):
        for value in Pipeline(itertools.count()) | double:
            if value > 100:
                raise KeyboardInterrupt


@pytest.mark.parametrize("how", ["break", "islice", "close", "drop"])
def test_consumer_stopping_early_stops_an_infinite_run(how: str) -> None:
    pipeline = Pipeline(itertools.count()) | double | step.map(str).with_options(workers=1)
    if how == "break":
        for value in pipeline:
            if value == "200":
                break
    elif how == "islice":
        assert list(itertools.islice(pipeline, 5)) == ["0", "2", "4", "6", "8"]
    elif how == "close":
        results = iter(pipeline)
        next(results)
        results.close()
    else:
        results = iter(pipeline)
        next(results)
        del results  # CPython closes the generator as it is dropped


def test_a_step_that_stops_reading_its_input_ends_the_run() -> None:
    pipeline = Pipeline(itertools.count()) | double | (lambda items: itertools.islice(items, 3))
    assert pipeline.collect() == [0, 2, 4]


class Lifecycle(Processor[int, int]):
    """Records, per instance, the threads its hooks ran in."""

    log: ClassVar[list[tuple[str, int, int]]] = []
    lock = threading.Lock()

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at

    def _record(self, hook: str) -> None:
        with self.lock:
            self.log.append((hook, id(self), threading.get_ident()))

    def setup(self) -> None:
        self._record("setup")

    def process(self, item: int) -> int:
        if item == self.fail_at:
            raise Boom(f"item {item}")
        return item

    def teardown(self) -> None:
        self._record("teardown")


@pytest.mark.parametrize("fail_at", [None, 500])
def test_processors_set_up_and_tear_down_in_each_workers_thread(fail_at: int | None) -> None:
    Lifecycle.log = []
    lifecycle = step(functools.partial(Lifecycle, fail_at))
    pipeline = Pipeline(range(2000)) | lifecycle.with_options(workers=3)
    if fail_at is None:
        assert pipeline.collect() == list(range(2000))
    else:
        with pytest.raises(Boom):
            pipeline.collect()
    setups = {(instance, thread) for hook, instance, thread in Lifecycle.log if hook == "setup"}
    teardowns = {
        (instance, thread) for hook, instance, thread in Lifecycle.log if hook == "teardown"
    }
    assert len(setups) == 3
    assert teardowns == setups  # same instance, same thread, every worker, even after errors


def test_processors_tear_down_when_the_consumer_stops() -> None:
    Lifecycle.log = []
    results = iter(Pipeline(itertools.count()) | step(Lifecycle).with_options(workers=2))
    next(results)
    results.close()
    hooks = [hook for hook, _, _ in Lifecycle.log]
    assert hooks.count("setup") == hooks.count("teardown") == 2


def test_setup_error_in_a_worker_names_the_hook() -> None:
    class BrokenSetup(Processor[int, int]):
        def setup(self) -> None:
            raise ConnectionError("no database")

        def process(self, item: int) -> int:
            return item

    with pytest.raises(ConnectionError) as caught:
        (Pipeline(range(10)) | step(BrokenSetup).with_options(workers=2)).collect()
    assert caught.value.__notes__[0].startswith(
        "paipa: raised in setup() of step 'BrokenSetup' (1 of 1, process), worker "
    )


def test_teardown_error_in_a_worker_is_raised() -> None:
    class BrokenTeardown(Processor[int, int]):
        def process(self, item: int) -> int:
            return item

        def teardown(self) -> None:
            raise OSError("close failed")

    with pytest.raises(OSError, match="close failed") as caught:
        (Pipeline(range(10)) | step(BrokenTeardown).with_options(workers=1)).collect()
    assert caught.value.__notes__[0].startswith(
        "paipa: raised in teardown() of step 'BrokenTeardown' (1 of 1, process)"
    )


def test_errors_after_the_consumer_stopped_are_logged_not_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Regression: an error raised while a run the consumer had left was being
    # closed (an upstream generator's finally, a worker's teardown) reached
    # nobody and vanished.
    @step
    def fails_when_closed(items: Iterable[int]) -> Iterator[int]:
        try:
            yield from items
        finally:
            raise OSError("cleanup failed")

    class BrokenTeardown(Processor[int, int]):
        def process(self, item: int) -> int:
            return item

        def teardown(self) -> None:
            raise ConnectionError("disconnect failed")

    inline = iter(
        Pipeline(itertools.count()) | fails_when_closed | double.with_options(workers=None)
    )
    threaded = iter(Pipeline(itertools.count()) | step(BrokenTeardown).with_options(workers=1))
    with caplog.at_level("ERROR", logger="paipa"):
        for results in (inline, threaded):
            next(results)
            results.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "paipa"]
    assert any("OSError('cleanup failed')" in message for message in logged)
    assert any("ConnectionError('disconnect failed')" in message for message in logged)
