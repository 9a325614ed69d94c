"""Fixed costs: frameless iterator steps, small runs, ``combine_pipeline``, import time.

Every variant is measured side by side in this one run, interleaved, best of N;
the tables give ratios to the hand-written way of doing the same thing.

1. Steps that return iterators without a Python frame (``toolz.curried.map``,
   ``filter``, ``functools.partial(map, f)``, ``itertools.islice``) against
   nesting the same callables by hand.
2. Small runs: 10 items through 3 generator steps, per call (prebuilt
   pipeline, building and running it, ``combine_pipeline``), against nesting
   the generators by hand and against the original paipa 0.3.3's
   ``combine_pipeline`` when its source is given (``--original``).
3. ``import paipa`` in fresh interpreters, over a bare one (and ``toolz``, and
   the original).

Run: ``python benchmarks/bench_fixed_costs.py`` (``--quick`` for a smoke run).
The original's source: ``pip download --no-deps --no-binary :all: paipa==0.3.3``,
unpacked, plus a directory holding ``six``; pass both as one path list:
``--original /tmp/orig/paipa-0.3.3:/tmp/orig/deps``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import toolz.curried as tc

import paipa
from paipa import Pipeline

Variants = dict[str, Callable[[], object]]


def best_of(repeats: int, variants: Variants, calls: int = 1) -> dict[str, float]:
    """Return each variant's best seconds per call over `repeats` interleaved rounds."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, variant in variants.items():
            gc.collect()
            started = time.perf_counter()
            for _ in range(calls):
                variant()
            seconds = (time.perf_counter() - started) / calls
            best[name] = min(best.get(name, seconds), seconds)
    return best


def table(best: dict[str, float], baseline: str, unit: str, scale: float) -> None:
    """Print `best` as a markdown table of times and ratios to `baseline`."""
    width = max(len(name) for name in best)
    print(f"| {'variant':{width}} | {unit:>10} | {'ratio':>6} |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 8}|")
    for name, seconds in best.items():
        ratio = seconds / best[baseline]
        print(f"| {name:{width}} | {seconds * scale:10.2f} | {ratio:6.2f} |")
    print()


# -- 1. steps without a Python frame ----------------------------------------------


def add_one(x: int) -> int:
    return x + 1


def odd(x: int) -> bool:
    return x % 2 == 1


def drain(iterator: Iterable[object]) -> None:
    deque(iterator, maxlen=0)


def frameless(items: int, repeats: int) -> None:
    """toolz, builtin and itertools iterators as steps, against nesting them by hand."""
    scenarios: dict[str, list[Callable[[Iterable[Any]], Iterator[Any]]]] = {
        "toolz map | filter | map": [tc.map(add_one), tc.filter(odd), tc.map(add_one)],
        "partial(map) | partial(filter) | islice": [
            functools.partial(map, add_one),
            functools.partial(filter, odd),
            tc.take(items),  # toolz.take returns itertools.islice(seq, n)
        ],
    }
    print(f"### Steps without a Python frame: {items:,} ints, 3 steps, best of {repeats}\n")
    for scenario, steps in scenarios.items():

        def hand(steps: list[Callable[[Iterable[Any]], Iterator[Any]]] = steps) -> Iterator[Any]:
            iterator: Iterator[Any] = iter(range(items))
            for function in steps:
                iterator = function(iterator)
            return iterator

        pipeline = Pipeline(range(items)) | steps
        best = best_of(
            repeats,
            {
                "by hand, list()": lambda hand=hand: list(hand()),
                "paipa collect()": pipeline.collect,
                "by hand, drain": lambda hand=hand: drain(hand()),
                "paipa run()": pipeline.run,
            },
        )
        print(f"{scenario}:\n")
        width = max(len(name) for name in best)
        print(f"| {'variant':{width}} | {'ms':>8} | {'ratio':>6} |")
        print(f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * 8}|")
        for name, seconds in best.items():
            listed = "list" in name or "collect" in name
            baseline = best["by hand, list()" if listed else "by hand, drain"]
            print(f"| {name:{width}} | {seconds * 1e3:8.2f} | {seconds / baseline:6.2f} |")
        print()


# -- 2. small runs ----------------------------------------------------------------


def first(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield item + 1


def second(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield item + 1


def third(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield item + 1


def load_original(paths: str) -> ModuleType:
    """Import paipa 0.3.3 from `paths` (its source and ``six``) as ``paipa_original``."""
    entries = paths.split(os.pathsep)
    sys.path[len(sys.path) :] = entries[1:]
    package = Path(entries[0]) / "paipa"
    spec = importlib.util.spec_from_file_location(
        "paipa_original", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["paipa_original"] = module
    spec.loader.exec_module(module)
    return module


def small_runs(repeats: int, calls: int, original: ModuleType | None) -> None:
    """Per-call cost of 10 items through 3 steps, against nesting generators by hand."""
    steps = [first, second, third]
    prebuilt = Pipeline(range(10)) | first | second | third
    variants: Variants = {
        "by hand: list(third(second(first(range(10)))))": lambda: list(
            third(second(first(range(10))))
        ),
        "prebuilt pipeline: collect()": prebuilt.collect,
        "prebuilt pipeline: run()": prebuilt.run,
        "prebuilt pipeline: list(pipeline)": lambda: list(prebuilt),
        "build and run: (Pipeline(...) | f | g | h).collect()": lambda: (
            Pipeline(range(10)) | first | second | third
        ).collect(),
        "combine_pipeline(range(10), [f, g, h])": lambda: list(
            paipa.combine_pipeline(range(10), steps)
        ),
    }
    if original is not None:
        combine: Callable[[Any, Any], Iterable[Any]] = original.combine_pipeline
        variants["paipa 0.3.3: combine_pipeline(range(10), [f, g, h])"] = lambda: list(
            combine(range(10), steps)
        )
    best = best_of(repeats, variants, calls)
    print(f"### Small runs: 10 items through 3 generator steps, best of {repeats}\n")
    table(best, next(iter(best)), "us / call", 1e6)
    if original is not None:
        ratio = best["combine_pipeline(range(10), [f, g, h])"] / best[list(best)[-1]]
        print(f"combine_pipeline: {ratio:.2f}x the original's\n")


# -- 3. import time ---------------------------------------------------------------


def import_time(samples: int, original: str | None) -> None:
    """Start fresh interpreters, interleaved; report the best wall time of each import.

    Bytecode is cached (in a temporary directory, whatever PYTHONDONTWRITEBYTECODE
    says), as it is for an installed package: the first round writes it.
    """
    cached = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="paipa-bench-pycache-")
    statements = {"bare interpreter": "pass", "import toolz": "import toolz"}
    statements["import paipa"] = "import paipa"
    environments: dict[str, dict[str, str]] = {name: dict(cached) for name in statements}
    if original is not None:
        statements["import paipa (0.3.3)"] = "import paipa"
        environments["import paipa (0.3.3)"] = {**cached, "PYTHONPATH": original}
    for name, statement in statements.items():  # writes the bytecode
        subprocess.run([sys.executable, "-P", "-c", statement], env=environments[name], check=True)
    best: dict[str, float] = {}
    for _ in range(samples):
        for name, statement in statements.items():
            started = time.perf_counter()
            command = [sys.executable, "-P", "-c", statement]
            subprocess.run(command, env=environments[name], check=True)
            seconds = time.perf_counter() - started
            best[name] = min(best.get(name, seconds), seconds)
    print(f"### Import time: fresh interpreters, best of {samples}\n")
    width = max(len(name) for name in best)
    print(f"| {'variant':{width}} | {'ms':>7} | {'over bare ms':>12} |")
    print(f"|{'-' * (width + 2)}|{'-' * 9}|{'-' * 14}|")
    for name, seconds in best.items():
        over = (seconds - best["bare interpreter"]) * 1e3
        print(f"| {name:{width}} | {seconds * 1e3:7.1f} | {over:12.1f} |")
    print()
    heavy = ("psutil", "socket", "subprocess", "multiprocessing", "pickle", "cloudpickle")
    probe = f"import paipa, sys; print(sorted(set({heavy!r}) & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-P", "-c", probe], env=cached, capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"Loaded by `import paipa` among {', '.join(heavy)}: {loaded}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--original", help="paipa 0.3.3's source and six, as a path list")
    arguments = parser.parse_args()
    items, repeats, calls, samples = arguments.items, arguments.repeats, 2_000, 15
    if arguments.quick:
        items, repeats, calls, samples = 20_000, 2, 200, 3
    original = load_original(arguments.original) if arguments.original else None
    print(f"paipa from {Path(paipa.__file__).parent}, Python {sys.version.split()[0]}\n")
    frameless(items, repeats)
    small_runs(repeats, calls, original)
    import_time(samples, arguments.original)


if __name__ == "__main__":
    main()
