"""Random pipelines, random faults: the library's promises, checked case by case.

Every case must end in bounded time, leave no paipa thread behind, and either
give exactly what a single-threaded reference gives (as a multiset where
order is not promised) or raise the injected fault with its step named.
``PAIPA_STRESS_CASES`` sets the number of cases (300 by default: CI); a soak
run sets thousands, e.g. ``PAIPA_STRESS_CASES=5000 .venv/bin/python -m pytest
tests/stress -q -s`` (``-s`` shows the figures at the end).
"""

from __future__ import annotations

import collections
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from paipa import Pipeline

from .pipelines import Case, Fault, Lifecycle, build, cases, make_source, reference

CASES = int(os.environ.get("PAIPA_STRESS_CASES", "300"))
WATCHDOG = 30.0  # seconds a case may take before it counts as a hang
FIGURES: Counter[str] = Counter()


class ConsumerFault(Exception):
    pass


def paipa_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("paipa")]


def consume(case: Case, pipeline: Pipeline[Any], outcome: dict[str, Any]) -> None:
    try:
        if case.consumer == "collect":
            outcome["out"] = pipeline.collect()
        elif case.consumer == "run":
            outcome["result"] = pipeline.run()
        else:
            out: list[int] = []
            results = iter(pipeline)
            try:
                for value in results:
                    if case.consumer == "break" and len(out) == case.stop_after:
                        break
                    if case.fault == "consumer" and len(out) == case.fault_at:
                        raise ConsumerFault(f"consumer at {len(out)}")
                    out.append(value)
            finally:
                # Close at once, as a careful consumer does: an error while the run
                # winds down (a teardown) comes out of close() instead of reaching
                # Python's "exception ignored" hook when the iterator is collected.
                results.close()  # type: ignore[attr-defined]
            outcome["out"] = out
    except BaseException as error:
        outcome["error"] = error


def check(case: Case) -> None:
    life, dead = Lifecycle(), []
    steps = [s for i, spec in enumerate(case.steps) for s in build(spec, i, life, dead)]
    pipeline: Pipeline[Any] = Pipeline(make_source(case)) | steps
    outcome: dict[str, Any] = {}
    consumer = threading.Thread(target=consume, args=(case, pipeline, outcome), name="stress")
    consumer.start()
    consumer.join(WATCHDOG)
    if consumer.is_alive():
        FIGURES["hangs"] += 1
        pytest.fail(f"the run did not end within {WATCHDOG} s: {case}")
    leftover = paipa_threads()
    if leftover:
        FIGURES["leaks"] += 1
        pytest.fail(f"threads still running after the run: {leftover} in {case}")
    FIGURES["cases"] += 1
    FIGURES["threaded cases"] += any(spec.workers for spec in case.steps)
    FIGURES["cases with worker processes"] += any(spec.in_processes for spec in case.steps)
    FIGURES["order not promised"] += any(spec.reorders for spec in case.steps)
    FIGURES["infinite sources"] += case.source == "infinite"
    FIGURES["consumer stopped early"] += case.consumer == "break"
    FIGURES["sources of 300 items"] += case.size == 300
    FIGURES["cases with a slow step"] += any(spec.slow for spec in case.steps)
    try:
        expect(case, outcome, life, dead)
    except AssertionError:
        FIGURES["mismatches"] += 1
        raise


def expect(case: Case, outcome: dict[str, Any], life: Lifecycle, dead: list[int]) -> None:
    error = outcome.get("error")
    full = case.consumer != "break"
    infinite = case.source == "infinite"
    values = [] if infinite else list(range(case.size))
    expected, seen = reference(case.steps, values)
    reorders = any(spec.reorders for spec in case.steps)
    raised = _expected_error(case, seen, expected)
    if raised is not None and (full or error is not None or case.fault == "consumer"):
        FIGURES["faults raised"] += 1
        assert error is not None, f"expected {raised} in {case}, got none"
        kind, message, note = raised
        assert isinstance(error, kind), f"expected {kind.__name__}, got {error!r} in {case}"
        assert message in str(error), f"{error!r} for {case}"
        assert error.__traceback__ is not None
        if note:
            assert any(note in n for n in getattr(error, "__notes__", [])), (
                f"no note naming {note!r} on {error!r}: {getattr(error, '__notes__', [])}"
            )
        return
    assert error is None, (
        f"unexpected {error!r} (notes {getattr(error, '__notes__', [])}) in {case}"
    )
    if case.consumer == "run":
        assert outcome["result"].items == len(expected), case
        out = None
    else:
        out = outcome["out"]
    if out is not None and infinite:
        assert len(out) == case.stop_after, case
    elif out is not None and full:
        if reorders:
            assert Counter(out) == Counter(expected), case
        else:
            assert out == expected, case
    elif out is not None:  # the consumer stopped early
        assert len(out) == min(case.stop_after, len(expected)), case
        if reorders:
            assert not Counter(out) - Counter(expected), case
        else:
            assert out == expected[: len(out)], case
    policies = [(i, s) for i, s in enumerate(case.steps) if s.policy]
    if policies and full and not infinite:
        index, spec = policies[0]
        dropped = [v for v in seen[index] if v % 7 == 0]
        if spec.policy == "dead-letter":
            assert Counter(dead) == Counter(dropped), case
        elif case.consumer == "run":
            assert outcome["result"].skipped == len(dropped), case
        FIGURES["policy cases"] += 1
    if case.fault != "setup":
        assert life.teardowns == life.setups, f"{life} in {case}"


def _expected_error(
    case: Case, seen: list[list[int]], expected: list[int]
) -> tuple[type[BaseException], str, str] | None:
    if case.fault == "step":
        for index, spec in enumerate(case.steps):
            if spec.fail_on is not None and spec.fail_on in seen[index]:
                return Fault, f"s{index}-{spec.kind} on {spec.fail_on}", f"step 's{index}-"
        return None
    if case.fault == "source" and case.fault_at < case.size:
        return Fault, "source", "the source"
    for index, spec in enumerate(case.steps):
        if spec.fail_in == "setup":
            return Fault, f"s{index}-process setup", "setup() of step"
        if spec.fail_in == "teardown":
            return Fault, f"s{index}-process teardown", "teardown() of step"
    if case.fault == "consumer" and case.consumer in ("iterate", "break"):
        reached = case.source == "infinite" or len(expected) > case.fault_at
        before_stop = case.consumer == "iterate" or case.fault_at < case.stop_after
        if reached and before_stop:
            return ConsumerFault, f"consumer at {case.fault_at}", ""
    return None


@pytest.mark.timeout(max(600, CASES // 10))  # each case also has its own watchdog
@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_random_pipelines_keep_their_promises(case: Case) -> None:
    check(case)


def teardown_module() -> None:
    report = dict(collections.OrderedDict(sorted(FIGURES.items())))
    print(f"\nstress figures: {report}")
    target = os.environ.get("PAIPA_STRESS_REPORT")
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n")
