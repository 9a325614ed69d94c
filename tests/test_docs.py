"""Every Python code block in docs/ and README.md runs, so the docs cannot rot.

The blocks of one file run in order in one namespace, as a reader would type
them. A block right after a ``<!-- no-run -->`` line is skipped.
"""

import io
import re
import socket
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
BLOCK = re.compile(r"(<!-- no-run -->\n)?```python\n(.*?)```", re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    return [code for skip, code in BLOCK.findall(page.read_text()) if not skip]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_code_blocks_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    output = io.StringIO()
    with redirect_stdout(output):
        for code in python_blocks(page):
            exec(compile(code, str(page), "exec"), namespace)


def test_every_page_with_code_has_runnable_blocks() -> None:
    assert python_blocks(ROOT / "docs" / "debugging.md")
    assert python_blocks(ROOT / "README.md")


@pytest.mark.timeout(20)
def test_the_statsd_reporter_of_the_docs_sends_gauges() -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    blocks = python_blocks(ROOT / "docs" / "debugging.md")
    reporter_block = next(code for code in blocks if "class StatsdReporter" in code)
    exec(reporter_block, namespace)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        agent.settimeout(10)
        reporter_class = namespace["StatsdReporter"]
        assert callable(reporter_class)
        reporter = reporter_class(port=agent.getsockname()[1], prefix="test")
        from paipa import Pipeline

        (Pipeline(range(7)) | sorted).debug(reporters=[reporter], interval=10).run()
        reporter.socket.close()  # type: ignore[attr-defined]
        packets = []
        while len(packets) < 2:  # the final report: one datagram per step (source, sorted)
            packets.append(agent.recv(4096).decode())
    assert packets[0].splitlines() == ["test.range.items:7|g", packets[0].splitlines()[1]]
    assert packets[1].startswith("test.sorted.items:7|g\ntest.sorted.seconds:")
