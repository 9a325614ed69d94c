"""paipa 0.3's coroutine module, under its old import path.

`combine_pipeline` and `identity_step` are paipa's own; `PipelineStep`,
`defer_call` and `entry_counter` are kept for code written for paipa 0.3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._compat import combine_pipeline
from ._ops import identity_step
from .counter import Counter

__all__ = ["PipelineStep", "combine_pipeline", "defer_call", "entry_counter", "identity_step"]


class PipelineStep:
    """A step object: ``process(iterator)`` returns the step's output; calling it does too."""

    def process(self, iterator: Iterable[Any]) -> Iterable[Any]:
        """Return the output for `iterator`; by default `iterator` itself."""
        return iterator

    def __call__(self, iterator: Iterable[Any]) -> Iterable[Any]:
        """Return ``process(iterator)``."""
        return self.process(iterator)


def entry_counter(iterator: Iterable[Any]) -> Iterator[Any]:
    """Yield the items of `iterator`, counting them (``products``) with a `Counter`."""
    counter = Counter(show_every=1)
    counter.init("products")
    for entry in iterator:
        counter.count("products")
        yield entry
    counter.show()


def defer_call(
    step_function: Callable[[Any], Any],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn `step_function` into a wrapper of iterator factories.

    ``defer_call(step)(factory)(*args)`` is ``step(factory(*args))``.
    """

    def wrapper(iterator_factory: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(iterator_factory)
        def wrap(*args: Any, **kwargs: Any) -> Any:
            return step_function(iterator_factory(*args, **kwargs))

        return wrap

    return wrapper
