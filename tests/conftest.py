"""Shared test configuration: hypothesis profiles, the thread-leak check, engines."""

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

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


@pytest.fixture(autouse=True)
def no_thread_outlives_its_test() -> Iterator[None]:
    """Fail any test that leaves a paipa thread running: runs must join their threads."""
    assert not paipa_threads(), "a paipa thread was running before the test"
    yield
    leftover = paipa_threads()
    assert not leftover, f"paipa threads still running after the test: {leftover}"


Engine = Callable[[Any], list[Any]]


ENGINES: dict[str, Callable[[Any], Any]] = {
    # The same steps, run inline, with one thread per step, and with several
    # workers per item step (iterator steps keep one: several instances of a
    # generator would each see only part of the input).
    "inline": lambda member: member,
    "threads-1": lambda member: member.with_options(workers=1, queue_size=8),
    "threads-4": lambda member: member.with_options(
        workers=4 if member.kind != "iterator" else 1, queue_size=16
    ),
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    """Turn a step, chain or list of steps into the list of steps for one engine."""
    configure = ENGINES[request.param]
    return lambda steps: [configure(member) for member in to_steps(steps)]
