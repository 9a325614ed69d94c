"""Process stages: `backend="process"` runs each worker's work in a child process.

The parent keeps the channels, order, retries, on_error, counts and cancel;
these tests check that the results and the errors are those of a threaded
run, that a dying worker fails the run naming what it held, and that no
worker process outlives its run, however the run ends (the autouse fixture
in conftest.py fails any test that leaves one). Step functions live in
processes_helpers.py: worker processes import them by name.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import processes_helpers as helpers
import psutil
import pytest
from conftest import worker_processes
from interrupts import LOST, interrupt

import paipa._engine._wire
from paipa import Pipeline, ProcessBackend, RemoteError, Step, step

pytestmark = pytest.mark.timeout(30)

TESTS = Path(__file__).parent
METHODS = ["spawn", "forkserver", "fork"]
# Python 3.12+ warns that fork() in a process running threads may deadlock; the
# "fork" start method is there for code that needs it, and is tested as such.
FORK_WARNING = "ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning"


def process_step(function: Callable[..., Any], **options: Any) -> Step[Any, Any]:
    """An item step of `function` on two worker processes (map unless `kind` says)."""
    kind = options.pop("kind", "map")
    options.setdefault("workers", 2)
    options.setdefault("backend", "process")
    decorator = {"map": step.map, "filter": step.filter, "flat_map": step.flat_map}[kind]
    return decorator(function, **options)


def wait_for_files(directory: Path, prefix: str, count: int, within: float = 15.0) -> list[str]:
    """Wait until `directory` holds `count` files named `prefix`...; return their names."""
    deadline = time.monotonic() + within
    while True:
        names = sorted(name for name in os.listdir(directory) if name.startswith(prefix))
        if len(names) >= count:
            return names
        if time.monotonic() > deadline:
            pytest.fail(f"{count} {prefix!r} files expected in {within} s, found {names}")
        time.sleep(0.005)


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie waiting to be reaped has)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def child_env() -> dict[str, str]:
    """The environment for a child script that imports processes_helpers."""
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


# -- results: order, kinds, start methods ---------------------------------------------------


@pytest.mark.filterwarnings(FORK_WARNING)
@pytest.mark.parametrize("method", METHODS)
def test_item_steps_of_every_kind_run_in_worker_processes(method: str) -> None:
    backend = ProcessBackend(start_method=method)
    numbers = Pipeline(range(300))
    mapped = (numbers | process_step(helpers.pid_of_worker, backend=backend)).collect()
    assert [item for item, _ in mapped] == list(range(300))  # in order
    pids = {pid for _, pid in mapped}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    evens = numbers | process_step(helpers.is_even, kind="filter", backend=backend)
    assert evens.collect() == list(range(0, 300, 2))
    doubled = numbers | process_step(helpers.twice, kind="flat_map", backend=backend)
    assert doubled.collect() == [x for x in range(300) for _ in (1, 2)]
    processed = numbers | step(helpers.Doubler, workers=2, backend=backend)
    assert processed.collect() == [2 * x for x in range(300)]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])  # fork: see the test below
def test_several_process_stages_in_a_row(method: str) -> None:
    backend = ProcessBackend(start_method=method)
    pipeline = (
        Pipeline(range(300))
        | process_step(helpers.is_even, kind="filter", backend=backend)
        | process_step(helpers.twice, kind="flat_map", backend=backend)
        | step(helpers.Doubler, workers=2, backend=backend)
        | process_step(helpers.pid_of_worker, backend=backend)
    )
    outputs = pipeline.collect()
    assert [item for item, _ in outputs] == [2 * x for x in range(0, 300, 2) for _ in (1, 2)]
    assert os.getpid() not in {pid for _, pid in outputs}


REPEATED_RUNS_CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from paipa import Pipeline, ProcessBackend, step
    from processes_helpers import plus_one

    if __name__ == "__main__":
        method, stages, workers, items, attempts = sys.argv[1:]
        backend = ProcessBackend(start_method=method)
        pipeline = Pipeline(range(int(items)))
        for _ in range(int(stages)):
            pipeline = pipeline | step.map(plus_one, workers=int(workers), backend=backend)
        expected = [x + int(stages) for x in range(int(items))]
        for attempt in range(int(attempts)):  # a race: several tries find it
            done = threading.Event()

            def watchdog(attempt=attempt, done=done):
                if not done.wait(5):
                    print(f"attempt {attempt} hung", flush=True)
                    os._exit(1)

            threading.Thread(target=watchdog, daemon=True).start()
            try:
                assert pipeline.collect() == expected
            except BaseException as error:
                print(f"attempt {attempt} failed: {error!r}", flush=True)
                os._exit(1)
            done.set()
        print(f"{attempts} runs ended", flush=True)
    """
)


def run_repeatedly(method: str, stages: int, workers: int, items: int, attempts: int) -> None:
    """Run a pipeline of `stages` process stages `attempts` times in a child script.

    Each run must end within 5 s (the child's watchdog ends a hung one) with the
    right results.
    """
    arguments = [str(value) for value in (method, stages, workers, items, attempts)]
    child = subprocess.Popen(
        [sys.executable, "-c", REPEATED_RUNS_CHILD, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=50)
    finally:
        with_kill(child)
    assert stdout == f"{attempts} runs ended\n", stdout + stderr[-2000:]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "attempts"), [("fork", 40), ("forkserver", 12)])
def test_runs_with_more_workers_than_items_end(method: str, attempts: int) -> None:
    # One item, eight workers: the first worker ends while the others still start.
    # (In 5072e94, start() took the stage's lock, then _REAPING, and _end() took
    # them the other way round: such runs deadlocked within a few tries.)
    run_repeatedly(method, stages=1, workers=8, items=1, attempts=attempts)


@pytest.mark.timeout(60)
def test_several_fork_process_stages_in_a_row_end() -> None:
    # With fork, a worker process inherits the pipes of the workers started
    # before it: a stage whose worker process has ended may never see its pipe
    # close. (Before 5072e94, end() then waited on recv() for ever.)
    run_repeatedly("fork", stages=4, workers=2, items=300, attempts=20)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.filterwarnings(FORK_WARNING)
def test_unordered_output_has_every_result(method: str) -> None:
    pipeline = Pipeline(range(300)) | process_step(
        helpers.jittered, ordered=False, backend=ProcessBackend(start_method=method)
    )
    assert sorted(pipeline.collect()) == list(range(300))


def test_skips_and_counts_match_the_thread_backend() -> None:
    def run(backend: str) -> tuple[list[int], tuple[int, int, int]]:
        pipeline = (
            Pipeline(range(100))
            | process_step(helpers.skip_threes, backend=backend)
            | process_step(helpers.fails_on_multiples_of_4, backend=backend, on_error="skip")
        )
        result = pipeline.run()
        return pipeline.collect(), (result.items, result.skipped, result.dead_lettered)

    outputs, counts = run("process")
    assert outputs == [x for x in range(100) if x % 3 and x % 4]
    assert counts == (len(outputs), 16, 0)  # 16: the multiples of 4 but not of 3
    assert (outputs, counts) == run("thread")


def test_with_backend_moves_every_threaded_step() -> None:
    threaded = Pipeline(range(50)) | step.map(helpers.pid_of_worker, workers=2)
    moved = threaded.with_backend("process")
    assert moved.steps[0].backend.name == "process (forkserver)"
    outputs = moved.collect()
    assert [item for item, _ in outputs] == list(range(50))
    assert os.getpid() not in {pid for _, pid in outputs}
    back = moved.with_backend("thread").collect()
    assert {pid for _, pid in back} == {os.getpid()}


def test_a_fed_background_run() -> None:
    with (Pipeline() | process_step(helpers.square)).start() as run:
        for number in range(40):
            run.put(number)
        run.finish()
        assert list(run) == [x * x for x in range(40)]
    assert run.join().items == 40


def test_mixed_inline_thread_and_process_stages() -> None:
    pipeline = (
        Pipeline(range(500))
        | step.map(helpers.plus_one)
        | step.map(helpers.triple, workers=3)
        | process_step(helpers.square)
        | step.filter(helpers.is_even)
    )
    expected = [(3 * (x + 1)) ** 2 for x in range(500) if (3 * (x + 1)) ** 2 % 2 == 0]
    assert pipeline.collect() == expected
    result = pipeline.run()
    assert result.items == len(expected)


# -- options, explain ------------------------------------------------------------------------


def test_process_backend_needs_workers_and_a_known_name() -> None:
    with pytest.raises(TypeError, match=r"'square'.*workers"):
        step.map(helpers.square, backend="process")
    with pytest.raises(TypeError, match=r"'square'.*workers"):
        step.map(helpers.square).with_options(backend="process")
    with pytest.raises(ValueError, match="'gpu'"):
        step.map(helpers.square, workers=2, backend="gpu")
    with pytest.raises(ValueError, match="'threads'"):
        ProcessBackend(start_method="threads")


def test_explain_shows_worker_processes_and_their_start_method() -> None:
    default = Pipeline(range(3)) | process_step(helpers.square)
    assert "2 worker processes (forkserver)" in default.explain()
    assert "its own processes" in default.explain()
    spawned = Pipeline(range(3)) | process_step(
        helpers.square, backend=ProcessBackend(start_method="spawn")
    )
    assert "2 worker processes (spawn)" in spawned.explain()


# -- errors ----------------------------------------------------------------------------------


def test_an_error_arrives_with_its_type_and_both_notes() -> None:
    pipeline = Pipeline(range(20)) | step.map(helpers.plus_one) | process_step(helpers.fails_on_7)
    with pytest.raises(helpers.BadRecord, match="bad record 7") as caught:
        pipeline.run()
    notes = caught.value.__notes__
    assert re.fullmatch(
        r"paipa: raised in step 'fails_on_7' \(2 of 2, map\), worker [12] of 2, "
        r"on input item #6",  # #6 of the step's input: plus_one made it 7
        notes[0],
    ), notes
    assert notes[1].startswith("paipa: traceback in the worker process:\nTraceback")
    assert "in fails_on_7" in notes[1]
    assert 'raise BadRecord(f"bad record {x}")' in notes[1]


def test_an_exception_that_cannot_be_pickled_arrives_as_remote_error() -> None:
    with pytest.raises(RemoteError) as caught:
        (Pipeline(range(10)) | process_step(helpers.raises_unpicklable)).run()
    error = caught.value
    assert error.type_name == "processes_helpers.HoldsALock"
    assert "holds a lock" in error.message
    assert "processes_helpers.HoldsALock" in str(error)
    assert error.__notes__[0].startswith("paipa: raised in step 'raises_unpicklable'")
    assert "#3" in error.__notes__[0]
    assert "in raises_unpicklable" in error.__notes__[1]


def test_retries_happen_in_the_worker_and_are_counted() -> None:
    # Each item fails its first attempt in the worker process that gets it
    # (the set of items seen is per process) and succeeds when tried again.
    pipeline = Pipeline(range(40)) | process_step(
        helpers.fails_first_time, retries=1, retry_on=ConnectionError, backoff=0
    )
    assert pipeline.collect() == list(range(40))
    result = pipeline.run()
    assert (result.items, result.retries, result.dead_lettered) == (40, 40, 0)


def test_retries_exhausted_raise_the_last_error() -> None:
    pipeline = Pipeline(range(10)) | process_step(
        helpers.fails_on_multiples_of_4, retries=2, backoff=0
    )
    with pytest.raises(KeyError) as caught:
        pipeline.run()
    assert re.search(r"on input item #[048]$", caught.value.__notes__[0])


def test_dead_letter_callable_runs_in_the_parent() -> None:
    failed: list[tuple[int, Exception, int]] = []

    def save_for_later(item: int, error: Exception) -> None:
        failed.append((item, error, os.getpid()))

    pipeline = Pipeline(range(20)) | process_step(
        helpers.fails_on_multiples_of_4, on_error=save_for_later
    )
    result = pipeline.run()
    assert (result.items, result.dead_lettered) == (15, 5)
    failed.sort(key=lambda entry: entry[0])  # the workers' order, not the input's
    assert [item for item, _, _ in failed] == [0, 4, 8, 12, 16]
    assert all(type(error) is KeyError for _, error, _ in failed)
    assert [error.args for _, error, _ in failed] == [(x,) for x in (0, 4, 8, 12, 16)]
    assert {pid for _, _, pid in failed} == {os.getpid()}


# -- pickling --------------------------------------------------------------------------------


def test_a_lambda_is_refused_without_cloudpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paipa._engine._wire, "_cloudpickle", lambda: None)
    pulled: list[int] = []

    def source() -> Any:
        for number in range(10):
            pulled.append(number)
            yield number

    pipeline = Pipeline(source) | step.map(
        lambda x: x + 1, workers=2, backend="process", name="add_one"
    )
    with pytest.raises(TypeError, match=r"step 'add_one' cannot be sent.*cloudpickle"):
        pipeline.run()
    assert pulled == []  # refused when the run starts, before any item is taken


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_decorated_module_level_steps_need_no_cloudpickle(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The module binds `decorated_square` to the step, so plain pickle cannot find the
    # function by its name; the worker takes it from the step of that name.
    monkeypatch.setattr(paipa._engine._wire, "_cloudpickle", lambda: None)
    backend = ProcessBackend(start_method=method)
    squares = helpers.decorated_square.with_options(backend=backend)
    doubles = helpers.DecoratedDoubler.with_options(backend=backend)
    assert (Pipeline(range(20)) | squares | doubles).collect() == [2 * x * x for x in range(20)]


def test_lambdas_and_closures_are_sent_with_cloudpickle() -> None:
    pytest.importorskip("cloudpickle")
    offset = 100
    pipeline = (
        Pipeline(range(30))
        | step.map(lambda x: x + offset, workers=2, backend="process")
        | step.filter(lambda x: x % 2 == 0, workers=2, backend="process")
    )
    assert pipeline.collect() == [x + offset for x in range(30) if x % 2 == 0]


def test_an_item_that_cannot_be_pickled_is_named() -> None:
    items: list[Any] = [1, 2, 3, threading.Lock(), 5]
    with pytest.raises(TypeError, match=r"input item #3 of step 'square' cannot be sent"):
        (Pipeline(items) | process_step(helpers.square)).run()


def test_a_result_that_cannot_be_pickled_fails_the_run() -> None:
    with pytest.raises(TypeError, match="pickle") as caught:
        (Pipeline(range(10)) | process_step(helpers.lock_for_2)).run()
    notes = "\n".join(caught.value.__notes__)
    assert "cannot be sent back" in notes
    assert "raised in step 'lock_for_2'" in notes
    assert "#2" in notes


# -- worker processes that die ---------------------------------------------------------------


def held_item(message: str) -> tuple[int, int]:
    """The range of input items a "died" message says the worker held."""
    found = re.search(r"input items? #(\d+)(?: to #(\d+))?", message)
    assert found is not None, message
    first = int(found.group(1))
    return first, int(found.group(2) or first)


@pytest.mark.parametrize(
    ("function", "how"),
    [(helpers.exits_on_5, "exit code 3"), (helpers.killed_on_5, "SIGKILL")],
    ids=["os._exit", "SIGKILL"],
)
def test_a_worker_process_that_dies_fails_the_run(function: Callable[[int], int], how: str) -> None:
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=f"step '{function.__name__}'") as caught:
        (Pipeline(range(40)) | process_step(function)).run()
    assert time.monotonic() - began < 5
    message = str(caught.value)
    assert "died" in message
    assert how in message
    assert re.search(r"\(worker [12] of 2\)", message), message
    first, last = held_item(message)
    assert first <= 5 <= last, message
    assert not worker_processes()


# -- every worker ends: cancel, break, an error ---------------------------------------------


def test_cancel_ends_every_worker_process(tmp_path: Path) -> None:
    blocks = functools.partial(helpers.record_pid_and_block, str(tmp_path))
    run = (Pipeline(range(100)) | process_step(blocks, name="blocks")).start(discard_outputs=True)
    pids = [int(name) for name in wait_for_files(tmp_path, "", 2)]  # both workers blocked
    began = time.monotonic()
    run.cancel()
    assert time.monotonic() - began < 2
    assert run.join().cancelled
    assert all(gone(pid) for pid in pids)
    assert not worker_processes()


def test_break_ends_every_worker_process(tmp_path: Path) -> None:
    blocks = functools.partial(helpers.first_fast_then_block, str(tmp_path))
    pipeline = Pipeline(range(100)) | process_step(blocks, name="blocks")
    began = 0.0
    for item in pipeline:
        assert item == 0
        wait_for_files(tmp_path, "", 1)  # a worker process is blocked on an item
        began = time.monotonic()
        break
    assert time.monotonic() - began < 2
    assert not worker_processes()


def test_an_error_ends_every_worker_process(tmp_path: Path) -> None:
    fails = functools.partial(helpers.fails_once_another_worker_blocks, str(tmp_path))
    with pytest.raises(helpers.BadRecord):
        (Pipeline(range(100)) | process_step(fails, name="fails")).run()
    ended = time.time()
    raised = float((tmp_path / "raised").read_text())
    assert ended - raised < 2
    assert not worker_processes()


# -- Processor: setup and teardown in the worker processes -----------------------------------


def test_setup_and_teardown_run_in_each_worker_process(tmp_path: Path) -> None:
    records = functools.partial(helpers.RecordsPids, str(tmp_path))
    pipeline = Pipeline(range(50)) | step(records, workers=2, backend="process")
    assert pipeline.collect() == list(range(1, 51))
    names = os.listdir(tmp_path)
    setups = {name.removeprefix("setup-") for name in names if name.startswith("setup-")}
    teardowns = {name.removeprefix("teardown-") for name in names if name.startswith("teardown-")}
    assert 1 <= len(setups) <= 2
    assert setups == teardowns
    assert str(os.getpid()) not in setups


def test_teardown_runs_when_a_run_is_cancelled(tmp_path: Path) -> None:
    blocks = functools.partial(helpers.SetsUpThenBlocks, str(tmp_path))
    run = (Pipeline(range(100)) | step(blocks, workers=2, backend="process")).start(
        discard_outputs=True
    )
    busy = wait_for_files(tmp_path, "busy-", 2)
    began = time.monotonic()
    run.cancel()
    assert time.monotonic() - began < 2
    pids = {name.removeprefix("busy-") for name in busy}
    teardowns = {name.removeprefix("teardown-") for name in os.listdir(tmp_path)}
    assert pids <= teardowns


def test_teardown_runs_in_the_worker_whose_item_failed(tmp_path: Path) -> None:
    fails = functools.partial(helpers.FailsOn3, str(tmp_path))
    with pytest.raises(helpers.BadRecord):
        (Pipeline(range(10)) | step(fails, workers=2, backend="process")).run()
    names = os.listdir(tmp_path)
    setups = {name.removeprefix("setup-") for name in names if name.startswith("setup-")}
    teardowns = {name.removeprefix("teardown-") for name in names if name.startswith("teardown-")}
    failed = {name.removeprefix("raised-") for name in names if name.startswith("raised-")}
    assert failed  # one worker's item failed: its process still ran teardown()
    assert failed <= setups
    assert setups == teardowns, f"setup() in {setups}, teardown() only in {teardowns}"


def test_an_error_reaches_the_caller_promptly(tmp_path: Path) -> None:
    fails = functools.partial(helpers.FailsOn3, str(tmp_path))
    with pytest.raises(helpers.BadRecord):
        (Pipeline(range(10)) | step(fails, workers=2, backend="process")).run()
    ended = time.time()
    [raised] = [name for name in os.listdir(tmp_path) if name.startswith("raised-")]
    # A thread backend takes milliseconds; a process backend must not add a second.
    took = ended - float((tmp_path / raised).read_text())
    assert took < 0.5, f"the error reached the caller {took:.2f} s after it was raised"


def test_a_setup_error_reaches_the_caller() -> None:
    with pytest.raises(OSError, match="no database here") as caught:
        (Pipeline(range(10)) | step(helpers.SetupFails, workers=2, backend="process")).run()
    notes = caught.value.__notes__
    assert notes[0].startswith("paipa: raised in setup() of step 'SetupFails'"), notes
    assert "in setup" in notes[1]


# -- the debugger ----------------------------------------------------------------------------


def test_debugger_reports_items_cpu_and_tallies_of_a_process_step() -> None:
    began = time.process_time()
    for number in range(200):
        helpers.burn(number)
    cpu_here = time.process_time() - began
    pipeline = Pipeline(range(200)) | process_step(helpers.burn) | step.filter(helpers.is_even)
    result = pipeline.debug(reporters=[]).run()
    assert result.stats is not None
    stats = {entry.name: entry for entry in result.stats.steps}
    burn = stats["burn"]
    assert (burn.items_in, burn.items_out, burn.workers) == (200, 200, 2)
    assert burn.counts == {"loops": 400, "odd": 100}
    assert burn.per_item("loops") == 2.0
    cpu = burn.user_seconds + burn.system_seconds
    assert 0.3 * cpu_here < cpu < 3 * cpu_here, (cpu, cpu_here)
    assert burn.seconds > 0
    assert (stats["is_even"].items_in, stats["is_even"].items_out) == (200, 100)


# -- child scripts: Ctrl-C, a killed parent, memory ------------------------------------------

CHILD_WORKERS = textwrap.dedent(
    """
    import os
    import psutil

    def worker_processes():
        me = os.getpid()
        found = []
        for child in psutil.Process(me).children(recursive=True):
            try:
                # (the words are split: a child started with fork has this script's
                # command line, and must not pass for a helper)
                helper = child.ppid() == me and any(
                    "forkserver" + " import main" in part
                    or "resource_tracker" + " import main" in part
                    for part in child.cmdline()
                )
                if not helper and child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child.pid)
            except psutil.NoSuchProcess:
                pass
        return found
    """
)

SIGINT_CHILD = CHILD_WORKERS + textwrap.dedent(
    """
    import itertools, sys
    from paipa import Pipeline, ProcessBackend, step
    from processes_helpers import square

    if __name__ == "__main__":
        backend = ProcessBackend(start_method=sys.argv[1])
        work = step.map(square, workers=2, backend=backend, queue_size=64)
        try:
            for index, _ in enumerate(Pipeline(itertools.count()) | work | step.map(str)):
                if index == 2000:
                    print("flowing", len(worker_processes()), flush=True)
        except KeyboardInterrupt:
            print("interrupted; worker processes alive:", len(worker_processes()), flush=True)
            raise
    """
)


def interrupt_group(child: subprocess.Popen[str], within: float = 2.0) -> tuple[str, str]:
    """Like `interrupt`, but SIGINT goes to the child's process group, as Ctrl-C does."""
    os.killpg(child.pid, signal.SIGINT)
    try:
        return child.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        pass
    os.killpg(child.pid, signal.SIGINT)
    try:
        stdout, stderr = child.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        stdout, stderr = child.communicate()
        pytest.fail(f"still running after two SIGINTs\n{stdout}\n{stderr[-3000:]}")
    if not LOST.search(stderr):
        pytest.fail(f"still running {within} s after SIGINT\n{stdout}\n{stderr[-3000:]}")
    return stdout, stderr


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("method", "target"),
    [("forkserver", "parent"), ("spawn", "group"), ("forkserver", "group"), ("fork", "group")],
)
def test_ctrl_c_ends_the_run_and_every_worker_quietly(method: str, target: str) -> None:
    # "parent": SIGINT to the script only; "group": to its whole process group,
    # workers included, as Ctrl-C in a terminal does.
    child = subprocess.Popen(
        [sys.executable, "-c", SIGINT_CHILD, method],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "flowing 2\n"
        began = time.monotonic()
        stdout, stderr = interrupt(child) if target == "parent" else interrupt_group(child)
        assert time.monotonic() - began < 4
    finally:
        with_kill(child)
    assert "interrupted; worker processes alive: 0" in stdout, stdout + stderr
    assert child.returncode != 0
    main = LOST.sub("", stderr)  # a KeyboardInterrupt CPython lost (see interrupts.py)
    assert main.count("Traceback (most recent call last)") == 1, stderr
    assert main.count("KeyboardInterrupt") == 1, stderr
    assert "KeyboardInterrupt" in main.splitlines()[-2:], stderr
    assert "Process paipa" not in stderr  # no traceback from a worker process


def with_kill(child: subprocess.Popen[str]) -> None:
    """Make sure the child script and anything left in its process group are gone."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.communicate()  # reaps it, and closes its pipes


KILLED_CHILD = textwrap.dedent(
    """
    import functools, sys
    from paipa import Pipeline, ProcessBackend, step
    from processes_helpers import record_pid_and_block

    if __name__ == "__main__":
        blocks = functools.partial(record_pid_and_block, sys.argv[2])
        backend = ProcessBackend(start_method=sys.argv[1])
        (Pipeline(range(100)) | step.map(blocks, workers=2, backend=backend)).run()
    """
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("method", METHODS)
def test_worker_processes_end_when_their_parent_is_killed(method: str, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, method, str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        pids = [int(name) for name in wait_for_files(tmp_path, "", 2)]  # both blocked
        child.kill()  # SIGKILL: the parent gets no chance to end its workers
        child.wait()
        deadline = time.monotonic() + 5
        while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        alive = [pid for pid in pids if not gone(pid)]
        assert not alive, f"worker processes {alive} outlived their killed parent"
    finally:
        for pid in pids:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        with_kill(child)


MEMORY_CHILD = CHILD_WORKERS + textwrap.dedent(
    """
    import threading
    from paipa import Pipeline, step
    from processes_helpers import size_slowly

    MB = 1_000_000

    def total_rss():
        me = psutil.Process()
        total = me.memory_info().rss
        for pid in worker_processes():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def peak_rss_growth(size):
        # Parent plus workers, sampled while 300 items of `size` bytes go
        # through a slow process step; the peak, less the RSS before the run.
        peak = before = total_rss()
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.wait(0.01):
                peak = max(peak, total_rss())

        sampler = threading.Thread(target=sample)
        sampler.start()
        slow = step.map(size_slowly, workers=2, backend="process", queue_size=4)
        result = (Pipeline(b"x" * size for _ in range(300)) | slow).run()
        done.set()
        sampler.join()
        assert result.items == 300
        return peak - before

    if __name__ == "__main__":
        small = peak_rss_growth(1)  # what the worker processes cost by themselves
        big = peak_rss_growth(MB)
        print(f"grown {(big - small) / MB:.0f} MB", flush=True)
    """
)


IMPORTS_CHILD = textwrap.dedent(
    """
    import os
    from paipa import Pipeline, step

    with open(os.environ["IMPORTS_LOG"], "a") as log:
        log.write(f"{__name__}\\n")

    def pid(x):
        return os.getpid()

    if __name__ == "__main__":
        for _ in range(2):
            pids = (Pipeline(range(8)) | step.map(pid, workers=2, backend="process")).collect()
            assert os.getpid() not in pids
        assert "PAIPA_FORKSERVER_MAIN" not in os.environ
        print("ran", flush=True)
    """
)


@pytest.mark.timeout(60)
def test_forkserver_workers_do_not_import_the_main_script_again(tmp_path: Path) -> None:
    # The forkserver imports the script once; its children inherit it. Without
    # that, each of the 4 workers of the 2 runs would import the script again.
    script = tmp_path / "script.py"
    script.write_text(IMPORTS_CHILD)
    log = tmp_path / "imports.log"
    child = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=50,
        env={**child_env(), "IMPORTS_LOG": str(log)},
        check=False,
    )
    assert "ran" in child.stdout, child.stdout + child.stderr
    assert log.read_text().split() == ["__main__", "__mp_main__"]


@pytest.mark.timeout(60)
def test_queue_size_bounds_memory_across_processes() -> None:
    # One mmap per 1 MB item, so that RSS falls when an item is freed.
    env = {**child_env(), "MALLOC_MMAP_THRESHOLD_": "131072"}
    child = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD],
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
        check=False,
    )
    found = re.search(r"grown (-?\d+) MB", child.stdout)
    assert found is not None, child.stdout + child.stderr
    assert int(found.group(1)) < 100, f"{found.group(0)} for 300 1 MB items, queue_size=4"
