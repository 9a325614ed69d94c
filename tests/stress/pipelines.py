"""Random pipelines for the stress suite: a description, the paipa pipeline it builds,
and the reference result computed by hand (single-threaded, plain Python)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from paipa import Processor, Step, batch, chunk, flatten, step


class Fault(Exception):
    """The exception the suite injects; its message says where."""


KINDS = ("map", "filter", "flat_map", "iterator", "process", "chunk", "batch")


@dataclass(frozen=True)
class StepSpec:
    kind: str
    workers: int | None
    ordered: bool
    queue_size: int | None
    fail_on: int | None = None  # raise Fault when this value comes in
    fail_in: str | None = None  # "setup" or "teardown" (process steps)
    policy: str | None = None  # "skip" or "dead-letter" (item steps failing on multiples of 7)
    slow: bool = False  # sleep 0.5 ms on every 50th value
    backend: str = "thread"  # "process": map, filter, flat_map and iterator steps with workers

    def __repr__(self) -> str:
        parts = [self.kind]
        if self.workers is not None:
            parts.append(f"workers={self.workers}{'' if self.ordered else ' unordered'}")
        if self.queue_size is not None:
            parts.append(f"queue={self.queue_size}")
        if self.fail_on is not None:
            parts.append(f"fail_on={self.fail_on}")
        if self.fail_in:
            parts.append(f"fail_in={self.fail_in}")
        if self.policy:
            parts.append(f"policy={self.policy}")
        if self.slow:
            parts.append("slow")
        if self.in_processes:
            parts.append("in processes")
        return "<" + " ".join(parts) + ">"

    @property
    def in_processes(self) -> bool:
        """Whether the step's workers run in processes (item and iterator steps only)."""
        return (
            self.backend == "process"
            and self.workers is not None
            and self.kind in ("map", "filter", "flat_map", "iterator")
        )

    @property
    def reorders(self) -> bool:
        """Whether this step may change the order of items."""
        if self.workers is None or self.workers == 1:
            return False
        return self.kind == "iterator" or not self.ordered or self.kind not in ITEM_KINDS


ITEM_KINDS = ("map", "filter", "flat_map", "process")


def apply(kind: str, value: int) -> list[int]:
    """What one item turns into, for the item-wise kinds (all kinds are item-wise here)."""
    if kind == "map":
        return [value * 3 + 1]
    if kind == "filter":
        return [value] if value % 5 else []
    if kind == "flat_map":
        return [value, value + 1] if value % 2 else [value // 2]
    if kind == "iterator":
        return [value + 7]
    if kind == "process":
        return [value - 2]
    return [value]  # chunk | flatten, batch | flatten: items pass unchanged


@dataclass
class Lifecycle:
    """Counts processor setups and teardowns across a run."""

    setups: int = 0
    teardowns: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def build(spec: StepSpec, index: int, life: Lifecycle, dead: list[int]) -> list[Any]:
    """Return the paipa step(s) for `spec`, the `index`-th step of the pipeline."""
    name = f"s{index}-{spec.kind}"
    fail_on, kind = spec.fail_on, spec.kind

    def check(value: int) -> None:
        if spec.slow and value % 50 == 0:
            time.sleep(0.0005)
        if value == fail_on:
            raise Fault(f"{name} on {value}")
        if spec.policy and value % 7 == 0:
            raise Fault(f"{name} policy on {value}")

    options: dict[str, Any] = {"name": name}
    if spec.workers is not None:
        options.update(workers=spec.workers, ordered=spec.ordered, queue_size=spec.queue_size)
    if spec.in_processes:
        options.update(workers=min(spec.workers or 1, 2), backend="process")
    if spec.policy == "skip":
        options["on_error"] = "skip"
    elif spec.policy == "dead-letter":
        options["on_error"] = lambda item, error: dead.append(item)

    made: Step[Any, Any]
    if kind in ("map", "filter", "flat_map"):

        def item_function(value: int) -> Any:
            check(value)
            if kind == "filter":
                return bool(apply(kind, value))
            out = apply(kind, value)
            return out[0] if kind == "map" else out

        decorate = {"map": step.map, "filter": step.filter, "flat_map": step.flat_map}[kind]
        made = decorate(item_function).with_options(**options)
        return [made]
    if kind == "iterator":

        def iterator_function(items: Iterable[int]) -> Iterator[int]:
            for value in items:
                check(value)
                yield from apply(kind, value)

        return [step(iterator_function).with_options(**options)]
    if kind == "process":
        fail_in = spec.fail_in

        class Offset(Processor[int, int]):
            def setup(self) -> None:
                with life.lock:
                    life.setups += 1
                if fail_in == "setup":
                    raise Fault(f"{name} setup")

            def process(self, item: int) -> int:
                check(item)
                return apply("process", item)[0]

            def teardown(self) -> None:
                with life.lock:
                    life.teardowns += 1
                if fail_in == "teardown":
                    raise Fault(f"{name} teardown")

        return [step(Offset).with_options(**options)]
    size = 1 + index % 3
    grouping: Any = chunk(size) if kind == "chunk" else batch(size, timeout=0.01)
    grouped = step(grouping).with_options(name=name)
    if kind == "chunk" and spec.workers is not None:
        grouped = grouped.with_options(workers=1, queue_size=spec.queue_size)
    return [grouped, flatten]


def reference(specs: list[StepSpec], values: list[int]) -> tuple[list[int], list[list[int]]]:
    """Return the output by hand, and what came into each step."""
    seen: list[list[int]] = []
    for spec in specs:
        seen.append(values)
        out: list[int] = []
        for value in values:
            if spec.policy and value % 7 == 0:
                continue  # skipped or dead-lettered
            out.extend(apply(spec.kind, value))
        values = out
    return values, seen


step_specs = st.builds(
    StepSpec,
    kind=st.sampled_from(KINDS),
    workers=st.one_of(st.none(), st.integers(1, 8)),
    ordered=st.booleans(),
    queue_size=st.one_of(st.none(), st.integers(1, 64)),
    slow=st.booleans(),
    # PAIPA_STRESS_PROCESSES=0 leaves process stages out (a quicker soak of threads).
    backend=st.sampled_from(
        ["thread", "thread", "thread", "process"]
        if os.environ.get("PAIPA_STRESS_PROCESSES", "1") == "1"
        else ["thread"]
    ),
)


@dataclass(frozen=True)
class Case:
    """One random run: steps, a source, a fault (at most one), and a consumer."""

    steps: list[StepSpec]
    source: str  # "list", "generator", "factory", "infinite"
    size: int
    fault: str  # "none", "step", "source", "setup", "teardown", "consumer"
    fault_at: int
    consumer: str  # "collect", "iterate", "run", "break"
    stop_after: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    specs = draw(st.lists(step_specs, min_size=1, max_size=6))
    source = draw(st.sampled_from(["list", "generator", "factory", "infinite"]))
    size = draw(st.sampled_from([0, 1, 2, 17, 300]))
    consumer = draw(st.sampled_from(["collect", "iterate", "run", "break"]))
    if source == "infinite":
        consumer = "break"
    fault = draw(
        st.sampled_from(
            ["none", "none", "step", "source", "setup", "teardown", "consumer", "policy"]
        )
    )
    fault_at = draw(st.integers(0, max(size - 1, 0)))
    stop_after = draw(st.integers(0, 50))
    if source == "infinite" and fault in ("step", "source", "teardown", "policy"):
        fault = "none"
    fault = place_fault(draw, specs, fault, fault_at)
    return Case(specs, source, size, fault, fault_at, consumer, stop_after)


def place_fault(draw: st.DrawFn, specs: list[StepSpec], fault: str, fault_at: int) -> str:
    """Give one of `specs` (in place) the step fault `fault`; return it, or "none" if no
    step can take it. "step" fails on the value `fault_at`, "setup" and "teardown" in a
    `Processor`, "policy" is an error policy; other faults are left to the caller."""
    processes = [i for i, spec in enumerate(specs) if spec.kind == "process"]
    items = [i for i, spec in enumerate(specs) if spec.kind in ITEM_KINDS]
    failing = [i for i, spec in enumerate(specs) if spec.kind not in ("chunk", "batch")]
    if fault in ("setup", "teardown") and not processes:
        return "none"
    if (fault == "policy" and not items) or (fault == "step" and not failing):
        return "none"
    if fault == "step":
        target = draw(st.sampled_from(failing))
        specs[target] = _replace(specs[target], fail_on=fault_at)
    elif fault in ("setup", "teardown"):
        target = draw(st.sampled_from(processes))
        specs[target] = _replace(specs[target], fail_in=fault)
    elif fault == "policy":
        target = draw(st.sampled_from(items))
        policy = draw(st.sampled_from(["skip", "dead-letter"]))
        specs[target] = _replace(specs[target], policy=policy)
    return fault


def _replace(spec: StepSpec, **changes: Any) -> StepSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def make_source(case: Case) -> Any:
    """Return the pipeline source for `case` (raising at `fault_at` for a source fault)."""

    def numbers() -> Iterator[int]:
        for value in range(case.size) if case.source != "infinite" else itertools.count():
            if case.fault == "source" and value == case.fault_at:
                raise Fault("source")
            yield value

    if case.source == "list":
        if case.fault == "source":
            return numbers  # a list cannot fail: a factory that does
        return list(range(case.size))
    if case.source == "factory":
        return numbers
    return numbers()
