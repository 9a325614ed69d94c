"""paipa 0.3's Tornado glue: handlers feed the pipeline; SIGTERM stops server and pipeline."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("tornado")

SCRIPT = textwrap.dedent(
    """
    import logging
    import sys
    import tornado.web
    from paipa import glue, threaded

    class Feed(tornado.web.RequestHandler):
        def get(self, item):
            application.in_queue.put(item)
            self.write("queued")

    def record(items):
        for item in items:
            if item == "boom":
                raise ValueError("bad item")
            print("stored", item, flush=True)
            yield item

    application = glue.PipelineApplication(
        [(r"/(\\w+)", Feed)], pipeline=[(threaded.iterstep(record), 2)]
    )
    logging.basicConfig(level=logging.INFO)
    application.start(port=int(sys.argv[1]))
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    for line in child.stderr:  # the glue logs when the server listens
        if "listening on port" in line:
            return child, port
    raise AssertionError(f"the server did not start: {child.communicate()}")


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as reply:
        return str(reply.read().decode())


@pytest.mark.timeout(60)
def test_handlers_feed_the_pipeline_and_sigterm_finishes_it(tmp_path: Path) -> None:
    child, port = serve(tmp_path)
    try:
        assert get(port, "/one") == "queued"
        assert get(port, "/two") == "queued"
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert sorted(stdout.split("\n")[:-1]) == ["stored one", "stored two"], stderr
    assert child.returncode == 0, stderr


@pytest.mark.timeout(60)
def test_a_failing_pipeline_stops_the_server_and_exits_with_status_1(tmp_path: Path) -> None:
    child, port = serve(tmp_path)
    try:
        assert get(port, "/boom") == "queued"  # the failure alone stops the server
        _, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 1, stderr
    assert "ValueError: bad item" in stderr
