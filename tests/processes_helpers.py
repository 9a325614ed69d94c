"""Step functions for test_processes.py, importable by worker processes (tests/ is on sys.path).

Worker processes started with spawn or forkserver import the step's module
by name, so these must live at the top level of a module, not in a test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from paipa import Processor, Skip, step, tally


def square(x: int) -> int:
    return x * x


def is_even(x: int) -> bool:
    return x % 2 == 0


def twice(x: int) -> list[int]:
    return [x, x]


def skip_threes(x: int) -> int:
    if x % 3 == 0:
        raise Skip
    return x


def jittered(x: int) -> int:
    """Slower for some items, so that unordered output really is out of order."""
    if x % 7 == 0:
        time.sleep(0.01)
    return x


def pid_of_worker(x: int) -> tuple[int, int]:
    return x, os.getpid()


def plus_one(x: int) -> int:
    return x + 1


def triple(x: int) -> int:
    return 3 * x


class Doubler(Processor[int, int]):
    def process(self, item: int) -> int:
        return 2 * item


@step.map(workers=2, backend="process")
def decorated_square(x: int) -> int:
    """A decorated step: the module binds its name to the step, not to the function."""
    return x * x


@step(workers=2, backend="process")
class DecoratedDoubler(Processor[int, int]):
    def process(self, item: int) -> int:
        return 2 * item


class BadRecord(ValueError):
    """Raised for item 7 by `fails_on_7`."""


def fails_on_7(x: int) -> int:
    if x == 7:
        raise BadRecord(f"bad record {x}")
    return x


class HoldsALock(Exception):
    """An exception that cannot be pickled: one of its args is a lock."""

    def __init__(self, lock: object) -> None:
        super().__init__("holds a lock", lock)


def raises_unpicklable(x: int) -> int:
    if x == 3:
        raise HoldsALock(threading.Lock())
    return x


_failed_once: set[int] = set()  # per worker process: each process has its own copy


def fails_first_time(x: int) -> int:
    """Fail the first attempt for each item (in this process), succeed on the retry."""
    if x not in _failed_once:
        _failed_once.add(x)
        raise ConnectionError(f"refused {x}")
    return x


def fails_on_multiples_of_4(x: int) -> int:
    if x % 4 == 0:
        raise KeyError(x)
    return x


def lock_for_2(x: int) -> object:
    return threading.Lock() if x == 2 else x


def exits_on_5(x: int) -> int:
    if x == 5:
        os._exit(3)
    return x


def killed_on_5(x: int) -> int:
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def burn(x: int) -> int:
    total = 0
    for number in range(30_000):
        total += number
    tally("loops", 2)
    if x % 2:
        tally("odd")
    return x


def size_slowly(item: bytes) -> int:
    time.sleep(0.01)
    return len(item)


class RecordsPids(Processor[int, int]):
    """Write this process's pid to `directory` in setup() and teardown()."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def setup(self) -> None:
        (self.directory / f"setup-{os.getpid()}").write_text(str(os.getpid()))

    def process(self, item: int) -> int:
        return item + 1

    def teardown(self) -> None:
        (self.directory / f"teardown-{os.getpid()}").write_text(str(os.getpid()))


class SetupFails(Processor[int, int]):
    def setup(self) -> None:
        raise OSError("no database here")

    def process(self, item: int) -> int:
        return item


def record_pid_and_block(directory: str, x: int) -> int:
    """Write this worker's pid to `directory`, then block (until the process is ended)."""
    (Path(directory) / str(os.getpid())).touch()
    time.sleep(60)
    return x


def _wait_for_file(directory: str, prefix: str, count: int = 1, within: float = 10.0) -> None:
    """Wait until `directory` holds `count` files named `prefix`...: another process got there."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if sum(name.startswith(prefix) for name in os.listdir(directory)) >= count:
            return
        time.sleep(0.005)


def first_fast_then_block(directory: str, x: int) -> int:
    """Return item 0 at once; block on every other item (after noting this worker is busy)."""
    if x == 0:
        return x
    return record_pid_and_block(directory, x)


def fails_once_another_worker_blocks(directory: str, x: int) -> int:
    """Item 0 fails once another worker process is blocked on an item; the others block."""
    if x == 0:
        _wait_for_file(directory, "")
        (Path(directory) / "raised").write_text(repr(time.time()))
        raise BadRecord("bad record 0")
    return record_pid_and_block(directory, x)


class SetsUpThenBlocks(Processor[int, int]):
    """setup() and teardown() write this process's pid to `directory`; process() blocks."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def setup(self) -> None:
        (self.directory / f"setup-{os.getpid()}").touch()

    def process(self, item: int) -> int:
        (self.directory / f"busy-{os.getpid()}").touch()
        time.sleep(60)
        return item

    def teardown(self) -> None:
        (self.directory / f"teardown-{os.getpid()}").touch()


class FailsOn3(RecordsPids):
    """Records setup()/teardown() pids like `RecordsPids`; item 3 fails (noting its pid)."""

    def process(self, item: int) -> int:
        if item == 3:
            (self.directory / f"raised-{os.getpid()}").write_text(repr(time.time()))
            raise BadRecord("bad record 3")
        return item + 1
