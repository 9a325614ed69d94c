"""Backends: where the workers of a step run (threads of this process, or processes).

A step with ``workers`` runs them on its backend, named or given as an object:
``backend="thread"`` (the default) or ``backend="process"``, or
``ProcessBackend(start_method="spawn")`` to choose how processes start. The
run's channels, order, retries, counts and its one cancel stay in this
process whatever the backend; only the work on a batch of items moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = ["Backend", "BackendName", "ProcessBackend", "ThreadBackend", "check_backend"]

BackendName: TypeAlias = Literal["thread", "process"]
"""The backends that can be named: ``"thread"`` and ``"process"``."""

START_METHODS = ("spawn", "forkserver", "fork")


@dataclass(frozen=True)
class Backend:
    """Where a step's workers run; see `ThreadBackend` and `ProcessBackend`."""

    @property
    def name(self) -> str:
        """The backend's name, as shown by ``explain()``."""
        raise NotImplementedError


@dataclass(frozen=True)
class ThreadBackend(Backend):
    """Run a step's workers in threads of this process (the default)."""

    @property
    def name(self) -> str:
        """``"thread"``."""
        return "thread"


@dataclass(frozen=True)
class ProcessBackend(Backend):
    """Run a step's workers in processes of their own: CPU-bound work on every core.

    `start_method` is how they start: ``"spawn"``, ``"forkserver"`` or
    ``"fork"``; by default ``"forkserver"`` where the platform has it (as
    Python 3.14 does on Linux), else ``"spawn"``. ``"fork"`` copies a process
    that runs threads, which is unsafe; it is there for code that needs it.
    """

    start_method: str | None = None

    def __post_init__(self) -> None:
        if self.start_method is None:
            return
        if self.start_method not in START_METHODS:
            raise ValueError(
                f"start_method must be one of {', '.join(START_METHODS)} or None, "
                f"got {self.start_method!r}"
            )
        available = _start_methods()
        if self.start_method not in available:
            raise ValueError(
                f"start method {self.start_method!r} is not available here; "
                f"this platform has {', '.join(available)}"
            )

    @property
    def method(self) -> str:
        """The start method that will be used."""
        if self.start_method is not None:
            return self.start_method
        return "forkserver" if "forkserver" in _start_methods() else "spawn"

    @property
    def name(self) -> str:
        """``"process"``, with its start method."""
        return f"process ({self.method})"


def _start_methods() -> list[str]:
    """Return the start methods of this platform (importing ``multiprocessing`` now)."""
    import multiprocessing

    return multiprocessing.get_all_start_methods()


_NAMED: dict[str, Backend] = {"thread": ThreadBackend(), "process": ProcessBackend()}


def check_backend(value: object) -> Backend:
    """Return the backend `value` names or is, or raise naming it."""
    if isinstance(value, Backend) and type(value) is not Backend:
        return value
    if isinstance(value, str) and value in _NAMED:
        return _NAMED[value]
    raise ValueError(
        f'backend must be "thread", "process" or a backend object such as '
        f"paipa.ProcessBackend(start_method='spawn'), got {value!r}"
    )
