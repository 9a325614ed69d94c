"""Shared test configuration: hypothesis profiles, the thread-leak check, engines."""

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, settings

from paipa._pipeline import to_steps

# PAIPA_HYPOTHESIS_PROFILE=soak runs thousands of cases instead of CI's quick pass.
settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile(
    "soak", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("PAIPA_HYPOTHESIS_PROFILE", "ci"))


def paipa_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("paipa")]


def worker_processes() -> list[psutil.Process]:
    """Child processes of this one, besides multiprocessing's long-lived helpers."""
    me = os.getpid()
    found = []
    for child in psutil.Process(me).children(recursive=True):
        try:
            helper = child.ppid() == me and any(
                "forkserver import main" in part or "resource_tracker import main" in part
                for part in child.cmdline()
            )
            if not helper and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """Fail any test that leaves a worker process running: runs must end their processes."""
    yield
    leftover = worker_processes()
    assert not leftover, f"worker processes still running after the test: {leftover}"


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Fail any test that leaves a paipa thread running: runs must join their threads."""
    assert not paipa_threads(), "a paipa thread was running before the test"
    yield
    leftover = paipa_threads()
    assert not leftover, f"paipa threads still running after the test: {leftover}"


ENGINES: dict[str, Callable[[Any], Any]] = {
    # The same steps, run inline, with one thread per step, and with several
    # workers per item step (iterator steps keep one: several instances of a
    # generator would each see only part of the input).
    "inline": lambda member: member,
    "threads-1": lambda member: member.with_options(workers=1, queue_size=8),
    "threads-4": lambda member: member.with_options(
        workers=4 if member.kind != "iterator" else 1, queue_size=16
    ),
    # Item steps in two worker processes; iterator steps in one (a generator per worker).
    "processes-2": lambda member: member.with_options(
        workers=2 if member.kind != "iterator" else 1, queue_size=16, backend="process"
    ),
}


class EngineSteps:
    """Turns a step, chain or list of steps into the list of steps for one engine."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.processes = name.startswith("processes")
        self._configure = ENGINES[name]

    def __call__(self, steps: Any) -> list[Any]:
        return [self._configure(member) for member in to_steps(steps)]

    def shares_state_with_the_test(self) -> None:
        """Skip on processes: the test reads state its steps keep in this process."""
        if self.processes:
            pytest.skip(
                "the steps keep their state in the test's process; a worker process has a copy"
            )


Engine = EngineSteps


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> EngineSteps:
    """Turn a step, chain or list of steps into the list of steps for one engine."""
    return EngineSteps(request.param)


@pytest.fixture(params=sorted(name for name in ENGINES if not name.startswith("processes")))
def thread_engine(request: pytest.FixtureRequest) -> EngineSteps:
    """The engines that run in this process (hundreds of examples are cheap there)."""
    return EngineSteps(request.param)
