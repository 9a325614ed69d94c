"""The runtime debugger's overhead: paipa's debugger, and the seed library's approach.

Run: ``python benchmarks/bench_debugger.py``. Two comparisons, side by side:

1. 5 steps doing about 10 us of work per item: debugger off vs on.
2. 1,000,000 ints through 5 trivial generator steps: debugger off vs on, and
   the approach of the library paipa grew from, emulated: a wrapper around
   every step that calls ``os.times()`` and ``getrusage()`` for every item.
   It is so slow that it runs on fewer items; rates are compared.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from paipa import Pipeline, step


def work(x: int) -> int:
    deadline = time.perf_counter() + 0.00001
    while time.perf_counter() < deadline:
        pass
    return x


def add_one(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield item + 1


def per_item_accounting(function: Callable[[Iterable[Any]], Iterator[Any]]) -> Callable[..., Any]:
    """Wrap a generator step the way the seed library's debugger did: rusage per item."""

    def wrapped(items: Iterable[Any]) -> Iterator[Any]:
        iterator = iter(function(items))
        totals = [0.0, 0.0, 0.0, 0]
        while True:
            before, usage = os.times(), resource.getrusage(resource.RUSAGE_SELF)
            try:
                item = next(iterator)
            except StopIteration:
                return
            after, used = os.times(), resource.getrusage(resource.RUSAGE_SELF)
            totals[0] += after.elapsed - before.elapsed
            totals[1] += used.ru_utime - usage.ru_utime
            totals[2] += used.ru_stime - usage.ru_stime
            totals[3] += 1
            yield item

    return wrapped


def best_rate(run: Callable[[], object], items: int, repeats: int) -> float:
    fastest = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - started)
    return items / fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    arguments = parser.parse_args()
    repeats = 1 if arguments.quick else 5

    items = 2_000 if arguments.quick else 20_000
    busy = Pipeline(range(items)) | [step.map(work)] * 5
    rates = {}
    for _ in range(repeats):  # interleave off and on
        rates["off"] = max(rates.get("off", 0.0), best_rate(busy.run, items, 1))
        rates["on"] = max(rates.get("on", 0.0), best_rate(busy.debug(reporters=[]).run, items, 1))
    print(f"## 5 steps of ~10 us per item, {items:,} items, best of {repeats}\n")
    print("| debugger | items/s | time vs off |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rates['off'] / rate:.3f} |")

    items = 100_000 if arguments.quick else 1_000_000
    seed_items = 5_000 if arguments.quick else 50_000
    trivial = Pipeline(range(items)) | [step(add_one)] * 5
    seed_style = Pipeline(range(seed_items)) | [per_item_accounting(add_one)] * 5
    rates = {}
    for _ in range(repeats):
        for name, run, count in (
            ("off", trivial.run, items),
            ("paipa debugger", trivial.debug(reporters=[]).run, items),
            ("per-item os.times + getrusage (seed's way)", seed_style.run, seed_items),
        ):
            rates[name] = max(rates.get(name, 0.0), best_rate(run, count, 1))
    print(f"\n## {items:,} ints through 5 trivial generator steps, best of {repeats}\n")
    print(f"(the seed's way runs {seed_items:,} items: rates compare)\n")
    print("| debugger | items/s | times slower than off |")
    print("|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {rates['off'] / rate:.1f} |")


if __name__ == "__main__":
    main()
