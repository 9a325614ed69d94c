"""Quickstart: a small ETL from SQLite, in batches, with paipa.

Products are read from a SQLite database, the unavailable ones dropped, the
rest grouped in batches of 2048 and "sent" (written to an outbox table that
stands in for an HTTP service), then flattened back into single products.
Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypedDict

from paipa import Pipeline, chunk, flatten, step


class Product(TypedDict):
    id: int
    name: str
    price: float
    available: bool


def create_shop(path: Path, products: int) -> None:
    """Fill a fresh database with products, every third one unavailable."""
    with sqlite3.connect(path) as db:
        db.execute("create table products (id integer, name text, price real, available int)")
        db.executemany(
            "insert into products values (?, ?, ?, ?)",
            ((i, f"product {i}", round(1 + i * 0.37 % 90, 2), i % 3 != 0) for i in range(products)),
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        shop = Path(folder) / "shop.sqlite"
        create_shop(shop, products=10_000)
        outbox = sqlite3.connect(Path(folder) / "service.sqlite")  # the receiving service
        outbox.execute("create table outbox (batch integer, product_id integer, price real)")
        batches_sent: list[int] = []

        def get_products() -> Iterator[Product]:
            """The source: every product row, streamed from the database."""
            with sqlite3.connect(shop) as db:
                query = "select id, name, price, available from products order by id"
                for id_, name, price, available in db.execute(query):
                    yield Product(id=id_, name=name, price=price, available=bool(available))

        @step
        def only_available(products: Iterable[Product]) -> Iterator[Product]:
            for product in products:
                if product["available"]:
                    yield product

        @step.map
        def send(batch: list[Product]) -> list[Product]:
            """Deliver one batch; here: one transaction into the outbox table."""
            number = len(batches_sent) + 1
            with outbox:
                outbox.executemany(
                    "insert into outbox values (?, ?, ?)",
                    ((number, product["id"], product["price"]) for product in batch),
                )
            batches_sent.append(len(batch))
            return batch

        pipeline = Pipeline(get_products) | only_available | chunk(2048) | send | flatten
        print(pipeline.explain())
        result = pipeline.run()

        rows, total = outbox.execute("select count(*), sum(price) from outbox").fetchone()
        outbox.close()
        print()
        print(f"read 10000 products, sent {result.items} available ones")
        print(f"batches sent: {len(batches_sent)} of sizes {batches_sent}")
        print(f"outbox holds {rows} rows worth {total:,.2f} in total")
        print(f"took {result.seconds:.3f} s ({result.rate:,.0f} products/s)")


if __name__ == "__main__":
    main()
