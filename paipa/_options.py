"""Step options: their names and types in one place, and their checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, cast

from ._backends import Backend, BackendName, check_backend
from ._checks import positive_int, seconds

__all__ = ["ErrorPolicy", "StepOptions", "check_options"]

ErrorPolicy: TypeAlias = Literal["raise", "skip"] | Callable[[Any, Exception], object]
"""What an item step does with an item whose processing failed (after retries):
``"raise"`` fails the run, ``"skip"`` drops the item, a callable ``(item, error)``
receives it (a dead-letter hook) and the item is dropped."""


class StepOptions(TypedDict, total=False):
    """The keyword options of the ``step`` decorators and `Step.with_options`."""

    name: str
    """The name shown by ``explain()``, in error notes and by the debugger."""
    workers: int | None
    """Run the step in this many threads of its own; None runs it inline. An item step
    spreads its items over the workers; an iterator step runs one generator per worker
    over the shared input, so any state in the generator is per worker."""
    ordered: bool
    """With several workers, keep the input order (the default) or yield as ready."""
    queue_size: int | None
    """Threaded steps: items the channel in front of the step holds (default 1024); the
    last threaded step's also sets the channel after it. Lower it for big items: with
    several MB per item, a handful is plenty."""
    retries: int
    """Item steps: try a failing item again up to this many times."""
    retry_on: type[Exception] | tuple[type[Exception], ...]
    """Item steps: the exceptions that are retried (default: any ``Exception``)."""
    backoff: float
    """Item steps: seconds before the first retry, doubling for each further one."""
    on_error: ErrorPolicy
    """Item steps: what to do with an item that still fails, see `ErrorPolicy`."""
    backend: BackendName | Backend
    """Where the ``workers`` run: ``"thread"`` (the default) or ``"process"`` (a process
    per worker, for CPU-bound work), or a backend object such as
    ``ProcessBackend(start_method="spawn")``."""


if TYPE_CHECKING:  # annotations only: not built at run time (import time)

    class IteratorStepOptions(TypedDict, total=False):
        """The options of `StepOptions` that iterator steps take too (not retries, on_error)."""

        name: str
        workers: int | None
        ordered: bool
        queue_size: int | None
        backend: BackendName | Backend


ITEM_ONLY = ("retries", "retry_on", "backoff", "on_error")


def _check_retry_on(value: object) -> tuple[type[Exception], ...]:
    classes: tuple[object, ...] = value if isinstance(value, tuple) else (value,)  # pyright: ignore[reportUnknownVariableType]
    checked: list[type[Exception]] = []
    for entry in classes:
        if not (isinstance(entry, type) and issubclass(entry, Exception)):
            raise TypeError(
                f"retry_on must be an exception class or a tuple of them, got {value!r}"
            )
        checked.append(entry)
    if not checked:
        raise ValueError("retry_on must name at least one exception class, got ()")
    return tuple(checked)


def _check_on_error(value: object) -> object:
    if value in ("raise", "skip") or callable(value):
        return value
    raise TypeError(f'on_error must be "raise", "skip" or a callable (item, error), got {value!r}')


def _check_name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"step name must be a non-empty str, got {value!r}")
    return value


def _check_ordered(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"ordered must be True or False, got {value!r}")
    return value


def _optional_positive(what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        return None if value is None else positive_int(value, what)

    return check


_CHECKS: dict[str, Callable[[object], object]] = {
    "name": _check_name,
    "workers": _optional_positive("workers"),
    "ordered": _check_ordered,
    "queue_size": _optional_positive("queue_size"),
    "retries": lambda value: positive_int(value, "retries", minimum=0),
    "retry_on": _check_retry_on,
    "backoff": lambda value: seconds(value, "backoff"),
    "on_error": _check_on_error,
    "backend": check_backend,
}


def check_options(options: Mapping[str, object], kind: str | None = None) -> StepOptions:
    """Return `options` checked (and normalised), or raise naming the bad one.

    With a `kind`, refuse error-handling options on iterator steps, which have
    no single item to retry or skip.
    """
    checked: dict[str, Any] = {}
    for key, value in options.items():
        check = _CHECKS.get(key)
        if check is None:
            raise TypeError(f"unknown step option {key!r}; the options are {', '.join(_CHECKS)}")
        checked[key] = check(value)
    if kind == "iterator":
        misplaced = [key for key in ITEM_ONLY if key in checked]
        if misplaced:
            raise TypeError(
                f"{', '.join(misplaced)} apply to item steps (map, filter, flat_map, process); "
                "an iterator step has no single item to retry or skip"
            )
    return cast("StepOptions", checked)
