"""The examples run as scripts, and say what they did."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart() -> None:
    output = run_example("quickstart.py")
    assert "3.  send            map       fused loop A" in output
    assert "read 10000 products, sent 6666 available ones" in output
    assert "batches sent: 4 of sizes [2048, 2048, 2048, 522]" in output
    assert re.search(r"outbox holds 6666 rows worth [\d,]+\.\d\d in total", output)


def test_readme_example() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks, "the README shows a Python example"
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sending 2048 products",
        "sending 2048 products",
        "sending 2048 products",
        "sending 522 products",
        "6666 products sent",
    ]


def test_download() -> None:
    output = run_example("download.py").splitlines()
    assert re.fullmatch(
        r"1 worker : 40 files, 40,780 bytes, all checksums OK, in [\d.]+ s", output[0]
    )
    assert re.fullmatch(
        r"8 workers: 40 files, 40,780 bytes, all checksums OK, in [\d.]+ s", output[1]
    )


def test_files() -> None:
    assert run_example("files.py").splitlines() == [
        "read 3 files, wrote 115 orders to orders.jsonl",
        "customers: 7",
        "total: 3,774.75",
    ]


def test_live_feed() -> None:
    first, last = run_example("live_feed.py").splitlines()
    # 4 batches normally (50, 50, then 20 after the pause, then 7); a stall of the
    # producer thread on a busy machine may cut the burst into more.
    assert re.fullmatch(r"stored 127 events in \d+ batches", first)
    assert int(first.split()[-2]) >= 4
    assert last == "after the burst and the pause, the last batch held 7 events"


def test_debugging() -> None:
    output = run_example("debugging.py")
    assert "paipa.debugger: --------------------" in output
    assert re.search(r"paipa.debugger: > enrich +: in: +400 out: +400 runtime: +[\d.]+ m?s", output)
    assert "q: 400 q/e: 1.00" in output
    assert re.search(r"\d+ reports; the last one is final: True", output)
    assert re.search(r"slowest step: enrich \([\d.]+ s over 4 workers\)", output)
    assert "queries: 400, 1.00 per record" in output
