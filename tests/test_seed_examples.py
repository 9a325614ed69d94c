"""Every example of the seed document (seed-coroutine-pipeline.rst), run under Python 3.

The examples are kept as the seed wrote them, with Python 3 spellings
(``print()``, ``range``) and the hypothetical parts (a database, a network
service, configuration) replaced by small real stand-ins.
"""

import sqlite3
from collections.abc import Iterator

import pytest

import paipa
from paipa import flatten


def test_what_is_it_nested_generators() -> None:
    def a(iterator: Iterator[str]) -> Iterator[str]:
        for entry in iterator:
            yield "Hel" + entry

    def b(iterator: Iterator[str]) -> Iterator[str]:
        for entry in iterator:
            yield "lo " + entry

    assert next(a(b(iter(["World!"])))) == "Hello World!"
    # The same chain through paipa: the step applied first is listed first.
    assert list(paipa.combine_pipeline(["World!"], [b, a])) == ["Hello World!"]


def test_simple_example(capsys: pytest.CaptureFixture[str]) -> None:
    def remove_odd(iterable):  # type: ignore[no-untyped-def]
        for entry in iterable:
            if entry % 2 == 0:
                yield entry

    # Arbitrary many steps supported
    steps = [
        remove_odd,
    ]
    gen = paipa.combine_pipeline(range(100), steps)
    print(sum(gen))  # will print 2450
    assert capsys.readouterr().out == "2450\n"


def test_more_involved_example() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("create table products (id integer, available integer)")
    db.executemany("insert into products values (?, ?)", [(i, i % 3 != 0) for i in range(10_000)])
    db.row_factory = sqlite3.Row
    sent: list[tuple[str, int]] = []

    def get_config() -> dict[str, str]:
        return {"url": "http://127.0.0.1:9/products"}

    def send_chunk(url: str, chunk: list[sqlite3.Row]) -> None:
        sent.append((url, len(chunk)))

    def only_available(products):  # type: ignore[no-untyped-def]
        for product in products:
            if not product["available"]:
                continue
            yield product

    def send_in_batch(chunks):  # type: ignore[no-untyped-def]
        url = get_config()["url"]  # some hypothetical config
        for chunk in chunks:
            send_chunk(url, chunk)  # To some microservice perhaps? We're hip!
            yield chunk

    def get_products():  # type: ignore[no-untyped-def]
        return db.execute("select * from products")

    steps = [
        only_available,
        paipa.chunk(2048),
        send_in_batch,  # the seed calls it store_in_batch once; it is this function
        flatten,  # flatten it out again for subsequent steps perhaps.
    ]

    pipeline = paipa.combine_pipeline(get_products(), steps)
    paipa.consume(pipeline)

    available = sum(1 for i in range(10_000) if i % 3 != 0)
    assert [size for _, size in sent] == [2048, 2048, 2048, available - 3 * 2048]
    assert {url for url, _ in sent} == {"http://127.0.0.1:9/products"}


def test_callable_source_gives_a_callable_pipeline() -> None:
    def numbers(start: int, stop: int) -> range:
        return range(start, stop)

    run = paipa.combine_pipeline(numbers, [paipa.identity_step, paipa.chunk(2)])
    assert list(run(0, 5)) == [[0, 1], [2, 3], [4]]
    assert list(run(stop=2, start=1)) == [[1]]


def test_consume_advances_by_n() -> None:
    numbers = iter(range(10))
    paipa.consume(numbers, 4)
    assert next(numbers) == 4
    paipa.consume(numbers)
    assert list(numbers) == []


def test_debugging_example(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import time

    logging.basicConfig()
    caplog.set_level(logging.INFO, logger="paipa.debugger")

    def cast(_type):  # type: ignore[no-untyped-def]
        def caster(iterator):  # type: ignore[no-untyped-def]
            for entry in iterator:
                yield _type(entry)

        return caster

    def flip(iterator):  # type: ignore[no-untyped-def]
        for entry in iterator:
            yield entry[::-1]

    def flap(iterator):  # type: ignore[no-untyped-def]
        for entry in iterator:
            time.sleep(0.001)
            yield [entry]

    def flatten(iterator):  # type: ignore[no-untyped-def]
        for entry in iterator:
            yield entry[0]

    steps = [cast(str), flip, flap, flatten]

    # The seed runs range(10000, 19999); 300 items keep the test short.
    pipeline = paipa.combine_pipeline(
        range(10000, 10300), steps, debugger=paipa.PipelineRuntimeDebugger()
    )
    paipa.consume(pipeline)

    records = [r for r in caplog.records if r.name == "paipa.debugger"]
    assert {record.levelname for record in records} == {"INFO"}
    lines = [record.getMessage() for record in records]
    final = lines[-6:]  # the final report: a separator, then one line per step, source first
    assert final[0] == "-" * 20
    names = [line.split(":")[0] for line in final[1:]]
    assert names == ["> range  ", "> caster ", "> flip   ", "> flap   ", "> flatten"]
    fields = [dict(_fields(line)) for line in final[1:]]
    assert [f["out"] for f in fields] == ["300"] * 5
    assert [f["in"] for f in fields] == ["-", "300", "300", "300", "300"]
    assert _seconds(fields[3]["runtime"]) > 0.25  # the sleep in flap stands out plainly
    assert all(_seconds(f["runtime"]) < 0.05 for i, f in enumerate(fields) if i != 3)
    for column in (" out:", " runtime:", "/s ", " utime:", " rss:"):
        assert len({line.index(column) for line in final[1:]}) == 1, column  # aligned


def _seconds(duration: str) -> float:
    number, unit = duration.split()
    return float(number) / (1000 if unit == "ms" else 1)


def _fields(line: str) -> list[tuple[str, str]]:
    words = line.split(": ", 1)[1].split()
    pairs = []
    for index, word in enumerate(words):
        if word.endswith(":"):
            value = words[index + 1]
            if index + 2 < len(words) and words[index + 2] in ("ms", "s", "MiB"):
                value += " " + words[index + 2]
            pairs.append((word[:-1], value))
    return pairs
