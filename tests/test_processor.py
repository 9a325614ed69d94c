"""Processor steps: per-worker setup, process and teardown."""

import functools

import pytest

from paipa import Pipeline, Processor, Skip, step


class Recorder(Processor[int, int]):
    """Adds an offset; records its lifecycle in a shared log."""

    def __init__(self, log: list[str], fail_at: int | None = None, offset: int = 100) -> None:
        self.log = log
        self.fail_at = fail_at
        self.offset = offset

    def setup(self) -> None:
        self.log.append("setup")

    def process(self, item: int) -> int:
        if item == self.fail_at:
            raise ValueError(f"bad item {item}")
        if item < 0:
            raise Skip
        self.log.append(f"process {item}")
        return item + self.offset

    def teardown(self) -> None:
        self.log.append("teardown")


def test_lifecycle_in_order() -> None:
    log: list[str] = []
    pipeline = Pipeline([1, -1, 2]) | functools.partial(Recorder, log)
    assert pipeline.collect() == [101, 102]
    assert log == ["setup", "process 1", "process 2", "teardown"]


def test_a_new_instance_per_run() -> None:
    log: list[str] = []
    pipeline = Pipeline([1]) | step(functools.partial(Recorder, log))
    pipeline.run()
    pipeline.run()
    assert log.count("setup") == 2
    assert log.count("teardown") == 2


def test_decorated_processor_class() -> None:
    @step(name="add ten")
    class AddTen(Processor[int, int]):
        def process(self, item: int) -> int:
            return item + 10

    assert AddTen.kind == "process"
    assert (Pipeline([1, 2]) | AddTen).collect() == [11, 12]
    assert AddTen().process(1) == 11  # calling the step still builds an instance


def test_partial_binds_constructor_arguments() -> None:
    log: list[str] = []
    recorder = step(functools.partial(Recorder, log)).partial(offset=1)
    assert (Pipeline([1]) | recorder).collect() == [2]


def test_teardown_runs_after_an_error_and_the_error_names_the_step() -> None:
    log: list[str] = []
    pipeline = Pipeline([1, 2, 3]) | step(functools.partial(Recorder, log, 2), name="rec")
    with pytest.raises(ValueError, match="bad item 2") as caught:
        pipeline.collect()
    assert log == ["setup", "process 1", "teardown"]
    assert caught.value.__notes__ == ["paipa: raised in step 'rec' (1 of 1, process)"]


def test_teardown_runs_when_the_consumer_stops_early() -> None:
    log: list[str] = []
    results = iter(Pipeline(range(100)) | functools.partial(Recorder, log))
    assert next(results) == 100
    results.close()
    assert log == ["setup", "process 0", "teardown"]


class FailingSetup(Processor[int, int]):
    torn_down = False

    def setup(self) -> None:
        raise ConnectionError("no database")

    def process(self, item: int) -> int:
        return item

    def teardown(self) -> None:
        FailingSetup.torn_down = True


def test_setup_error_names_the_hook_and_skips_teardown() -> None:
    with pytest.raises(ConnectionError) as caught:
        (Pipeline([1]) | FailingSetup).collect()
    assert caught.value.__notes__ == [
        "paipa: raised in setup() of step 'FailingSetup' (1 of 1, process)"
    ]
    assert not FailingSetup.torn_down


class FailingTeardown(Processor[int, int]):
    def process(self, item: int) -> int:
        if item == 3:
            raise KeyError(item)
        return item

    def teardown(self) -> None:
        raise OSError("close failed")


def test_teardown_error_is_raised_when_nothing_else_failed() -> None:
    with pytest.raises(OSError, match="close failed") as caught:
        (Pipeline([1, 2]) | FailingTeardown).collect()
    assert caught.value.__notes__ == [
        "paipa: raised in teardown() of step 'FailingTeardown' (1 of 1, process)"
    ]


def test_teardown_error_does_not_hide_the_original_error() -> None:
    with pytest.raises(KeyError) as caught:
        (Pipeline([1, 3]) | FailingTeardown).collect()
    notes = caught.value.__notes__
    assert notes[0].startswith("paipa: teardown() of step 'FailingTeardown' also failed: OSError")
    assert notes[1] == "paipa: raised in step 'FailingTeardown' (1 of 1, process)"


def test_several_processors_tear_down_in_reverse_order() -> None:
    log: list[str] = []

    class Named(Processor[int, int]):
        def __init__(self, name: str) -> None:
            self.name = name

        def setup(self) -> None:
            log.append(f"setup {self.name}")

        def process(self, item: int) -> int:
            return item

        def teardown(self) -> None:
            log.append(f"teardown {self.name}")

    pipeline = Pipeline([1]) | functools.partial(Named, "a") | functools.partial(Named, "b")
    assert pipeline.collect() == [1]
    assert log == ["setup a", "setup b", "teardown b", "teardown a"]


def test_processor_instance_is_rejected_with_a_hint() -> None:
    with pytest.raises(TypeError, match="pass its class"):
        Pipeline([1]) | Recorder([])  # type: ignore[operator]
