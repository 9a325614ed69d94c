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
