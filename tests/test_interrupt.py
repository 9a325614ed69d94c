"""Ctrl-C (SIGINT) in a process running a threaded pipeline: cancelled, joined, re-raised."""

import subprocess
import sys
import textwrap

import pytest
from interrupts import interrupt

CHILD = textwrap.dedent(
    """
    import itertools, threading
    from paipa import Pipeline, step

    @step.map(workers=4)
    def work(x):
        return x * 2

    try:
        for index, _ in enumerate(Pipeline(itertools.count()) | work | step.map(str)):
            if index == 10_000:
                print("flowing", flush=True)
    except KeyboardInterrupt:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("paipa")]
        print("interrupted; paipa threads alive:", alive, flush=True)
        raise
    """
)


@pytest.mark.timeout(60)
def test_sigint_cancels_joins_and_reraises() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "flowing\n"
        stdout, stderr = interrupt(child)  # it must be out within 2 s
    finally:
        child.kill()
        child.wait()
    assert "interrupted; paipa threads alive: []" in stdout
    assert child.returncode != 0
    # The last lines: the exception, then possibly the note naming the step Ctrl-C hit.
    assert "KeyboardInterrupt" in stderr.splitlines()[-2:]
    assert "Exception in thread" not in stderr
