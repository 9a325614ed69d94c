"""Threaded stages against ThreadPoolExecutor and hand-written queue.Queue pipelines.

Run: ``python benchmarks/bench_threads.py`` (add ``--quick`` for a smoke run).
Three comparisons, each measured side by side in one run:

1. IO-bound: items that each sleep 1 ms, 16 workers; against
   ``ThreadPoolExecutor.map`` and the practical ideal (16 / the measured length
   of one such sleep on this machine).
2. Thread overhead: trivial items through 3 threaded stages of 1 worker each;
   against a careful hand-written ``queue.Queue`` pipeline, per item and with
   64-item batches per queue operation.
3. Memory: 10 KB items from a fast source in front of a slow last step; peak
   RSS growth of each variant, each in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import queue
import resource
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from paipa import Pipeline, step

# -- 1. IO-bound --------------------------------------------------------------


def io_call(x: int) -> int:
    time.sleep(0.001)
    return x


def sleep_length(samples: int = 300) -> float:
    started = time.perf_counter()
    for _ in range(samples):
        time.sleep(0.001)
    return (time.perf_counter() - started) / samples


def io_bound(items: int, workers: int, repeats: int) -> None:
    variants: dict[str, Callable[[], object]] = {
        "paipa, ordered": lambda: (
            Pipeline(range(items)) | step.map(io_call, workers=workers)
        ).run(),
        "paipa, unordered": lambda: (
            Pipeline(range(items)) | step.map(io_call, workers=workers, ordered=False)
        ).run(),
        "ThreadPoolExecutor.map": lambda: tpe_map(items, workers),
    }
    best = {name: float("inf") for name in variants}
    one_sleep = float("inf")
    for _ in range(repeats):
        one_sleep = min(one_sleep, sleep_length())
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    ideal = workers / one_sleep
    print(f"\n## IO-bound: {items:,} items, each time.sleep(0.001), {workers} workers\n")
    print(
        f"one sleep(0.001) takes {one_sleep * 1000:.3f} ms here: practical ideal "
        f"{ideal:,.0f} items/s\n"
    )
    print("| variant | seconds | items/s | of ideal |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        rate = items / seconds
        print(f"| {name} | {seconds:.3f} | {rate:,.0f} | {rate / ideal:.3f} |")


def tpe_map(items: int, workers: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        deque(pool.map(io_call, range(items)), maxlen=0)


# -- 2. Thread overhead -------------------------------------------------------

END: Any = object()


def plus_one(x: int) -> int:
    return x + 1


def queue_pipeline(items: int, stages: int, batch: int) -> int:
    """A careful hand-written pipeline: a feeder thread, `stages` threads, queues between."""
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=1024) for _ in range(stages + 1)]

    def feed() -> None:
        source = iter(range(items))
        if batch == 1:
            for item in source:
                queues[0].put(item)
        else:
            while chunk := list(itertools.islice(source, batch)):
                queues[0].put(chunk)
        queues[0].put(END)

    def stage(inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        get, put = inbox.get, outbox.put
        if batch == 1:
            while (item := get()) is not END:
                put(plus_one(item))
        else:
            while (chunk := get()) is not END:
                put([plus_one(item) for item in chunk])
        put(END)

    threads = [threading.Thread(target=feed)]
    threads += [
        threading.Thread(target=stage, args=(queues[n], queues[n + 1])) for n in range(stages)
    ]
    for thread in threads:
        thread.start()
    count, get = 0, queues[-1].get
    while (received := get()) is not END:
        count += 1 if batch == 1 else len(received)
    for thread in threads:
        thread.join()
    return count


def thread_overhead(items: int, repeats: int) -> None:
    stage = step.map(plus_one, workers=1)
    variants: dict[str, Callable[[], object]] = {
        "paipa": lambda: (Pipeline(range(items)) | stage | stage | stage).run(),
        "queue.Queue, per item": lambda: queue_pipeline(items, 3, 1),
        "queue.Queue, 64-item batches": lambda: queue_pipeline(items, 3, 64),
    }
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    baseline = items / best["queue.Queue, per item"]
    print(f"\n## Thread overhead: {items:,} trivial items, 3 threaded stages of 1 worker\n")
    print("| variant | seconds | items/s | x per-item queue |")
    print("|---|---:|---:|---:|")
    for name, seconds in best.items():
        rate = items / seconds
        print(f"| {name} | {seconds:.3f} | {rate:,.0f} | {rate / baseline:.1f} |")


# -- 3. Memory ----------------------------------------------------------------

MEMORY_ITEMS = 50_000


def big_items(count: int) -> Iterator[bytes]:
    for index in range(count):
        yield index.to_bytes(4, "little") * 2560  # a fresh 10 KB object each time


def slow(item: bytes) -> int:
    deadline = time.perf_counter() + 0.00002  # about 20 us of work per item
    while time.perf_counter() < deadline:
        pass
    return len(item)


def memory_child(variant: str, count: int) -> None:
    rss_before = psutil.Process().memory_info().rss
    if variant == "paipa":
        pipeline = (
            Pipeline(lambda: big_items(count))
            | step.map(bytes.upper, workers=4)
            | step.map(slow, workers=1)
        )
        pipeline.run()
    elif variant == "paipa, queue_size=16":
        pipeline = (
            Pipeline(lambda: big_items(count))
            | step.map(bytes.upper, workers=4, queue_size=16)
            | step.map(slow, workers=1, queue_size=16)
        )
        pipeline.run()
    elif variant == "paipa, fast then slow consumer":
        for item in Pipeline(lambda: big_items(count)) | step.map(bytes.upper, workers=2):
            slow(item)
    else:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for item in pool.map(bytes.upper, big_items(count)):
                slow(item)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{(peak - rss_before) / 2**20:.1f}")


def memory(count: int) -> None:
    print(f"\n## Memory: {count:,} items of 10 KB, fast source, slow last step (~20 us/item)\n")
    print("Peak RSS growth over the RSS before the run, each variant in a fresh process.\n")
    print("| variant | peak RSS growth (MiB) |")
    print("|---|---:|")
    variants = ("paipa", "paipa, queue_size=16", "paipa, fast then slow consumer")
    for variant in (*variants, "ThreadPoolExecutor.map"):
        output = subprocess.run(
            [sys.executable, __file__, "--memory-child", variant, "--items", str(count)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"| {variant} | {output} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=MEMORY_ITEMS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory_child:
        memory_child(arguments.memory_child, arguments.items)
        return
    repeats = 1 if arguments.quick else 5
    io_bound(400 if arguments.quick else 4000, 16, repeats)
    thread_overhead(20_000 if arguments.quick else 200_000, repeats)
    memory(5_000 if arguments.quick else MEMORY_ITEMS)


if __name__ == "__main__":
    main()
