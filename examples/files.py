"""File processing: a folder of CSV and JSON-lines files, normalised into one JSON-lines file.

The example writes a few input files to a temporary folder (orders from two
systems in two formats), then reads every file, turns each row into one
normalised order, drops the cancelled ones, and writes the rest, in batches,
to ``orders.jsonl``. Run it with ``python examples/files.py``.
"""

from __future__ import annotations

import csv
import functools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

from paipa import Pipeline, Processor, chunk, step


class Order(TypedDict):
    id: str
    customer: str
    cents: int
    status: str


def write_inputs(folder: Path) -> None:
    """Create the example's input: two CSV exports and one JSON-lines export."""
    for part in (1, 2):
        with (folder / f"shop-{part}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["order", "customer", "amount", "state"])
            for n in range(50):
                state = "cancelled" if n % 10 == 0 else "paid"
                writer.writerow([f"S{part}-{n}", f"c{n % 7}", f"{n * 1.5 + 0.25:.2f}", state])
    with (folder / "app.jsonl").open("w") as file:
        for n in range(30):
            status = "CANCELLED" if n % 6 == 0 else "PAID"
            record = {"orderId": f"A-{n}", "user": f"c{n % 5}", "totalCents": 100 * n + 9}
            file.write(json.dumps({**record, "status": status}) + "\n")


@step.flat_map
def read_rows(path: Path) -> Iterator[Order]:
    """Read one file; CSV and JSON lines have different columns: normalise them."""
    if path.suffix == ".csv":
        with path.open(newline="") as file:
            for row in csv.DictReader(file):
                cents = round(float(row["amount"]) * 100)
                yield Order(
                    id=row["order"], customer=row["customer"], cents=cents, status=row["state"]
                )
    else:
        with path.open() as file:
            for line in file:
                record = json.loads(line)
                yield Order(
                    id=record["orderId"],
                    customer=record["user"],
                    cents=record["totalCents"],
                    status=record["status"].lower(),
                )


@step.filter
def not_cancelled(order: Order) -> bool:
    return order["status"] != "cancelled"


class WriteJsonLines(Processor[list[Order], int]):
    """Append batches of orders to one output file; opened once, closed at the end."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def setup(self) -> None:
        self.file = self.target.open("w")

    def process(self, item: list[Order]) -> int:
        self.file.writelines(json.dumps(order) + "\n" for order in item)
        return len(item)

    def teardown(self) -> None:
        self.file.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_inputs(folder)
        output = folder / "orders.jsonl"
        inputs = sorted(folder.glob("*.csv")) + sorted(folder.glob("*.jsonl"))
        pipeline = (
            Pipeline(inputs)
            | read_rows
            | not_cancelled
            | chunk(25)
            | functools.partial(WriteJsonLines, output)
        )
        written = sum(pipeline.collect())
        orders = [json.loads(line) for line in output.read_text().splitlines()]
        print(f"read {len(inputs)} files, wrote {written} orders to orders.jsonl")
        print(f"customers: {len({order['customer'] for order in orders})}")
        print(f"total: {sum(order['cents'] for order in orders) / 100:,.2f}")


if __name__ == "__main__":
    main()
