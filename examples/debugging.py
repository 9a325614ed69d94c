"""The runtime debugger at work: logged reports, a callback, the final figures as objects.

A pipeline with a slow, IO-bound step (4 workers) and a step that counts its
database queries runs with the debugger on: reports are logged while it runs
and at the end, a callback reporter keeps the snapshots, and the final figures
are printed from ``RunResult.stats``. Run it with ``python examples/debugging.py``.
"""

from __future__ import annotations

import logging
import sys
import time

from paipa import CallbackReporter, LoggingReporter, Pipeline, Snapshot, step, tally


@step.map
def parse(text: str) -> int:
    return int(text)


@step.map(workers=4)
def enrich(number: int) -> dict[str, int]:
    time.sleep(0.002)  # a call to another service
    return {"number": number, "square": number * number}


@step.filter
def known(record: dict[str, int]) -> bool:
    tally("queries")  # one lookup per record
    return record["number"] % 10 != 0


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(name)s: %(message)s")
    snapshots: list[Snapshot] = []
    pipeline = (Pipeline(str(n) for n in range(400)) | parse | enrich | known).debug(
        reporters=[LoggingReporter(), CallbackReporter(snapshots.append)], interval=0.1
    )
    result = pipeline.run()
    assert result.stats is not None
    print(f"\n{len(snapshots)} reports; the last one is final: {snapshots[-1].final}")
    slowest = max(result.stats.steps, key=lambda stats: stats.seconds)
    print(f"slowest step: {slowest.name} ({slowest.seconds:.2f} s over {slowest.workers} workers)")
    queries = result.stats.steps[-1]
    print(f"queries: {queries.counts['queries']}, {queries.per_item('queries'):.2f} per record")


if __name__ == "__main__":
    main()
