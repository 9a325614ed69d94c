"""A live-fed background pipeline: events arrive while it runs, in batches, stored by 2 workers.

A producer thread puts events into a running pipeline (``Pipeline()`` without
a source); ``batch(50, timeout=0.05)`` sends a batch when it is full or when
the events pause; two workers store the batches. The main thread reads the
stored batch sizes as they come. Run it with ``python examples/live_feed.py``.
"""

from __future__ import annotations

import threading
import time

from paipa import Pipeline, batch, step


@step.map
def parse(line: str) -> tuple[str, int]:
    name, value = line.split("=")
    return name, int(value)


@step.map(workers=2)
def store(events: list[tuple[str, int]]) -> int:
    time.sleep(0.005)  # a database insert, say
    return len(events)


def main() -> None:
    run = (Pipeline() | parse | batch(50, timeout=0.05) | store).start()
    paused = threading.Event()

    def produce() -> None:
        for n in range(120):  # a burst: full batches
            run.put(f"temperature={n % 30}")
        paused.wait(5)  # the feed pauses: the partial batch goes out after 50 ms
        run.put_all(f"humidity={n}" for n in range(7))
        run.finish()

    producer = threading.Thread(target=produce)
    producer.start()
    sizes: list[int] = []
    for size in run:  # the stored batch sizes, as they come
        sizes.append(size)
        if sum(sizes) == 120:
            paused.set()
    producer.join()
    print(f"stored {sum(sizes)} events in {len(sizes)} batches")
    print(f"after the burst and the pause, the last batch held {sizes[-1]} events")


if __name__ == "__main__":
    main()
