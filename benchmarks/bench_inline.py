"""The inline engine against hand-written nested generators and builtin map/filter.

1,000,000 ints through 5 steps, every variant measured in the same process,
interleaved, best of N repeats. Run: ``python benchmarks/bench_inline.py``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from paipa import Pipeline, step


def add_one(x: int) -> int:
    return x + 1


def keep(x: int) -> bool:
    return x % 7 != 0


# -- hand-written nested generators, the seed's style ----------------------------


def gen_map(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield add_one(item)


def gen_filter(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        if keep(item):
            yield item


def gen_inline_work(items: Iterable[int]) -> Iterator[int]:
    for item in items:
        yield item + 1


Chain = Callable[[Iterable[int]], Iterable[object]]


def nest(*steps: Chain) -> Chain:
    """Nest hand-written generator functions, the first one innermost."""

    def nested(items: Iterable[int]) -> Iterable[object]:
        for function in steps:
            items = function(items)  # type: ignore[assignment]
        return items

    return nested


def drain(iterator: Iterable[object]) -> None:
    deque(iterator, maxlen=0)


def loop(iterator: Iterable[object]) -> None:
    for _ in iterator:
        pass


CONSUMERS: dict[str, tuple[Callable[[Iterable[object]], object], str]] = {
    # consumer of hand-written chains -> the paipa entry point doing the same
    "list": (list, "collect"),
    "drain": (drain, "run"),
    "for loop": (loop, "iterate"),
}


def scenarios() -> dict[str, dict[str, Chain]]:
    """Per scenario: the hand-written chain, a builtin one where it exists, and paipa's."""
    map_step = step.map(add_one)
    filter_step = step.filter(keep)
    iterator_step = step(gen_inline_work)

    def builtin_maps(items: Iterable[int]) -> Iterable[object]:
        return map(add_one, map(add_one, map(add_one, map(add_one, map(add_one, items)))))

    def builtin_filters(items: Iterable[int]) -> Iterable[object]:
        return filter(keep, filter(keep, filter(keep, filter(keep, filter(keep, items)))))

    mixed = [iterator_step, map_step, filter_step, map_step, iterator_step]
    return {
        "5 map steps": {
            "hand-written": nest(*[gen_map] * 5),
            "builtin": builtin_maps,
            "paipa": Chain_of([map_step] * 5),
        },
        "5 filter steps": {
            "hand-written": nest(*[gen_filter] * 5),
            "builtin": builtin_filters,
            "paipa": Chain_of([filter_step] * 5),
        },
        "5 iterator steps": {
            "hand-written": nest(*[gen_inline_work] * 5),
            "paipa": Chain_of([iterator_step] * 5),
        },
        "mixed: iter map filter map iter": {
            "hand-written": nest(gen_inline_work, gen_map, gen_filter, gen_map, gen_inline_work),
            "paipa": Chain_of(mixed),
        },
    }


def Chain_of(steps: list[object]) -> Chain:  # noqa: N802 - marks where paipa is used
    """Return a marker that `runner` turns into a paipa pipeline over the source."""

    def marker(items: Iterable[int]) -> Iterable[object]:
        raise AssertionError("paipa variants are run through their own entry points")

    marker.paipa_steps = steps  # type: ignore[attr-defined]
    return marker


Runner = Callable[[int], object]


def runner(chain: Chain, consumer: str) -> Runner:
    """Return a function running `chain` over range(n) with the given consumer."""
    consume, entry_point = CONSUMERS[consumer]
    steps = getattr(chain, "paipa_steps", None)
    if steps is None:
        return lambda n: consume(chain(range(n)))
    if entry_point == "collect":
        return lambda n: (Pipeline(range(n)) | steps).collect()
    if entry_point == "run":
        return lambda n: (Pipeline(range(n)) | steps).run()
    return lambda n: loop(Pipeline(range(n)) | steps)


def measure(runner: Runner, n: int) -> float:
    gc.collect()
    started = time.perf_counter()
    runner(n)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    runners = {
        (scenario, variant, consumer): runner(chain, consumer)
        for scenario, chains in scenarios().items()
        for variant, chain in chains.items()
        for consumer in CONSUMERS
    }
    best: dict[tuple[str, str, str], float] = {}
    for _ in range(arguments.repeats):
        for key, run in runners.items():
            seconds = measure(run, arguments.items)
            best[key] = min(best.get(key, seconds), seconds)
    print(
        f"{arguments.items:,} ints, best of {arguments.repeats}. Consumers: hand-written and "
        "builtin chains are read by list(), a deque drain or a for loop; paipa by the "
        "matching collect(), run() (which also counts the items) or iteration. "
        "ratio = time / hand-written with the same consumer.\n"
    )
    header = f"| {'scenario':32} | {'variant':12} |"
    header += "".join(f" {consumer + ' s':>10} | {'ratio':>6} |" for consumer in CONSUMERS)
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    for scenario, chains in scenarios().items():
        for variant in chains:
            row = f"| {scenario:32} | {variant:12} |"
            for consumer in CONSUMERS:
                seconds = best[(scenario, variant, consumer)]
                baseline = best[(scenario, "hand-written", consumer)]
                row += f" {seconds:10.3f} | {seconds / baseline:6.3f} |"
            print(row)


if __name__ == "__main__":
    main()
