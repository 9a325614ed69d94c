"""Random paipa 0.3 threaded pipelines keep 0.3's promises on paipa's engine.

Never deadlock, never hang on termination, propagate the error, account for
every item: each case builds a random ``paipa.threaded.Pipeline`` (item steps
and iterator steps, several workers, failing items with and without retries,
skipped items, a failing iterator step), feeds it one of four ways and checks
the outcome against what the case implies. A case running longer than the
watchdog is a hang; a thread left behind is a leak.

``PAIPA_COMPAT_CASES`` sets the number of cases (150 by default).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from paipa.threaded import AbstractStep, Pipeline, SkipEntry, funcstep, iterstep

CASES = int(os.environ.get("PAIPA_COMPAT_CASES", "150"))
WATCHDOG = 30.0  # seconds a case may take before it counts as a hang


class Fault(Exception):
    pass


@dataclass
class Case:
    seed: int
    items: int
    feed: str  # "iterable", "put", "background", "with"
    steps: list[tuple[str, int, int | None]] = field(default_factory=list)
    """(kind, workers, item that fails there or None)"""
    max_retries: int = 0


def draw(seed: int) -> Case:
    rng = random.Random(seed)
    case = Case(
        seed,
        items=rng.choice([0, 1, 7, 100, 1000]),
        feed=rng.choice(["iterable", "put", "background", "with"]),
        max_retries=rng.choice([0, 0, 1, 2]),
    )
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["map", "map", "skip", "iterator"])
        fails = rng.choice([None, None, rng.randrange(max(case.items, 1))])
        case.steps.append((kind, rng.choice([1, 2, 5]), fails))
    return case


def build(case: Case, flaky: dict[int, int], lock: threading.Lock) -> list[Any]:
    steps: list[Any] = []
    for kind, workers, fails in case.steps:
        if kind == "iterator":

            def passing(items: Iterator[int], fails: int | None = fails) -> Iterator[int]:
                for item in items:
                    if item == fails:
                        raise Fault(f"iterator step on {item}")
                    yield item

            steps.append((iterstep(passing), workers))
        elif kind == "skip":

            class Skipping(AbstractStep):
                def process(self, entry: int) -> int:
                    if entry % 10 == 3:
                        raise SkipEntry
                    return entry

            steps.append((Skipping, workers))
        else:

            def check(item: int, fails: int | None = fails) -> int:
                if item == fails:
                    with lock:
                        flaky[item] = flaky.get(item, 0) + 1
                    raise Fault(f"map step on {item}")
                return item

            steps.append((funcstep(check), workers))
    return steps


def expected(case: Case) -> tuple[type[BaseException] | None, set[int] | None]:
    """The error the case must raise, and the exact outputs when it must not."""
    survivors = set(range(case.items))
    error: type[BaseException] | None = None
    for kind, _, fails in case.steps:
        if kind == "skip":
            survivors = {n for n in survivors if n % 10 != 3}
        elif fails is not None and fails in survivors:
            if kind == "iterator":
                return Fault, None  # the run is cancelled: what came out is not fixed
            survivors.discard(fails)
            if case.max_retries == 0:
                error = Fault
    return error, survivors


def run_case(case: Case, outputs: list[int]) -> BaseException | None:
    flaky: dict[int, int] = {}
    lock = threading.Lock()

    def keep(item: int) -> int:
        with lock:
            outputs.append(item)
        return item

    steps = [*build(case, flaky, lock), (funcstep(keep), 2)]
    pipeline = Pipeline(steps, max_retries=case.max_retries)
    try:
        if case.feed == "iterable":
            pipeline.put_iterable(range(case.items))
            pipeline.run()
        elif case.feed == "put":
            pipeline.put_all(range(case.items))
            pipeline.finish()
            pipeline.run()
        elif case.feed == "background":
            pipeline.run_forever(background=True)
            for item in range(case.items):
                pipeline.put(item)
            pipeline.stop()
        else:
            with pipeline:
                pipeline.put_all(range(case.items))
    except BaseException as error:
        return error
    return None


def compat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("paipa")]


@pytest.mark.timeout(0)  # the watchdog below turns a hang into a failure
@pytest.mark.parametrize("block", range(3))
def test_random_threaded_pipelines_keep_the_0_3_promises(block: int) -> None:
    for seed in range(block, CASES, 3):
        case = draw(seed)
        outputs: list[int] = []
        result: dict[str, BaseException | None] = {}
        runner = threading.Thread(
            target=lambda case=case, outputs=outputs, result=result: result.update(
                error=run_case(case, outputs)
            ),
            name="compat case",
            daemon=True,
        )
        runner.start()
        runner.join(WATCHDOG)
        assert not runner.is_alive(), f"hang: {compat_threads()} in {case}"
        for thread in compat_threads():
            thread.join(5.0)
        assert not compat_threads(), f"threads left behind in {case}"
        error, survivors = expected(case)
        raised = result["error"]
        if error is None:
            assert raised is None, f"{raised!r} in {case}"
            assert sorted(outputs) == sorted(survivors or ()), case
        else:
            assert isinstance(raised, error), f"{raised!r} instead of {error} in {case}"
            assert raised.__notes__, case  # it names the step
            if survivors is not None:  # item failures: the rest went through, as in 0.3
                assert sorted(outputs) == sorted(survivors), case
