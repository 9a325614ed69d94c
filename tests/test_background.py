"""Background runs: start(), feeding with put/finish, join/stop/cancel, iteration; batch()."""

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator

import pytest

from paipa import BackgroundRun, Pipeline, batch, step

pytestmark = pytest.mark.timeout(20)


@step.map(workers=3)
def double(x: int) -> int:
    return 2 * x


def test_fed_run_streams_results_when_iterated() -> None:
    with (Pipeline() | double).start() as run:
        assert isinstance(run, BackgroundRun)
        run.put(1)
        run.put_all(range(2, 6))
        run.finish()
        assert list(run) == [2, 4, 6, 8, 10]


def test_iterating_while_feeding_from_another_thread() -> None:
    run = (Pipeline() | double | step.map(str)).start()

    def feed() -> None:
        run.put_all(range(1000))
        run.finish()

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert list(run) == [str(2 * x) for x in range(1000)]
    feeder.join(10)
    assert not feeder.is_alive()


def test_run_for_side_effects_never_waits_for_a_reader() -> None:
    # More outputs than the handle keeps: nobody iterates, the run still ends.
    seen: list[int] = []

    @step.map
    def record(x: int) -> int:
        seen.append(x)
        return x

    run = (Pipeline(range(5000)) | double | record).start()
    result = run.join()  # nobody iterated: join() drains the outputs and counts them
    assert result.items == 5000
    assert result.discarded == 5000
    assert len(seen) == 5000


def test_a_late_reader_gets_every_output() -> None:
    run = (Pipeline(range(5000)) | double).start()
    assert list(run) == [2 * x for x in range(5000)]
    assert run.join().discarded == 0


def test_discard_outputs_never_waits_for_a_reader() -> None:
    run = (Pipeline(range(5000)) | double.with_options(queue_size=4)).start(discard_outputs=True)
    result = run.join()
    assert (result.items, result.discarded) == (5000, 5000)
    with pytest.raises(TypeError, match="discard_outputs=True"):
        iter(run)


def test_feeding_in_a_with_block_and_not_reading_with_discarded_outputs() -> None:
    with (Pipeline() | double).start(discard_outputs=True) as run:
        for item in range(5000):
            run.put(item)
    assert not run.alive
    assert run.join().discarded == 5000


def test_queue_source() -> None:
    inbox: queue.Queue[int] = queue.Queue()
    run = (Pipeline(inbox) | double).start()
    for item in range(5):
        inbox.put(item)
    run.put(5)
    run.finish()
    assert list(run) == [0, 2, 4, 6, 8, 10]


def test_alive_until_finished() -> None:
    run = (Pipeline() | double).start()
    assert run.alive
    run.finish()
    assert run.join().items == 0
    assert not run.alive


def test_put_after_finish_is_refused() -> None:
    run = (Pipeline() | double).start()
    run.finish()
    with pytest.raises(RuntimeError, match=r"put\(\) after finish\(\)"):
        run.put(1)
    run.join()


def test_put_into_a_run_with_its_own_source_is_refused() -> None:
    run = (Pipeline(range(3)) | double).start()
    with pytest.raises(TypeError, match="reads its own source"):
        run.put(1)
    run.join()


def test_a_pipeline_to_be_fed_cannot_run_in_the_foreground() -> None:
    with pytest.raises(TypeError, match=r"start it with pipeline.start\(\)"):
        (Pipeline() | double).collect()


def test_cancel_ends_an_infinite_run() -> None:
    run = (Pipeline(itertools.count()) | double).start()
    run.cancel()  # an infinite run: what is queued at that moment varies; it must end
    assert not run.alive


def test_cancel_a_fed_run_with_items_waiting() -> None:
    release = threading.Event()

    @step.map(workers=1, queue_size=1)
    def held(x: int) -> int:
        assert release.wait(10)
        return x

    run = (Pipeline() | held).start()
    run.put_all(range(2))  # the step is stuck on the first; the input holds the second
    dropped: list[int] = []
    canceller = threading.Thread(target=lambda: dropped.append(run.cancel()))
    canceller.start()  # cancel() returns once the step has let go of its item
    assert run._lifecycle.cancelled.wait(10)  # the input was dropped: now let the step go
    release.set()
    canceller.join(10)
    assert dropped == [1]
    assert not run.alive
    assert run.join().cancelled


def test_stop_lets_taken_items_through_then_returns() -> None:
    outputs: list[int] = []

    @step.map
    def record(x: int) -> int:
        outputs.append(x)
        return x

    run = (Pipeline(itertools.count()) | double | record).start()
    result = run.stop()
    assert result.items == len(outputs)
    assert outputs == [2 * x for x in range(len(outputs))]  # nothing lost in between


class Boom(Exception):
    pass


@step.map(workers=2)
def fails_at_10(x: int) -> int:
    if x == 10:
        raise Boom(x)
    return x


def test_join_raises_the_runs_error() -> None:
    run = (Pipeline(range(100)) | fails_at_10).start()
    with pytest.raises(Boom) as caught:
        run.join()
    assert caught.value.__notes__[0].startswith("paipa: raised in step 'fails_at_10'")


def test_iteration_raises_the_runs_error_after_the_outputs() -> None:
    received = []
    with pytest.raises(Boom):
        for value in (Pipeline(range(100)) | fails_at_10.with_options(workers=1)).start():
            received.append(value)
    # The error cancels the run: outputs still in flight (including those of the
    # failing batch) are dropped, and what did come out is an exact prefix.
    assert received == list(range(len(received)))
    assert len(received) <= 10


def test_with_block_raises_the_runs_error() -> None:
    with pytest.raises(Boom), (Pipeline(range(100)) | fails_at_10).start():
        pass


def test_with_block_failing_cancels_the_run() -> None:
    with pytest.raises(LookupError), (Pipeline(itertools.count()) | double).start():
        raise LookupError("the caller failed")


def test_batch_emits_full_batches_and_partial_ones_after_a_stall() -> None:
    run = (Pipeline() | batch(4, timeout=0.05)).start()
    results = iter(run)
    run.put_all([0, 1, 2])
    assert next(results) == [0, 1, 2]  # input stalled: the partial batch comes out
    run.put_all(range(3, 8))
    assert next(results) == [3, 4, 5, 6]  # full
    assert next(results) == [7]  # stalled again
    run.finish()
    assert list(results) == []


def test_batch_in_a_foreground_run() -> None:
    assert (Pipeline(range(7)) | batch(3, timeout=1)).collect() == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize(
    ("size", "timeout", "error"),
    [(0, 1, ValueError), (2, 0, ValueError), (2, -1, ValueError), (2, "1", TypeError)],
)
def test_batch_refuses_bad_sizes_and_timeouts(
    size: int, timeout: float, error: type[Exception]
) -> None:
    with pytest.raises(error):
        batch(size, timeout)


def test_a_trickled_item_does_not_wait_for_later_ones() -> None:
    # Through a threaded item step, an inline stage between threaded ones, a
    # threaded iterator step and the caller: each put item comes out before the
    # next is put (the test's timeout fails it if one waits for a batch to fill).
    @step(workers=2)
    def tagged(items: Iterable[int]) -> Iterator[str]:
        for item in items:
            yield f"<{item}>"

    pipeline = (
        Pipeline() | double | step.map(lambda x: x + 1) | tagged | double.with_options(workers=1)
    )
    run = pipeline.start()
    results = iter(run)
    for item in range(20):
        run.put(item)
        assert next(results) == f"<{2 * item + 1}>" * 2
    run.finish()
    assert list(results) == []
