"""Retries and error policies of item steps, on every engine."""

import threading
from collections.abc import Iterator

import pytest
from conftest import Engine

from paipa import Pipeline, Processor, step

pytestmark = pytest.mark.timeout(20)


class Flaky:
    """Fails the first `failures` calls for each item, then succeeds."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls: dict[int, int] = {}
        self.lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:  # sent to worker processes: without the lock
        return {key: value for key, value in self.__dict__.items() if key != "lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.lock = threading.Lock()

    def __call__(self, item: int) -> int:
        with self.lock:
            self.calls[item] = self.calls.get(item, 0) + 1
            calls = self.calls[item]
        if calls <= self.failures:
            raise self.error(f"attempt {calls} for {item}")
        return item * 10


def test_retries_until_success(engine: Engine) -> None:
    flaky = Flaky(failures=2)
    retrying = step.map(flaky).with_options(retries=2, backoff=0)
    result = (Pipeline(range(20)) | engine(retrying)).run()
    assert result.items == 20
    assert result.retries == 40
    if not engine.processes:  # a worker process counts in its own copy
        assert set(flaky.calls.values()) == {3}


def test_retries_exhausted_raise_the_last_error(engine: Engine) -> None:
    retrying = step.map(Flaky(failures=5)).with_options(retries=2, backoff=0, name="flaky")
    with pytest.raises(ConnectionError, match="attempt 3 for") as caught:
        (Pipeline(range(5)) | engine(retrying)).collect()
    assert caught.value.__notes__[0].startswith("paipa: raised in step 'flaky'")


def test_only_the_named_exceptions_are_retried(engine: Engine) -> None:
    retrying = step.map(Flaky(failures=1, error=KeyError)).with_options(
        retries=3, retry_on=ConnectionError, backoff=0
    )
    with pytest.raises(KeyError, match="attempt 1"):
        (Pipeline(range(5)) | engine(retrying)).collect()


def test_skip_drops_failed_items_and_counts_them(engine: Engine) -> None:
    @step.map(on_error="skip")
    def odd_fails(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    pipeline = Pipeline(range(10)) | engine(odd_fails)
    assert pipeline.collect() == [0, 2, 4, 6, 8]
    assert pipeline.run().skipped == 5


def test_dead_letter_hook_receives_every_failed_item(engine: Engine) -> None:
    dead: list[tuple[int, str]] = []
    lock = threading.Lock()

    def dead_letter(item: int, error: Exception) -> None:
        with lock:
            dead.append((item, repr(error)))

    @step.flat_map(on_error=dead_letter, retries=1, backoff=0)
    def explode(x: int) -> Iterator[int]:
        yield x
        if x % 3 == 0:
            raise ValueError(x)  # after a first result: the item still counts as failed

    result = (Pipeline(range(9)) | engine(explode)).run()
    assert sorted(dead) == [(0, "ValueError(0)"), (3, "ValueError(3)"), (6, "ValueError(6)")]
    assert result.items == 6  # every item is accounted for: 6 out, 3 dead-lettered
    assert (result.retries, result.skipped, result.dead_lettered) == (3, 3, 3)


def test_policies_apply_to_processors(engine: Engine) -> None:
    class Parse(Processor[str, int]):
        def process(self, item: str) -> int:
            return int(item)

    parse = step(Parse).with_options(on_error="skip")
    assert (Pipeline(["1", "x", "3"]) | engine(parse)).collect() == [1, 3]


def test_a_failing_dead_letter_hook_fails_the_run(engine: Engine) -> None:
    def broken_hook(item: int, error: Exception) -> None:
        raise RuntimeError("dead-letter store is down")

    failing = step.map(lambda x: 1 // 0).with_options(on_error=broken_hook)
    with pytest.raises(RuntimeError, match="store is down"):
        (Pipeline(range(3)) | engine(failing)).collect()


def test_backoff_doubles_between_attempts() -> None:
    pauses: list[float] = []
    from paipa._engine._policy import ErrorCounts, with_policy

    retrying = step.map(Flaky(failures=3)).with_options(retries=3, backoff=0.5)
    call = with_policy(retrying, retrying.function, ErrorCounts(), pauses.append)
    assert call(7) == 70
    assert pauses == [0.5, 1.0, 2.0]


def test_cancelling_wakes_a_worker_waiting_to_retry() -> None:
    # Item 1 fails and its retry waits an hour. Closing the run must wake that
    # wait and join the worker now: the test's timeout and the thread-leak
    # check fail otherwise.
    waiting = threading.Event()

    @step.map(retries=1, backoff=3600, workers=1)
    def second_fails(x: int) -> int:
        if x == 1:
            waiting.set()
            raise ConnectionError(x)
        return x

    results = iter(Pipeline(range(3)) | second_fails)
    assert next(results) == 0
    assert waiting.wait(10)
    results.close()


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"retries": -1}, ValueError, "-1"),
        ({"retry_on": ValueError()}, TypeError, "ValueError()"),
        ({"retry_on": ()}, ValueError, "at least one"),
        ({"backoff": -1}, ValueError, "-1"),
        ({"backoff": "1s"}, TypeError, "'1s'"),
        ({"on_error": "ignore"}, TypeError, "'ignore'"),
    ],
)
def test_bad_policies_are_refused(
    options: dict[str, object], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        step.map(lambda x: x).with_options(**options)  # type: ignore[arg-type]


def test_policies_are_refused_on_iterator_steps() -> None:
    with pytest.raises(TypeError, match="apply to item steps"):
        step(lambda items: items).with_options(retries=2)
