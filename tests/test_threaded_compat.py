"""paipa 0.3's threaded API (`paipa.threaded`) over paipa's own engine: what 0.3 promised."""

from __future__ import annotations

import itertools
import logging
import queue
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from interrupts import interrupt

import paipa
from paipa import threaded
from paipa.threaded import (
    AbstractStep,
    Pipeline,
    SkipEntry,
    TimedChunk,
    funcstep,
    iterstep,
)

pytestmark = pytest.mark.timeout(30)


class Flaky(Exception):
    pass


def collector() -> tuple[list[Any], type[AbstractStep]]:
    """A last step keeping what reaches it (from any number of workers)."""
    seen: list[Any] = []
    lock = threading.Lock()

    def keep(item: Any) -> Any:
        with lock:
            seen.append(item)
        return item

    return seen, funcstep(keep)


def test_items_go_through_every_step_on_their_workers() -> None:
    seen, keep = collector()
    pipeline = Pipeline(
        [(funcstep(lambda n: n * 2), 4), (iterstep(paipa.chunk(7)), 2), (keep, 3)],
        max_retries=0,
    )
    pipeline.put_iterable(range(1000))
    pipeline.run()
    items = sorted(n for chunk in seen for n in chunk)
    assert items == [n * 2 for n in range(1000)]
    assert pipeline.count == len(seen)
    assert pipeline.ok
    assert pipeline.counter.counts["<lambda>"] == 1000


def test_hooks_run_where_and_as_often_as_in_0_3() -> None:
    calls: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    main = threading.get_ident()

    class Hooked(AbstractStep):
        def record(self, hook: str) -> None:
            with lock:
                calls.append((hook, self.sibling.index, threading.get_ident()))

        def step_initialize(self) -> None:
            self.record("step_initialize")

        def initialize(self, factor: int = 1) -> None:  # type: ignore[override]
            self.factor = factor
            self.record("initialize")

        def thread_initialize(self) -> None:
            self.record("thread_initialize")

        def thread_shutdown(self) -> None:
            self.record("thread_shutdown")

        def step_shutdown(self) -> None:
            assert all(sibling.done for sibling in self.sibling.threads)
            self.record("step_shutdown")

        def process(self, entry: Any) -> Any:
            self.sibling.storage[entry] = self.sibling.index
            return entry * self.factor

    seen, keep = collector()
    pipeline = Pipeline([(Hooked, 3, {"factor": 10}), (keep, 1)], max_retries=0)
    pipeline.put_all(range(30))
    pipeline.finish()
    pipeline.run()
    assert sorted(seen) == [n * 10 for n in range(30)]
    hooks = [hook for hook, _, _ in calls]
    assert hooks[:4] == ["step_initialize", "initialize", "initialize", "initialize"]
    assert [index for hook, index, _ in calls if hook == "initialize"] == [0, 1, 2]
    assert all(ident == main for hook, _, ident in calls[:4])
    assert hooks.count("thread_initialize") == hooks.count("thread_shutdown") == 3
    assert all(ident != main for hook, _, ident in calls if hook.startswith("thread_"))
    assert hooks[-1] == "step_shutdown"
    assert hooks.count("step_shutdown") == 1


def test_a_failing_item_is_retried_then_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: dict[int, int] = {}

    def fragile(n: int) -> int:
        attempts[n] = attempts.get(n, 0) + 1
        if n == 3 or (n == 5 and attempts[n] < 3):
            raise Flaky(n)
        return n

    seen, keep = collector()
    pipeline = Pipeline([(funcstep(fragile), 1), (keep, 1)], max_retries=2)
    pipeline.put_iterable(range(8))
    with caplog.at_level(logging.ERROR, logger="paipa.threaded"):
        pipeline.run()
    assert sorted(seen) == [0, 1, 2, 4, 5, 6, 7]
    assert attempts[3] == 3
    assert attempts[5] == 3
    assert pipeline.ok
    assert pipeline.count == 7
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert "fragile-0 failed on 3" in dropped[0].getMessage()
    assert dropped[0].exc_info is not None
    assert isinstance(dropped[0].exc_info[1], Flaky)


def test_without_retries_the_run_goes_on_and_raises_the_first_failure() -> None:
    failures: list[bool] = []

    def picky(n: int) -> int:
        if n in (4, 9):
            raise Flaky(n)
        return n

    pipeline = Pipeline(
        [(funcstep(picky), 2)], max_retries=0, fail_callback=lambda: failures.append(True)
    )
    pipeline.put_iterable(range(20))
    with pytest.raises(Flaky) as raised:
        pipeline.run()
    assert raised.value.args[0] in (4, 9)
    assert "paipa.threaded: raised in step 'picky'" in raised.value.__notes__[0]
    assert "1 more item(s) failed" in raised.value.__notes__[-1]
    assert pipeline.count == 18  # the others went through, as in 0.3
    assert not pipeline.ok
    assert failures == [True]


def test_a_failing_iterator_step_fails_the_run_at_once_even_with_an_endless_source() -> None:
    def crash_late(items: Iterator[int]) -> Iterator[int]:
        for n in items:
            if n > 500:
                raise Flaky(n)
            yield n

    pipeline = Pipeline([(iterstep(crash_late), 1)])
    pipeline.put_iterable(itertools.count())
    with pytest.raises(Flaky) as raised:
        pipeline.run()
    assert "crash_late" in raised.value.__notes__[0]
    assert not pipeline.ok
    assert not pipeline.alive


def test_skip_entry_and_reenqueue() -> None:
    class Picky(AbstractStep):
        def process(self, entry: int) -> int:
            if entry % 3 == 0:
                raise SkipEntry
            if entry == 4 and not self.sibling.storage.get("again"):
                self.sibling.storage["again"] = True
                self.reenqueue(entry)
                raise SkipEntry
            return entry

    seen, keep = collector()
    pipeline = Pipeline([(Picky, 2), (keep, 1)], max_retries=0)
    pipeline.put_iterable(range(10))
    pipeline.run()
    assert sorted(seen) == [1, 2, 4, 5, 7, 8]


def test_meta_items_take_their_own_path_and_are_counted() -> None:
    class Both(AbstractStep):
        def process(self, entry: str) -> str:
            assert isinstance(entry, str)
            return entry.upper()

        def process_meta(self, entry: int) -> int:
            assert isinstance(entry, int)
            return entry + 1

    def passthrough(items: Iterator[str]) -> Iterator[str]:
        for item in items:
            assert isinstance(item, str)
            yield item

    seen, keep = collector()
    pipeline = Pipeline([(Both, 3), (iterstep(passthrough), 1), (keep, 1)], max_retries=0)
    for n in range(3):
        pipeline.put("item")
        pipeline.put_meta(n)
    pipeline.finish()
    pipeline.run()
    assert sorted(seen) == ["ITEM"] * 3  # meta items skip funcsteps' process(), too
    assert pipeline.count == 6


def test_timed_chunk_sends_full_chunks_the_rest_at_the_end_and_after_a_stall() -> None:
    seen, keep = collector()
    pipeline = Pipeline([(TimedChunk, 1, {"size": 4, "timeout": 60}), (keep, 1)])
    pipeline.put_iterable(range(10))
    pipeline.run()
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]

    arrived = threading.Event()

    def signal(chunk: list[int]) -> list[int]:
        arrived.set()
        return chunk

    with Pipeline([(TimedChunk, 1, {"size": 100, "timeout": 0.01}), (funcstep(signal), 1)]) as fed:
        fed.put(1)
        fed.put(2)
        assert arrived.wait(10), "a stalled TimedChunk did not send its items"
    assert fed.count == 1


def test_background_runs_stop_and_raise_what_went_wrong() -> None:
    seen, keep = collector()
    pipeline = Pipeline([(keep, 2)])
    pipeline.run_forever(background=True)
    pipeline.put_all(range(50))
    with pytest.raises(RuntimeError, match="already running"):
        pipeline.run_forever(background=True)
    pipeline.stop()
    assert sorted(seen) == list(range(50))
    with pytest.raises(ValueError, match="No background thread"):
        pipeline.stop()

    def crash(items: Iterator[int]) -> Iterator[int]:
        for item in items:
            raise Flaky(item)
        yield from ()

    broken = Pipeline([(iterstep(crash), 1)])
    broken.run_forever(background=True)
    assert broken.alive
    broken.put(7)
    with pytest.raises(Flaky):
        broken.stop()
    assert not broken.alive
    assert not broken.ok
    with pytest.raises(paipa.RunCancelled) as refused:
        broken.put(8)
    assert isinstance(refused.value.__cause__, Flaky)  # what went wrong, at once
    broken.finish()  # harmless, as in 0.3


def test_a_failing_with_block_is_not_hidden_by_the_pipeline() -> None:
    seen, keep = collector()
    with pytest.raises(KeyError), Pipeline([(keep, 1)]) as pipeline:
        pipeline.put(1)
        raise KeyError("the block's own error")
    assert seen == [1]  # 0.3 finished the run: the items put went through


def test_an_external_in_queue_is_read_and_finish_ends_the_run() -> None:
    source: queue.Queue[int] = queue.Queue()
    for n in range(5):
        source.put(n)
    seen, keep = collector()
    pipeline = Pipeline([(keep, 1)], in_queue=source)
    pipeline.run_forever(background=True)
    source.put(5)
    pipeline.stop()
    assert sorted(seen) == list(range(6))


def test_trackers_are_told_of_each_item_and_their_failures_are_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[str] = []

    class Tracker:
        def before_process(self, step: AbstractStep) -> None:
            told.append(f"before {step.name}")
            raise OSError("the tracker's own trouble")

        def after_process(self, step: AbstractStep) -> None:
            told.append("after")

    pipeline = Pipeline([(funcstep(str), 1)], tracker=Tracker())
    pipeline.put_iterable(range(3))
    pipeline.run()
    assert told == ["before str-0", "after"] * 3
    assert pipeline.count == 3
    assert sum("tracker" in r.getMessage() for r in caplog.records) == 3


def test_unknown_keywords_reach_the_steps_options() -> None:
    options: list[dict[str, Any]] = []

    class Reader(AbstractStep):
        def process(self, entry: Any) -> Any:
            options.append(self.options)
            return entry

    pipeline = Pipeline([(Reader, 1)], no_log_exceptions=(Flaky,))
    pipeline.put_iterable([1])
    pipeline.run()
    assert options == [{"no_log_exceptions": (Flaky,)}]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([(funcstep(str),)], "Invalid step definition"),
        ([(str, 1)], "Unknown step"),
        ([(funcstep(str), 0)], "Invalid number of workers 0"),
        ([(funcstep(str), 1, [("size", 3)])], "Invalid step options"),
    ],
)
def test_bad_step_lists_are_refused_when_the_pipeline_is_made(
    steps: list[Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Pipeline(steps)


def test_other_mistakes_get_clear_errors() -> None:
    class Looping(AbstractStep):
        def _loop(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"overrides _loop\(\)"):
        Pipeline([(Looping, 1)])
    with pytest.raises(TypeError, match=r"in_queue must be a queue\.Queue"):
        Pipeline([], in_queue=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be filled with entries"):
        Pipeline([(funcstep(str), 1)]).run()
    with pytest.raises(TypeError, match="funcstep"):
        funcstep(3)  # type: ignore[arg-type]


def test_the_new_pipeline_refuses_the_0_3_form_and_shows_both_ways_out() -> None:
    with pytest.raises(TypeError) as refused:
        paipa.Pipeline([(funcstep(str), 4), (funcstep(repr), 1)])
    message = str(refused.value)
    assert "@step.map(workers=4)" in message
    assert "from paipa.threaded import Pipeline" in message
    assert paipa.Pipeline([(1, 2), (3, 4)]).collect() == [(1, 2), (3, 4)]  # data stays data


def test_the_spellings_of_0_3_notes_work() -> None:
    assert issubclass(funcstep(str), threaded.FuncStep)
    assert issubclass(iterstep(iter), threaded.IterStep)
    seen, keep = collector()
    pipeline = Pipeline([(keep, 1)])
    pipeline.add_iterable("ab")
    pipeline.run()
    assert sorted(seen) == ["a", "b"]


def test_top_level_names_of_0_3_still_import() -> None:
    assert paipa.AbstractStep is threaded.AbstractStep
    assert paipa.SkipEntry is threaded.SkipEntry
    assert paipa.funcstep is threaded.funcstep
    assert paipa.iterstep is threaded.iterstep


def test_ctrl_c_stops_a_run_waiting_for_input(tmp_path: Any) -> None:
    script = tmp_path / "waiting.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            from paipa.threaded import Pipeline, funcstep

            def announce(item):
                print("ready", flush=True)  # the run is going: run_forever() waits for more
                return item

            pipeline = Pipeline([(funcstep(announce), 4), (funcstep(len), 2)])
            pipeline.put("first")
            try:
                pipeline.run_forever()
            except KeyboardInterrupt:
                print("interrupted", threading.active_count(), flush=True)
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    stdout, stderr = interrupt(child, within=10)
    assert "interrupted 1" in stdout, stderr


def test_stop_from_a_step_of_the_run_finishes_it_without_waiting_for_itself() -> None:
    pipelines: list[Pipeline] = []
    done = threading.Event()

    def stopper(item: int) -> int:
        if item == 3:
            pipelines[0].stop()  # 0.3 deadlocked here
            done.set()
        return item

    pipeline = Pipeline([(funcstep(stopper), 2)])
    pipelines.append(pipeline)
    pipeline.put_all(range(5))  # all in before the run starts: the stop cannot cut them off
    pipeline.run_forever(background=True)
    assert done.wait(10)
    pipeline.stop()
    assert pipeline.count == 5


def run_script(tmp_path: Any, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=30, check=False
    )


def test_a_background_run_left_going_is_finished_when_the_program_ends(tmp_path: Any) -> None:
    result = run_script(
        tmp_path,
        """
        import threading
        from paipa.threaded import Pipeline, funcstep

        lock = threading.Lock()

        def store(item):
            with lock:
                print("stored", item, flush=True)

        pipeline = Pipeline([(funcstep(store), 2)])
        pipeline.run_forever(background=True)
        pipeline.put_all(range(20))
        """,
    )
    assert result.returncode == 0, result.stderr
    stored = sorted(int(line.split()[1]) for line in result.stdout.splitlines() if "stored" in line)
    assert stored == list(range(20)), result.stdout  # no item lost, as 0.3 promised


def test_with_daemon_the_program_ends_without_waiting_for_the_run(tmp_path: Any) -> None:
    result = run_script(
        tmp_path,
        """
        import threading
        from paipa.threaded import Pipeline, funcstep

        never = threading.Event()
        pipeline = Pipeline([(funcstep(lambda item: never.wait()), 1)], daemon=True)
        pipeline.run_forever(background=True)
        pipeline.put(1)
        print("end of the script", flush=True)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "end of the script\n"


def test_stop_inside_the_with_block_is_not_an_error() -> None:
    seen, keep = collector()
    with Pipeline([(keep, 1)]) as pipeline:
        pipeline.put(1)
        pipeline.stop()
    assert seen == [1]


def test_a_failure_downstream_stops_a_one_worker_step_at_its_next_item() -> None:
    processed: list[int] = []
    pipelines: list[Pipeline] = []

    def slow(item: int) -> int:
        processed.append(item)
        if item == 1:  # hold until the run is being cancelled by the failure below
            # (polled: the step may start before the pipeline has stored its run's handle)
            while pipelines[0].alive:
                threading.Event().wait(0.001)
        return item

    def crash(items: Iterator[int]) -> Iterator[int]:
        for item in items:
            raise Flaky(item)
        yield from ()

    pipeline = Pipeline([(funcstep(slow), 1), (iterstep(crash), 1)], max_retries=0)
    pipelines.append(pipeline)
    pipeline.put_iterable(range(100))
    with pytest.raises(Flaky):
        pipeline.run()
    assert processed == [0, 1]  # not the rest of a 64-item batch


def test_items_an_iterator_step_reenqueues_come_back_to_it() -> None:
    class Twice(threaded.AbstractIterStep):
        def process(self, entry: Iterator[int]) -> Iterator[int]:
            seen: set[int] = set()
            for item in entry:
                if item % 2 and item not in seen:
                    seen.add(item)
                    self.reenqueue(item)
                    continue
                yield item

    seen, keep = collector()
    pipeline = Pipeline([(Twice, 1), (keep, 1)])
    pipeline.put_iterable(range(10))
    pipeline.run()
    assert sorted(seen) == list(range(10))


def test_a_step_feeding_its_own_bounded_in_queue_does_not_deadlock() -> None:
    source: queue.Queue[int] = queue.Queue(maxsize=1)
    pipelines: list[Pipeline] = []

    def spread(item: int) -> int:
        if item < 20:
            pipelines[0].put(item + 10)
            pipelines[0].put(item + 11)
        return item

    seen: list[int] = []
    all_in = threading.Event()

    def keep(item: int) -> int:  # one worker: no lock needed
        seen.append(item)
        if len(seen) == 7:  # 0 -> 10, 11 -> 20, 21, 21, 22: all end below 30
            all_in.set()
        return item

    pipeline = Pipeline([(funcstep(spread), 1), (funcstep(keep), 1)], in_queue=source)
    pipelines.append(pipeline)
    pipeline.run_forever(background=True)
    pipeline.put(0)
    assert all_in.wait(20), seen
    pipeline.stop()
    assert sorted(seen) == [0, 10, 11, 20, 21, 21, 22]


def test_a_second_run_while_one_goes_on_is_refused() -> None:
    seen, keep = collector()
    pipeline = Pipeline([(keep, 1)])
    pipeline.run_forever(background=True)
    with pytest.raises(RuntimeError, match="already running"):
        pipeline.run()
    pipeline.put(1)
    pipeline.stop()
    assert seen == [1]


def test_hooks_failing_at_the_end_fail_the_run_after_the_items_are_through() -> None:
    calls: list[str] = []

    class Fragile(AbstractStep):
        def thread_initialize(self) -> None:
            if self.sibling.index == 1:
                raise ConnectionError("cannot connect")

        def thread_shutdown(self) -> None:
            calls.append(f"thread_shutdown {self.sibling.index}")

        def step_shutdown(self) -> None:
            calls.append("step_shutdown")

        def process(self, entry: int) -> int:
            return entry

    pipeline = Pipeline([(Fragile, 2)])
    pipeline.put_iterable(range(5))
    with pytest.raises(ConnectionError):
        pipeline.run()
    assert "step_shutdown" in calls  # the step's own cleanup still runs
    assert "thread_shutdown 1" not in calls  # that worker never started

    class Closing(AbstractStep):
        def thread_shutdown(self) -> None:
            if self.sibling.index == 0:
                raise OSError("close failed")

        def process(self, entry: int) -> int:
            return entry

    seen, keep = collector()
    pipeline = Pipeline([(Closing, 2), (keep, 1)])
    pipeline.put_iterable(range(50))
    with pytest.raises(OSError, match="close failed") as raised:
        pipeline.run()
    assert sorted(seen) == list(range(50))  # the other worker finished its items first
    assert "thread_shutdown" in raised.value.__notes__[0]


def test_put_iterable_takes_one_iterable_and_no_options() -> None:
    pipeline = Pipeline([(funcstep(str), 1)])
    with pytest.raises(TypeError, match="no options"):
        pipeline.put_iterable([1], size=3)
    pipeline.put_iterable([1])
    with pytest.raises(RuntimeError, match="called already"):
        pipeline.put_iterable([2])


def test_ctrl_c_while_stop_waits_cancels_the_run(tmp_path: Any) -> None:
    script = tmp_path / "stopping.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import threading
            from paipa.threaded import Pipeline, funcstep

            never = threading.Event()
            main = threading.main_thread().ident

            def waiting_in_stop():
                frame = sys._current_frames().get(main)
                while frame is not None and frame.f_code.co_name != "stop":
                    frame = frame.f_back
                return frame is not None

            def stuck(item):
                while not waiting_in_stop():
                    never.wait(0.001)
                print("ready", flush=True)
                never.wait(1)  # a slow item: Ctrl-C cannot cut it short, only what follows

            pipeline = Pipeline([(funcstep(stuck), 1), (funcstep(str), 1)])
            pipeline.put(1)
            pipeline.put(2)
            pipeline.run_forever(background=True)
            try:
                pipeline.stop()
            except KeyboardInterrupt:
                print("interrupted", pipeline.alive, flush=True)
            """
        )
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    stdout, stderr = interrupt(child, within=10)
    assert "interrupted False" in stdout, stderr


def test_a_run_after_a_finished_one_takes_new_input() -> None:
    seen, keep = collector()
    pipeline = Pipeline([(keep, 1)])
    pipeline.put(1)
    pipeline.finish()
    pipeline.run()
    pipeline.run_forever(background=True)
    pipeline.put(2)
    pipeline.stop()
    assert seen == [1, 2]


def test_items_reenqueued_after_the_input_ended_go_through_again() -> None:
    class Batching(threaded.AbstractIterStep):
        def process(self, entry: Iterator[int]) -> Iterator[int]:
            items = list(entry)
            for item in items:
                if item % 2 and not self.sibling.storage.get(item):
                    self.sibling.storage[item] = True
                    self.reenqueue(item)  # after the input has ended
                else:
                    yield item

    seen, keep = collector()
    pipeline = Pipeline([(Batching, 1), (keep, 1)])
    pipeline.put_iterable(range(10))
    pipeline.run()
    assert sorted(seen) == list(range(10))
