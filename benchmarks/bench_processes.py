"""Process stages against ProcessPoolExecutor, mpire and pypeln.

Run: ``python benchmarks/bench_processes.py`` (add ``--quick`` for a smoke run).
Four comparisons, each measured side by side in one run:

1. CPU-bound: 2,000 items of about 1 ms of pure-Python work each (the work
   loop is calibrated at start), 2 workers; against serial inline paipa,
   ``ProcessPoolExecutor.map`` at its best chunksize, mpire and pypeln. Every
   variant starts its worker processes inside the timing (one pool per run, as
   a user running one pipeline would); a "warm" table times the same work
   through workers that are already running.
2. Overhead: trivial items (``x + 1``) through one process stage of 2
   workers; against ``ProcessPoolExecutor.map`` at its best chunksize.
3. Start-up: time to the first output of a 1-item run, and to the end of that
   run, per start method; each sample in a fresh interpreter, so that the
   forkserver's first run really is its first.
4. Trickle latency: items put one at a time into a background run of one
   process worker; the round trip of each, against a thread worker,
   ``ProcessPoolExecutor.submit`` and a bare pipe to a child process.

Worker processes started with spawn or forkserver import this script again
(as ``__mp_main__``): the peers are imported inside the functions that use
them, so that a child imports only what a small user script would.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import itertools
import json
import multiprocessing
import operator
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from paipa import Pipeline, ProcessBackend, step

FORKSERVER = ProcessBackend(start_method="forkserver")
SPAWN = ProcessBackend(start_method="spawn")
FORK = ProcessBackend(start_method="fork")


def best_of(repeats: int, variants: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Run the variants interleaved `repeats` times; the best seconds of each."""
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


# -- 1. CPU-bound ---------------------------------------------------------------------------


def work(x: int, loops: int) -> int:
    """Pure-Python CPU work: `loops` rounds of integer arithmetic."""
    value = x
    for index in range(loops):
        value = (value * 31 + index) % 1_000_003
    return value


def seconds_per_call(loops: int, calls: int = 20, samples: int = 7) -> float:
    best = float("inf")
    for _ in range(samples):
        started = time.perf_counter()
        for x in range(calls):
            work(x, loops)
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def calibrate(target: float = 0.001) -> tuple[int, float]:
    """Return the loop count for `target` seconds per item here, and one item's seconds."""
    loops = 1000
    for _ in range(3):
        loops = max(1, round(loops * target / seconds_per_call(loops)))
    return loops, seconds_per_call(loops)


def ppe_map(function: Callable[[int], int], items: int, chunksize: int, method: str | None = None):
    context = multiprocessing.get_context(method) if method else None
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        return list(pool.map(function, range(items), chunksize=chunksize))


def mpire_map(function: Callable[[int], int], items: int, chunk_size: int | None) -> list[int]:
    from mpire import WorkerPool

    with WorkerPool(n_jobs=2) as pool:
        return pool.map(function, range(items), chunk_size=chunk_size)


def pypeln_map(function: Callable[[int], int], items: int) -> list[int]:
    import pypeln

    return list(pypeln.process.map(function, range(items), workers=2))


def paipa_map(function: Callable[[int], int], items: int, backend: Any, workers: int = 2):
    if backend is None:
        return (Pipeline(range(items)) | step.map(function)).collect()
    return (Pipeline(range(items)) | step.map(function, workers=workers, backend=backend)).collect()


PPE_CHUNKS = (1, 8, 32, 125, 500)
MPIRE_CHUNKS = (8, 32)


def cpu_bound(items: int, repeats: int) -> None:
    loops, one = calibrate()
    function = functools.partial(work, loops=loops)
    expected = [function(x) for x in range(items)]
    in_order = sorted(expected)
    variants: dict[str, Callable[[], Any]] = {
        "paipa, inline (serial)": lambda: paipa_map(function, items, None),
        "paipa, process (forkserver, the default)": lambda: paipa_map(function, items, "process"),
        "paipa, process, spawn": lambda: paipa_map(function, items, SPAWN),
        "paipa, process, fork": lambda: paipa_map(function, items, FORK),
    }
    add_ppe(variants, function, items, PPE_CHUNKS)
    variants["mpire, default chunking"] = lambda: mpire_map(function, items, None)
    for size in MPIRE_CHUNKS:
        variants[f"mpire {size}"] = functools.partial(mpire_map, function, items, size)
    variants["pypeln.process.map (unordered)"] = lambda: pypeln_map(function, items)
    for name, run in variants.items():  # every variant computes the same, once, untimed
        got = run()
        if "unordered" in name:
            assert sorted(got) == in_order, name
        else:
            assert got == expected, name
    best = best_of(repeats, variants)
    warmed = warm(function, items, repeats, PPE_CHUNKS, (None, *MPIRE_CHUNKS))

    serial = best["paipa, inline (serial)"]
    print(f"\n## CPU-bound: {items:,} items of ~1 ms of pure-Python work, 2 workers\n")
    print(
        f"one item ({loops:,} loop rounds) takes {one * 1000:.3f} ms here, calibrated at "
        f"start: {items:,} items are {items * one:.2f} s of work, "
        f"{items * one / 2:.2f} s on 2 cores\n"
    )
    print(f"Best of {repeats}; each run starts its own worker processes (inside the timing).\n")
    print("| variant | seconds | x serial |")
    print("|---|---:|---:|")
    rows = {name: seconds for name, seconds in best.items() if not name.startswith(("PPE", "mp"))}
    rows.update(ppe_rows(best, PPE_CHUNKS))
    rows["mpire WorkerPool.map, default chunking"] = best["mpire, default chunking"]
    tuned = min(MPIRE_CHUNKS, key=lambda size: best[f"mpire {size}"])
    rows[f"mpire WorkerPool.map, best chunk_size ({tuned})"] = best[f"mpire {tuned}"]
    pypeln_name = "pypeln.process.map (unordered)"
    rows[pypeln_name] = rows.pop(pypeln_name)
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.3f} | {serial / seconds:.2f} |")
    print_chunks(best, PPE_CHUNKS)
    print("- mpire, every chunk_size tried, seconds: " + chunk_line(best, "mpire ", MPIRE_CHUNKS))

    paipa = "paipa, process (forkserver, the default)"
    head_to_head(variants, best, repeats * 3, paipa, PPE_CHUNKS)
    peer = f"mpire {min(MPIRE_CHUNKS, key=lambda size: best[f'mpire {size}'])}"
    head_to_head(variants, best, repeats * 3, paipa, (), peer)

    print("\nWarm: the workers already run (started and given one item before the timing).\n")
    print("| variant | seconds | x serial |")
    print("|---|---:|---:|")
    for name, seconds in warmed.items():
        print(f"| {name} | {seconds:.3f} | {serial / seconds:.2f} |")


def head_to_head(
    variants: dict[str, Callable[[], Any]],
    best: dict[str, float],
    rounds: int,
    paipa: str,
    ppe_sizes: tuple[int, ...],
    other: str | None = None,
) -> None:
    """Time paipa against ProcessPoolExecutor at the chunk size found best above, in pairs.

    The table above takes, for a peer, the best of several chunk sizes of the best
    of `repeats` runs each: on a noisy machine that minimum of many samples favours
    whoever has more variants. Here each round runs paipa and each peer at its
    chosen size back to back (each first in every other round), and the ratio of
    each pair is kept. `other` names one more variant to pair with paipa.
    """
    peers = {
        f"ProcessPoolExecutor.map ({method}), chunksize {size}": f"PPE {method} {size}"
        for method in PPE_METHODS
        if ppe_sizes
        for size in [min(ppe_sizes, key=lambda size: best[f"PPE {method} {size}"])]
    }
    if other is not None:
        peers[other] = other
    ratios: dict[str, list[float]] = {name: [] for name in peers}
    for round_ in range(rounds):
        for name, key in peers.items():
            order = [paipa, key] if round_ % 2 else [key, paipa]  # neither always goes first
            seconds = {}
            for variant in order:
                started = time.perf_counter()
                variants[variant]()
                seconds[variant] = time.perf_counter() - started
            ratios[name].append(seconds[key] / seconds[paipa])
    print(f"\nHead to head: {rounds} rounds of {paipa!r} and a peer back to back.\n")
    print("| peer | peer's time / paipa's: median | range |")
    print("|---|---:|---:|")
    for name, values in ratios.items():
        print(
            f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} to {max(values):.3f} |"
        )


def chunk_line(best: dict[str, float], prefix: str, sizes: tuple[int, ...]) -> str:
    return ", ".join(f"{size}: {best[prefix + str(size)]:.3f}" for size in sizes)


PPE_METHODS = {"fork": "fork, its default", "forkserver": "forkserver"}


def add_ppe(
    variants: dict[str, Callable[[], Any]],
    function: Callable[[int], int],
    items: int,
    sizes: tuple[int, ...],
) -> None:
    """Add ``ProcessPoolExecutor.map`` at every chunk size, with fork and forkserver."""
    for method, size in itertools.product(PPE_METHODS, sizes):
        variants[f"PPE {method} {size}"] = functools.partial(ppe_map, function, items, size, method)


def ppe_rows(best: dict[str, float], sizes: tuple[int, ...]) -> dict[str, float]:
    """The best chunk size of ``ProcessPoolExecutor.map``, per start method."""
    rows = {}
    for method, label in PPE_METHODS.items():
        size = min(sizes, key=lambda size: best[f"PPE {method} {size}"])
        rows[f"ProcessPoolExecutor.map ({label}), best chunksize ({size})"] = best[
            f"PPE {method} {size}"
        ]
    return rows


def print_chunks(best: dict[str, float], sizes: tuple[int, ...]) -> None:
    print()
    for method in PPE_METHODS:
        line = chunk_line(best, f"PPE {method} ", sizes)
        print(f"- ProcessPoolExecutor.map ({method}), every chunksize tried, seconds: {line}")


def warm(
    function: Callable[[int], int],
    items: int,
    repeats: int,
    ppe_sizes: tuple[int, ...],
    mpire_sizes: tuple[int | None, ...] = (),
) -> dict[str, float]:
    """The same work through workers that already run: a fed paipa run, PPE, mpire.

    Return the best seconds of paipa and of each peer at its best chunk size.
    """
    from mpire import WorkerPool

    expected = [function(x) for x in range(items)]
    run = (Pipeline() | step.map(function, workers=2, backend="process")).start()
    outputs = iter(run)
    ppe = concurrent.futures.ProcessPoolExecutor(2)
    mpire = WorkerPool(n_jobs=2, keep_alive=True)
    try:
        run.put_all([0, 1])
        list(itertools.islice(outputs, 2))
        list(ppe.map(function, range(4), chunksize=1))
        if mpire_sizes:
            mpire.map(function, range(4), chunk_size=1)

        def paipa_fed() -> list[int]:
            feeder = threading.Thread(target=run.put_all, args=(range(items),))
            feeder.start()
            got = list(itertools.islice(outputs, items))
            feeder.join()
            return got

        def ppe_warm(size: int) -> list[int]:
            return list(ppe.map(function, range(items), chunksize=size))

        def mpire_warm(size: int | None) -> list[int]:
            return mpire.map(function, range(items), chunk_size=size)

        variants: dict[str, Callable[[], Any]] = {"paipa, process, a fed run": paipa_fed}
        for size in ppe_sizes:
            variants[f"PPE {size}"] = functools.partial(ppe_warm, size)
        for size in mpire_sizes:
            variants[f"mpire {size}"] = functools.partial(mpire_warm, size)
        for name, variant in variants.items():
            assert variant() == expected, name
        best = best_of(repeats, variants)
    finally:
        run.finish()
        for _ in outputs:  # drain: the run ends and the reader is done with it
            pass
        ppe.shutdown()
        mpire.terminate()
    rows = {"paipa, process, a fed run": best["paipa, process, a fed run"]}
    size = min(ppe_sizes, key=lambda size: best[f"PPE {size}"])
    rows[f"ProcessPoolExecutor.map (fork), best chunksize ({size})"] = best[f"PPE {size}"]
    if mpire_sizes:
        tuned = min(mpire_sizes, key=lambda size: best[f"mpire {size}"])
        label = "default chunking" if tuned is None else f"best chunk_size ({tuned})"
        rows[f"mpire WorkerPool.map (keep_alive), {label}"] = best[f"mpire {tuned}"]
    return rows


# -- 2. Overhead ----------------------------------------------------------------------------


def plus_one(x: int) -> int:
    return x + 1


OVERHEAD_CHUNKS = (100, 1000, 5000, 20000)


def overhead(items: int, repeats: int) -> None:
    variants: dict[str, Callable[[], Any]] = {
        "paipa, inline (serial, no processes)": lambda: paipa_map(plus_one, items, None),
        "paipa, process (forkserver), 2 workers": lambda: paipa_map(plus_one, items, "process"),
        "paipa, process, fork, 2 workers": lambda: paipa_map(plus_one, items, FORK),
        "paipa, process (forkserver), queue_size=16384": lambda: (
            Pipeline(range(items))
            | step.map(plus_one, workers=2, backend="process", queue_size=16384)
        ).collect(),
    }
    add_ppe(variants, plus_one, items, OVERHEAD_CHUNKS)
    expected = list(range(1, items + 1))
    for name, run in variants.items():
        assert run() == expected, name
    best = best_of(repeats, variants)
    rows = {name: seconds for name, seconds in best.items() if not name.startswith("PPE")}
    rows.update(ppe_rows(best, OVERHEAD_CHUNKS))
    baseline = items / min(rows[name] for name in rows if name.startswith("ProcessPool"))
    print(f"\n## Overhead: {items:,} trivial items (x + 1), one stage of 2 process workers\n")
    print(f"Best of {repeats}; each run starts its own worker processes (inside the timing).\n")
    print("| variant | seconds | items/s | x best PPE |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows.items():
        rate = items / seconds
        print(f"| {name} | {seconds:.3f} | {rate:,.0f} | {rate / baseline:.2f} |")
    print_chunks(best, OVERHEAD_CHUNKS)
    warmed = warm(plus_one, items, repeats, OVERHEAD_CHUNKS)
    baseline = items / min(seconds for name, seconds in warmed.items() if name.startswith("Proc"))
    paipa = "paipa, process (forkserver), 2 workers"
    head_to_head(variants, best, repeats * 3, paipa, OVERHEAD_CHUNKS)

    print("\nWarm: the workers already run (started and given one item before the timing).\n")
    print("| variant | seconds | items/s | x best PPE |")
    print("|---|---:|---:|---:|")
    for name, seconds in warmed.items():
        rate = items / seconds
        print(f"| {name} | {seconds:.3f} | {rate:,.0f} | {rate / baseline:.2f} |")


# -- 3. Start-up ----------------------------------------------------------------------------

STARTUP_VARIANTS = (
    "paipa, forkserver, first run",
    "paipa, forkserver, warm",
    "paipa, forkserver, first run, python -c",
    "paipa, forkserver, warm, python -c",
    "paipa, spawn",
    "paipa, fork",
    "ProcessPoolExecutor, fork (its default)",
    "ProcessPoolExecutor, forkserver, first run",
    "ProcessPoolExecutor, spawn",
)


def time_one_item(outputs: Callable[[], Iterator[int]]) -> tuple[float, float]:
    """Seconds to the first output, and to the end of the run, of a 1-item run."""
    started = time.perf_counter()
    iterator = outputs()
    next(iterator)
    first = time.perf_counter() - started
    for _ in iterator:
        pass
    return first, time.perf_counter() - started


def paipa_one(backend: Any, function: Callable[[int], int] = plus_one) -> Iterator[int]:
    return iter(Pipeline([1]) | step.map(function, workers=2, backend=backend))


def ppe_one(method: str) -> Iterator[int]:
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        yield from pool.map(plus_one, [1])


def startup_child(group: str) -> None:
    """One sample of each start-up variant of `group`, in this fresh interpreter (as JSON).

    Two groups, each in its own interpreter: each one's forkserver is its own
    (paipa's preloads paipa).
    """
    if group == "python -c":  # no __main__ for the workers to import again; a builtin step
        add_one = functools.partial(operator.add, 1)
        figures = {
            "paipa, forkserver, first run, python -c": time_one_item(
                lambda: paipa_one("process", add_one)
            ),
            "paipa, forkserver, warm, python -c": time_one_item(
                lambda: paipa_one("process", add_one)
            ),
        }
    elif group == "paipa":
        figures = {
            "paipa, forkserver, first run": time_one_item(lambda: paipa_one("process")),
            "paipa, forkserver, warm": time_one_item(lambda: paipa_one("process")),
            "paipa, spawn": time_one_item(lambda: paipa_one(SPAWN)),
            "paipa, fork": time_one_item(lambda: paipa_one(FORK)),
        }
    else:
        figures = {
            "ProcessPoolExecutor, fork (its default)": time_one_item(lambda: ppe_one("fork")),
            "ProcessPoolExecutor, forkserver, first run": time_one_item(
                lambda: ppe_one("forkserver")
            ),
            "ProcessPoolExecutor, spawn": time_one_item(lambda: ppe_one("spawn")),
        }
    print(json.dumps(figures))


def startup(samples: int) -> None:
    best = {name: [float("inf"), float("inf")] for name in STARTUP_VARIANTS}
    here = os.path.dirname(os.path.abspath(__file__))
    bare = f"import sys; sys.path.insert(0, {here!r}); import bench_processes as b; "
    bare += "b.startup_child('python -c')"
    commands = {
        "paipa": [sys.executable, __file__, "--startup-child", "paipa"],
        "ppe": [sys.executable, __file__, "--startup-child", "ppe"],
        "python -c": [sys.executable, "-c", bare],
    }
    for _, command in itertools.product(range(samples), commands.values()):
        output = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name, (first, whole) in json.loads(output).items():
            best[name] = [min(best[name][0], first), min(best[name][1], whole)]
    print("\n## Start-up: 1 item through 2 process workers, each sample in a fresh interpreter\n")
    print(f"best of {samples} fresh interpreters\n")
    print("| variant | first output (ms) | whole run (ms) |")
    print("|---|---:|---:|")
    for name, (first, whole) in best.items():
        print(f"| {name} | {first * 1000:.1f} | {whole * 1000:.1f} |")


# -- 4. Trickle latency ---------------------------------------------------------------------


def echo(connection: Connection) -> None:
    while (item := connection.recv()) is not None:
        connection.send(plus_one(item))


def round_trips(count: int, one: Callable[[int], object]) -> list[float]:
    one(-1)  # warm
    times = []
    for x in range(count):
        started = time.perf_counter()
        one(x)
        times.append(time.perf_counter() - started)
        time.sleep(0.002)  # a trickle: the worker is idle when the next item comes
    return times


def fed_round_trips(count: int, backend: Any) -> list[float]:
    run = (Pipeline() | step.map(plus_one, workers=1, backend=backend)).start()
    outputs = iter(run)

    def one(x: int) -> int:
        run.put(x)
        return next(outputs)

    try:
        return round_trips(count, one)
    finally:
        run.finish()
        for _ in outputs:
            pass


def trickle(count: int) -> None:
    figures = {
        "paipa, process worker (forkserver)": fed_round_trips(count, "process"),
        "paipa, thread worker": fed_round_trips(count, "thread"),
    }
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        figures["ProcessPoolExecutor(1).submit(...).result()"] = round_trips(
            count, lambda x: pool.submit(plus_one, x).result()
        )
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("forkserver").Process(target=echo, args=(theirs,))
    child.start()

    def bare(x: int) -> int:
        ours.send(x)
        return ours.recv()

    figures["bare Pipe to a child process (send, recv)"] = round_trips(count, bare)
    ours.send(None)
    child.join()
    print(f"\n## Trickle latency: {count} items put one at a time, 1 worker, 2 ms apart\n")
    print("| variant | median (us) | 90th percentile (us) |")
    print("|---|---:|---:|")
    for name, times in figures.items():
        tenth = statistics.quantiles(times, n=10)
        print(f"| {name} | {statistics.median(times) * 1e6:.0f} | {tenth[-1] * 1e6:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument(
        "--only",
        choices=("cpu", "overhead", "startup", "trickle"),
        action="append",
        help="run only this comparison (repeatable)",
    )
    parser.add_argument("--startup-child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.startup_child:
        startup_child(arguments.startup_child)
        return
    quick = arguments.quick
    repeats = 1 if quick else 5
    chosen = set(arguments.only or ("cpu", "overhead", "startup", "trickle"))
    if "cpu" in chosen:
        cpu_bound(200 if quick else 2000, repeats)
    if "overhead" in chosen:
        overhead(20_000 if quick else 200_000, repeats * 3)  # short runs: more of them
    if "startup" in chosen:
        startup(1 if quick else 7)
    if "trickle" in chosen:
        trickle(20 if quick else 200)


if __name__ == "__main__":
    main()
