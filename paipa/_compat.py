"""The seed library's coroutine API: ``combine_pipeline`` over lists of steps."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, overload

from ._checks import is_iterable
from ._debug._debugger import PipelineRuntimeDebugger
from ._pipeline import Pipeline, to_steps

__all__ = ["combine_pipeline"]


@overload
def combine_pipeline(
    source: Iterable[Any], steps: Iterable[Any], debugger: PipelineRuntimeDebugger | None = None
) -> Iterator[Any]: ...
@overload
def combine_pipeline(
    source: Callable[..., Iterable[Any]],
    steps: Iterable[Any],
    debugger: PipelineRuntimeDebugger | None = None,
) -> Callable[..., Iterator[Any]]: ...
def combine_pipeline(
    source: Iterable[Any] | Callable[..., Iterable[Any]],
    steps: Iterable[Any],
    debugger: PipelineRuntimeDebugger | None = None,
) -> Iterator[Any] | Callable[..., Iterator[Any]]:
    """Nest `steps` around `source` and return the resulting iterator.

    `steps` is a list (nested lists are flattened) of functions taking an
    iterator, objects with a ``process(iterator)`` method, or any other step
    `Pipeline` accepts. When `source` is a callable rather than an iterable,
    the result is a function: its arguments are passed to `source`, and it
    returns the iterator of a fresh run.

    ```pycon
    >>> import paipa
    >>> def remove_odd(numbers):
    ...     return (n for n in numbers if n % 2 == 0)
    >>> sum(paipa.combine_pipeline(range(100), [remove_odd]))
    2450

    ```
    """
    if not is_iterable(steps) or isinstance(steps, (str, bytes)):
        raise TypeError(f"combine_pipeline() takes a list of steps, got {steps!r}")
    members = to_steps(list(steps))
    if is_iterable(source):
        pipeline = Pipeline(source) | members
        if debugger is not None:
            pipeline = pipeline.debug_with(debugger)
        return iter(pipeline)
    if not callable(source):
        raise TypeError(
            f"combine_pipeline() needs an iterable or a callable source, got {source!r}"
        )
    produce = source

    def run_pipeline(*args: Any, **kwargs: Any) -> Iterator[Any]:
        return combine_pipeline(produce(*args, **kwargs), members, debugger)

    return run_pipeline
