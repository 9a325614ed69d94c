"""Send Ctrl-C (SIGINT) to a child process and collect its output, allowing for CPython.

CPython loses a KeyboardInterrupt that its signal handler raises inside a
weakref callback or a ``__del__`` run by the garbage collector: it prints
"Exception ignored in ..." and the program goes on as if nothing happened.
No library can catch that. A child still running after the first SIGINT gets
a second one, and that is accepted only if its stderr shows the lost one.
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

LOST = re.compile(
    r"Exception ignored in[^\n]*\n(?:[ \t][^\n]*\n|Traceback[^\n]*\n|\n)*KeyboardInterrupt"
)


def interrupt(child: subprocess.Popen[str], within: float = 2.0) -> tuple[str, str]:
    """Interrupt `child`; return its stdout and stderr once it has ended within `within` s."""
    child.send_signal(signal.SIGINT)
    try:
        return child.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        pass
    child.send_signal(signal.SIGINT)
    try:
        stdout, stderr = child.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        child.kill()
        stdout, stderr = child.communicate()
        pytest.fail(f"still running after two SIGINTs\n{stdout}\n{stderr[-3000:]}")
    if not LOST.search(stderr):
        pytest.fail(f"still running {within} s after SIGINT\n{stdout}\n{stderr[-3000:]}")
    return stdout, stderr
