"""Background runs with random lifecycles: start(), feeding, reading, cancel, stop, faults.

A random pipeline of `pipelines.py` is started, fed by a producer thread or reading a
counting generator (finite or infinite), and iterated (fully or up to a ``break``) or
only joined; at a moment set by counters and events comes nothing, ``cancel()`` or
``stop()`` (from the reader, another thread, or a step of the run), an error in the
reading loop, or an injected fault. No case may hang or leave a paipa thread or an open
source, and each accounts for its items: a normal end gives the reference's outputs
(read + ``RunResult.discarded``); a stop, the reference of the inputs taken (the last may
be dropped); a cancel, a prefix or sub-multiset of it; a fault, the `Fault` with its note.
``PAIPA_LIFECYCLE_CASES`` sets the number of cases, ``PAIPA_LIFECYCLE_REPORT`` where the
figures go (default: ``PAIPA_STRESS_REPORT`` with ``-lifecycles`` added to the name);
hangs make shrinking useless, so it is off unless ``PAIPA_LIFECYCLE_SHRINK=1``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from interrupts import interrupt

from paipa import Pipeline, RunCancelled, step

from .pipelines import Fault, Lifecycle, StepSpec, build, place_fault, reference, step_specs

CASES = int(os.environ.get("PAIPA_LIFECYCLE_CASES", "500"))
WATCHDOG = 30.0  # seconds a case may take before it counts as a hang
GRACE = 5.0  # seconds the run's threads get to end after the case
SHRINK = bool(os.environ.get("PAIPA_LIFECYCLE_SHRINK"))
FIGURES: Counter[str] = Counter()
ROOT = Path(__file__).resolve().parents[2]


class ReaderError(Exception):
    """Raised by the test's own reading loop."""


@dataclass(frozen=True)
class LifeCase:
    steps: list[StepSpec]
    source: str  # "fed", "fed-infinite" (put until put raises), "generator", "infinite"
    size: int
    feed: str  # "put" or "put_all"
    reader: str  # "iterate", "break", "join" (not reading)
    action: str  # "none", "cancel", "stop", "reader-error", "fault"
    actor: str  # who cancels or stops: "main" (the reader), "thread", "step"
    at: int  # the moment: outputs read (main), inputs taken (thread), items seen (step)
    fault: str  # "none", "step", "source", "setup", "teardown"
    fault_at: int
    trigger: tuple[int, int | None]  # the step that acts: position, workers
    join_after: bool  # join() after a break or an error while reading
    discard: bool  # start(discard_outputs=True)

    @property
    def infinite(self) -> bool:
        return self.source in ("infinite", "fed-infinite")

    @property
    def fed(self) -> bool:
        return self.source.startswith("fed")


@st.composite
def life_cases(draw: st.DrawFn) -> LifeCase:
    specs = draw(st.lists(step_specs, min_size=1, max_size=5))
    source = draw(st.sampled_from(["fed", "fed-infinite", "generator", "infinite"]))
    infinite = source in ("infinite", "fed-infinite")
    size = 0 if infinite else draw(st.sampled_from([0, 1, 2, 17, 300]))
    feed = draw(st.sampled_from(["put", "put_all"]))
    reader = draw(st.sampled_from(["iterate", "iterate", "break", "join"]))
    actions = ["none", "cancel", "cancel", "stop", "stop", "reader-error", "fault", "fault"]
    action = draw(st.sampled_from(actions))
    actor = draw(st.sampled_from(["main", "thread", "step"]))
    at = draw(st.one_of(st.integers(0, 20), st.integers(0, 320)))
    if action == "reader-error":
        reader = "iterate"
    if reader == "break" and action in ("cancel", "stop"):
        action = "none"
    if actor == "main" and reader == "join":
        at = 0  # acts right after start(): waiting for inputs nobody reads could wait forever
    fault, fault_at, plain = "none", draw(st.integers(0, max(size - 1, 100 * infinite))), specs
    if action == "fault":
        specs = list(specs)
        faults = ["step", "setup", "teardown"] + ["source"] * (not source.startswith("fed"))
        fault = draw(st.sampled_from(faults))
        fault = place_fault(draw, specs, fault, fault_at) if fault != "source" else fault
        action = "fault" if fault != "none" else "none"
    elif draw(st.integers(0, 4)) == 0:
        specs = list(specs)
        place_fault(draw, specs, "policy", 0)
    trigger = (draw(st.integers(0, len(specs))), draw(st.sampled_from([None, 1, 3])))
    join_after, discard = draw(st.booleans()), reader == "join" and draw(st.booleans())
    case = LifeCase(
        specs, source, size, feed, reader, action, actor, at, fault, fault_at, trigger,
        join_after, discard,
    )  # fmt: skip
    ends = action in ("cancel", "stop", "reader-error") or reader == "break"
    if infinite and not ends and (fault == "teardown" or injected(case) is None):
        # An infinite input needs an end: a stop from a thread (without the fault).
        case = replace(case, steps=plain, action="stop", actor="thread", fault="none")
    return case


def injected(case: LifeCase) -> tuple[str, str] | None:
    """The fault the run must raise, if it fires: its message and the note naming where."""
    _, seen = reference(case.steps, list(range(400 if case.infinite else case.size)))
    for index, spec in enumerate(case.steps):
        if case.fault == "step" and spec.fail_on is not None and spec.fail_on in seen[index]:
            return f"s{index}-{spec.kind} on {spec.fail_on}", f"step 's{index}-"
        if spec.fail_in in ("setup", "teardown"):
            return f"s{index}-process {spec.fail_in}", f"{spec.fail_in}() of step"
    if case.fault == "source" and (case.infinite or case.fault_at < case.size):
        return "source", "the source"
    return None


@dataclass
class State:
    """What the case's threads share: the moment's events, counts, and what each saw."""

    run: Any = None
    started: threading.Event = field(default_factory=threading.Event)  # the handle exists
    moment: threading.Event = field(default_factory=threading.Event)  # the thread actor may act
    requested: threading.Event = field(default_factory=threading.Event)  # about to act
    acted: threading.Event = field(default_factory=threading.Event)  # the action returned
    taken: int = 0  # inputs the source yielded, or put() / put_all() accepted
    pending: int = 0  # items of the put call that raised (taken or not)
    held_at: int | None = None  # inputs taken when the producer waited for the action
    entered: bool = False  # the source generator started
    closed: bool = False  # the source generator's finally ran
    dropped: Any = None  # what cancel() returned
    errors: dict[str, BaseException] = field(default_factory=dict)
    stage: str = "start()"


def act(case: LifeCase, state: State, who: str) -> None:
    state.requested.set()
    try:
        if case.action == "cancel":
            state.dropped = state.run.cancel()
        else:
            state.run.stop()
    except BaseException as error:
        state.errors[who] = error
    finally:
        state.acted.set()


def act_at_moment(case: LifeCase, state: State) -> None:
    state.moment.wait()
    act(case, state, "thread")


def gate(case: LifeCase) -> int | None:
    """After how many inputs the input waits for the action (a thread's, or the joiner's)."""
    if case.action not in ("cancel", "stop"):
        return None
    if case.actor == "thread" or (case.actor == "main" and case.reader == "join" and case.fed):
        return case.at if case.infinite else min(case.at, case.size)
    return None


def counting_source(case: LifeCase, state: State) -> Any:
    wait_at, values = gate(case), itertools.count() if case.infinite else range(case.size)

    def pause() -> None:
        state.moment.set()
        state.requested.wait(WATCHDOG)  # not `acted`: stop() and cancel() wait for this thread

    def numbers() -> Any:
        state.entered = True
        try:
            for value in values:
                if value == wait_at:
                    pause()
                if case.fault == "source" and value == case.fault_at:
                    raise Fault("source")
                state.taken += 1
                yield value
            if wait_at == case.size:
                pause()
        finally:
            state.closed = True
            state.moment.set()

    return numbers()


def produce(case: LifeCase, state: State) -> None:
    run, values = state.run, itertools.count() if case.infinite else iter(range(case.size))
    wait_at, sizes = gate(case), random.Random(case.size * 31 + case.at)
    try:
        while True:
            if wait_at is not None and state.taken >= wait_at and state.held_at is None:
                state.held_at = state.taken
                state.moment.set()
                state.acted.wait(WATCHDOG)  # the producer is no thread of the run: no deadlock
            take = 1 if case.feed == "put" else sizes.randint(1, 40)
            batch = list(itertools.islice(values, take))
            if not batch:
                break
            state.pending = len(batch)
            if case.feed == "put":
                run.put(batch[0])
            else:
                run.put_all(batch)
            state.taken, state.pending = state.taken + len(batch), 0
        run.finish()
    except BaseException as error:
        state.errors["producer"] = error
    finally:
        state.moment.set()


def trigger_step(case: LifeCase, state: State) -> Any:
    lock, seen = threading.Lock(), itertools.count()

    def trigger(value: int) -> int:
        with lock:
            index = next(seen)
        if index == case.at and case.actor == "step" and case.action in ("cancel", "stop"):
            state.started.wait(WATCHDOG)
            act(case, state, "step")  # returns at once: called from the run's own step
        return value

    return step.map(trigger).with_options(name="trigger", workers=case.trigger[1], ordered=True)


def read(case: LifeCase, state: State, out: list[int]) -> None:
    main_acts = case.actor == "main" and case.action in ("cancel", "stop")
    if main_acts and case.at == 0:
        act(case, state, "main")
        if case.action == "cancel":
            return
    if case.reader == "join":
        return
    for value in state.run:
        if case.reader == "break" and len(out) == case.at:
            break
        if case.action == "reader-error" and len(out) == case.at:
            raise ReaderError(f"reader at {case.at}")
        out.append(value)
        if main_acts and len(out) == case.at:
            act(case, state, "main")
            if case.action == "cancel":
                break  # nobody reads on after cancelling
            # after stop(), read on: what stop() did not discard comes out here


def run_case(case: LifeCase, state: State, life: Lifecycle, dead: list[int]) -> dict[str, Any]:
    parts = [build(spec, index, life, dead) for index, spec in enumerate(case.steps)]
    parts.insert(case.trigger[0], [trigger_step(case, state)])
    source = Pipeline() if case.fed else Pipeline(counting_source(case, state))
    pipeline = source | [member for part in parts for member in part]
    state.run = pipeline.start(discard_outputs=True) if case.discard else pipeline.start()
    state.started.set()
    helpers = []
    if case.fed:
        helpers.append(threading.Thread(target=produce, args=(case, state), daemon=True))
    if case.actor == "thread" and case.action in ("cancel", "stop"):
        helpers.append(threading.Thread(target=act_at_moment, args=(case, state), daemon=True))
    for helper in helpers:
        helper.start()
    outcome: dict[str, Any] = {"out": []}
    state.stage = "reading"
    try:
        read(case, state, outcome["out"])
    except BaseException as error:
        outcome["read"] = error
    if case.reader in ("iterate", "join") or case.join_after:
        state.stage = "join()"
        try:
            outcome["result"] = state.run.join()
        except BaseException as error:
            outcome["join"] = error
    state.moment.set()  # a thread actor whose moment never came acts now
    state.stage = "waiting for the producer / actor thread"
    for helper in helpers:
        helper.join()
    if "result" not in outcome and "join" not in outcome:
        # The case is over (a break cancelled the run): take its error, if any, so
        # that it is not logged when the handle is collected at exit.
        with contextlib.suppress(BaseException):
            state.run.join()
    return outcome


def paipa_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("paipa")]


def check(case: LifeCase) -> None:
    state, life, dead, outcome = State(), Lifecycle(), [], {}

    def body() -> None:
        try:
            outcome.update(run_case(case, state, life, dead))
        except BaseException as error:
            outcome["crash"] = error

    runner = threading.Thread(target=body, name="lifecycle case", daemon=True)
    runner.start()
    runner.join(WATCHDOG)
    if runner.is_alive():
        FIGURES["hangs"] += 1
        pytest.fail(f"hang in {state.stage}: {paipa_threads()} in {case}")
    deadline = time.monotonic() + GRACE
    for thread in paipa_threads():
        thread.join(max(0.0, deadline - time.monotonic()))
    if left := paipa_threads():
        FIGURES["leaks"] += 1
        pytest.fail(f"threads still running {GRACE} s after the case: {left} in {case}")
    acting = case.action in ("cancel", "stop")
    tags = ["cases", f"source {case.source}", f"reader {case.reader}", f"action {case.action}"]
    tags += [f"{case.action} from {case.actor}"] * acting + ["discard_outputs"] * case.discard
    tags += ["threaded steps"] * any(spec.workers for spec in case.steps)
    tags += ["worker processes"] * any(spec.in_processes for spec in case.steps)
    FIGURES.update(tags + ["order not promised"] * any(s.reorders for s in case.steps))
    try:
        assert "crash" not in outcome, f"{outcome.get('crash')!r} in {case}"
        expect(case, state, outcome, life, dead)
    except AssertionError:
        FIGURES["mismatches"] += 1
        raise


def matches(out: list[int], expected: list[int], case: LifeCase, partial: bool) -> bool:
    """Whether `out` is `expected` (or, if `partial`, a prefix), as a multiset if unordered."""
    if any(spec.reorders for spec in case.steps):
        missing = Counter(expected) - Counter(out)
        return not Counter(out) - Counter(expected) and (partial or not missing)
    return out == expected[: len(out)] if partial else out == expected


def held(case: LifeCase, state: State) -> bool:
    """Whether the producer waited at the moment for the action, with items left to put."""
    if not case.fed or gate(case) is None or state.held_at is None:
        return False
    return case.infinite or state.held_at < case.size


def check_producer(case: LifeCase, state: State, kind: type[BaseException], what: str) -> None:
    """A producer ends with `kind` from put(), at once if it was held for the action."""
    producer = state.errors.get("producer")
    assert producer is None or isinstance(producer, kind), f"the producer got it: {what}"
    if held(case, state) or case.source == "fed-infinite":
        assert isinstance(producer, kind), f"the producer was not stopped: {what}"
        FIGURES[f"producers stopped by {kind.__name__}"] += 1
    if held(case, state):
        assert state.taken == state.held_at, f"put() accepted after the {case.action}: {what}"


def expect(
    case: LifeCase, state: State, outcome: dict[str, Any], life: Lifecycle, dead: list[int]
) -> None:
    out, result, run = outcome["out"], outcome.get("result"), state.run
    read_error, join_error = outcome.get("read"), outcome.get("join")
    what = (
        f"read {len(out)}, {result}, read error {read_error!r}, join error {join_error!r}, "
        f"producer {state.errors.get('producer')!r}, taken {state.taken}, in {case}"
    )
    for who in ("main", "thread", "step"):
        assert who not in state.errors, f"{who}'s {case.action}() raised: {what}"
    assert state.closed or not state.entered, f"the source generator was not closed: {what}"
    if not any(spec.fail_in == "setup" for spec in case.steps):
        assert life.teardowns == life.setups, f"{life}: {what}"
    final = getattr(getattr(run, "state", None), "name", None)
    hi = state.taken + state.pending  # inputs perhaps taken
    expected, seen = reference(case.steps, list(range(case.size)))
    taken_ref = reference(case.steps, list(range(hi)))[0]
    at_trigger = reference(case.steps[: case.trigger[0]], list(range(case.size)))[0]
    reached = case.infinite or {
        "main": case.at == 0 or len(expected) >= case.at,
        "thread": True,
        "step": case.at < len(at_trigger),
    }[case.actor]  # fmt: skip
    cut = case.reader == "break" or case.action == "reader-error"
    cut = cut and (case.infinite or case.at < len(expected))
    fault = injected(case) if case.action == "fault" else None
    if fault is not None:
        FIGURES["faults raised"] += 1
        message, where = fault
        must = {"iterate": [read_error, join_error], "join": [join_error]}.get(case.reader, [])
        if case.reader == "break" and not case.infinite and case.at >= len(expected):
            must = [read_error] + [join_error] * case.join_after
        assert None not in must, f"expected Fault({message!r}): {what}"
        for error in filter(None, (read_error, join_error)):
            assert isinstance(error, Fault), f"{error!r}: {what}"
            assert message in str(error), f"{error!r}: {what}"
            notes = getattr(error, "__notes__", [])
            assert any(where in n for n in notes), f"no note {where!r} in {notes}: {what}"
            assert final == "FAILED" or case.reader == "break", f"state {final}: {what}"
        check_producer(case, state, RunCancelled, what)
        assert matches(out, taken_ref, case, partial=True), what
        return
    if case.action == "reader-error" and cut:
        assert isinstance(read_error, ReaderError), f"the reading loop's error was lost: {what}"
        read_error = None
    if case.action == "stop" and reached:
        FIGURES["stops accounted"] += 1
        assert (read_error, join_error) == (None, None), what
        check_producer(case, state, RuntimeError, what)
        assert result is not None, what
        assert not result.cancelled, what
        assert final == "SUCCEEDED", f"state {final}: {what}"
        assert result.items == len(out) + result.discarded, what
        lo = state.taken if case.fed else max(state.taken - 1, 0)
        candidates = (reference(case.steps, list(range(n)))[0] for n in range(lo, hi + 1))
        assert any(
            len(out) + result.discarded == len(ref)
            and matches(out, ref, case, partial=result.discarded > 0)
            for ref in candidates
        ), f"not the reference of {lo} to {hi} inputs: {what}"
        return
    if (case.action == "cancel" and reached) or cut:
        FIGURES["cancels checked"] += 1
        # Surely before the end: an infinite input, a producer held at the moment, or a
        # cancel from inside a step (the run cannot end while one of its steps runs).
        sure = case.action == "cancel" and (case.actor == "step" or held(case, state))
        sure = sure or case.infinite
        FIGURES["cancels surely before the end"] += sure
        other = case.action == "cancel" and case.actor != "main"  # someone else cancelled
        assert read_error is None or (other and isinstance(read_error, RunCancelled)), what
        if sure and other and case.reader == "iterate":
            assert isinstance(read_error, RunCancelled), f"the reader was not told: {what}"
        waiting = other and case.reader == "join"  # join() was waiting when cancel() came
        assert join_error is None or (waiting and isinstance(join_error, RunCancelled)), what
        check_producer(case, state, RunCancelled, what)
        if case.action == "cancel" and case.actor != "step":
            assert isinstance(state.dropped, int), f"cancel() returned {state.dropped!r}"
        assert matches(out, taken_ref, case, partial=True), what
        if result is not None and not result.cancelled:  # the run had ended before the cancel
            assert not sure, f"not cancelled: {what}"
            assert read_error is None, what
            assert final == "SUCCEEDED", f"state {final}: {what}"
            assert result.items == len(expected), what
        elif result is not None or sure:
            assert final == "CANCELLED", f"state {final}: {what}"
        return
    FIGURES["normal ends"] += 1  # nothing happened, or its moment never came
    FIGURES["moments never reached"] += case.action in ("cancel", "stop", "reader-error")
    assert (read_error, join_error, state.errors.get("producer")) == (None, None, None), what
    assert final == "SUCCEEDED", f"state {final}: {what}"
    if result is None:  # a break that never came, and no join()
        assert matches(out, expected, case, partial=False), what
        return
    assert not result.cancelled, what
    assert result.items == len(expected), what
    assert len(out) + result.discarded == len(expected), what
    assert matches(out, expected, case, partial=case.reader == "join"), what
    for index, spec in [(i, s) for i, s in enumerate(case.steps) if s.policy][:1]:
        FIGURES["policy cases accounted"] += 1
        dropped = [v for v in seen[index] if v % 7 == 0]
        assert result.skipped == len(dropped), what  # skipped or dead-lettered
        if spec.policy == "dead-letter":
            assert Counter(dead) == Counter(dropped), what
            assert result.dead_lettered == len(dropped), what


@pytest.mark.timeout(max(600, CASES))  # each case also has its own watchdog
@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=list(Phase) if SHRINK else [Phase.explicit, Phase.reuse, Phase.generate],
)
@given(life_cases())
def test_random_lifecycles_keep_their_promises(case: LifeCase) -> None:
    check(case)


CHILD = textwrap.dedent(
    """
    import itertools, random, sys, threading
    sys.path.insert(0, sys.argv[3])
    from paipa import Pipeline
    from stress.pipelines import KINDS, Lifecycle, StepSpec, build

    rng, phase, life = random.Random(int(sys.argv[1])), sys.argv[2], Lifecycle()
    specs = [
        StepSpec(rng.choice(KINDS), rng.choice([None, 1, 2, 4]), rng.random() < 0.5,
                 rng.choice([None, 1, 8]), slow=rng.random() < 0.5)
        for _ in range(rng.randint(1, 4))
    ]
    sources, flowing = {"entered": 0, "closed": 0}, threading.Event()

    def numbers():
        sources["entered"] += 1
        try:
            for value in itertools.count():
                flowing.set()
                yield value
        finally:
            sources["closed"] += 1

    pipeline = Pipeline(numbers) | [s for i, sp in enumerate(specs) for s in build(sp, i, life, [])]
    run = None
    try:
        if phase == "start":
            print("ready", flush=True)
            while True:
                run = pipeline.start()
                run.cancel()
        run = pipeline.start()
        flowing.wait(10)
        print("ready", flush=True)
        if phase == "join":
            run.join()
        for _ in run:
            pass
    except KeyboardInterrupt:
        if phase == "start" and run is not None and run.state.name == "RUNNING":
            run.cancel()  # Ctrl-C came after start() and before cancel() did anything
        alive = [t.name for t in threading.enumerate() if t.name.startswith("paipa")]
        opened, still_open = sources["entered"], sources["entered"] - sources["closed"]
        print(f"paipa threads alive: {alive}; sources open: {still_open} of {opened}; processors"
              f" set up but not torn down: {life.setups - life.teardowns}", flush=True)
        raise
    """
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("seed", range(int(os.environ.get("PAIPA_LIFECYCLE_SIGINTS", "20"))))
def test_ctrl_c_during_a_background_run(seed: int) -> None:
    """SIGINT during start(), join() or iteration: out within 2 s, joined and closed."""
    phase, delay = ("start", "join", "iterate")[seed % 3], random.Random(seed).uniform(0.005, 0.05)
    args = [sys.executable, "-c", CHILD, str(seed), phase, str(ROOT / "tests")]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        time.sleep(delay)  # the random moment, once the child is under way
        stdout, stderr = interrupt(child)  # it must be out within 2 s
    finally:
        child.kill()
        child.wait()
    what = f"{phase} (seed {seed}, {delay * 1000:.0f} ms): {stdout}\n{stderr[-3000:]}"
    assert ready == "ready\n", what
    clean = r"alive: \[\]; sources open: 0 of (\d+); processors set up but not torn down: 0"
    ended = re.search(clean, stdout)
    assert ended, f"threads alive, a source open or a processor not torn down: {what}"
    assert phase == "start" or int(ended[1]) > 0, what
    assert child.returncode != 0, what
    assert "KeyboardInterrupt" in stderr.splitlines()[-2:], what
    assert "Exception in thread" not in stderr, what


def teardown_module() -> None:
    report = dict(sorted(FIGURES.items()))
    print(f"\nlifecycle figures: {report}")
    target = os.environ.get("PAIPA_LIFECYCLE_REPORT")
    if not target and os.environ.get("PAIPA_STRESS_REPORT"):
        stress = Path(os.environ["PAIPA_STRESS_REPORT"])
        target = str(stress.with_name(f"{stress.stem}-lifecycles{stress.suffix}"))
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n")
