"""The forkserver that worker processes fork from, started with paipa and the main script imported.

A forkserver child imports the program's main script before it runs (so that
functions defined there can be unpickled), unless the server it forks from
imported the script already. ``set_forkserver_preload(["__main__"])`` asks for
that, but Python 3.11 never passes the script's path to the server, so each
worker would import the script again: every import at its top, every run. Here
the path goes to the server in an environment variable set only while the
server is launched, and this module, preloaded there, imports the script once.
"""

from __future__ import annotations

import inspect
import multiprocessing.forkserver
import multiprocessing.process
import multiprocessing.spawn
import os
import threading
from types import FrameType

__all__ = ["ensure_forkserver", "import_main_in_server"]

PRELOAD = "paipa._engine._forkserver_preload"
"""The module the server imports: paipa whole, then the main script."""

MAIN_VARIABLE = "PAIPA_FORKSERVER_MAIN"
"""Set while the server is launched: ``"<parent pid>:<path of the main script>"``."""

_LAUNCHING = threading.Lock()


def ensure_forkserver() -> None:
    """Start the forkserver unless it runs; with paipa and the main script imported in it.

    A server that runs already (started by this program before) is used as it is.
    A preload list the program set itself is kept.
    """
    if getattr(multiprocessing.process.current_process(), "_inheriting", False):
        return  # a script imported by a new process starts one: ``start()`` explains why not
    forkserver = multiprocessing.forkserver
    with _LAUNCHING:
        # Keep a preload list the program set (the server object itself is private).
        server = getattr(forkserver, "_forkserver", None)
        wanted: list[str] = list(getattr(server, "_preload_modules", None) or ())
        if PRELOAD not in wanted:
            wanted.append(PRELOAD)
        forkserver.set_forkserver_preload(wanted)
        path = multiprocessing.spawn.get_preparation_data("paipa").get("init_main_from_path")
        if path is None:  # ``python -c``, ``python -m``, a REPL: the children do as before
            forkserver.ensure_running()
            return
        os.environ[MAIN_VARIABLE] = f"{os.getpid()}:{path}"
        try:
            forkserver.ensure_running()
        finally:
            os.environ.pop(MAIN_VARIABLE, None)


def _in_forkserver() -> bool:
    """Whether this process is a forkserver, importing its preload list now."""
    main = multiprocessing.forkserver.main.__code__
    frame: FrameType | None = inspect.currentframe()
    while frame is not None:
        if frame.f_code is main:
            return True
        frame = frame.f_back
    return False


def import_main_in_server() -> None:
    """In a forkserver launched by `ensure_forkserver`: import the parent's main script."""
    value = os.environ.pop(MAIN_VARIABLE, None)
    if value is None:
        return
    parent, _, path = value.partition(":")
    if parent != str(os.getppid()) or not _in_forkserver():
        return
    current = multiprocessing.process.current_process()
    # As the forkserver does it for "__main__": a process started now would be refused.
    current._inheriting = True  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
    try:
        multiprocessing.spawn.import_main_path(path)
    except BaseException:
        # Each worker then imports the script itself and reports what fails there.
        pass
    finally:
        del current._inheriting  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
