"""`scope`: `contextlib.contextmanager` for the run's own blocks, safe for every exception.

``contextlib`` restores a propagating exception's traceback by assigning
``exc.__traceback__``, which fails with ``FrozenInstanceError`` for an
exception that is a frozen dataclass: the user's exception would reach the
caller as a different one. The blocks a run's errors travel through use this
instead; it sets the attribute through ``object.__setattr__``, which such an
exception cannot refuse.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Generic, ParamSpec, TypeVar

__all__ = ["scope"]

P = ParamSpec("P")
T = TypeVar("T")


class _Scope(AbstractContextManager[T], Generic[T]):
    __slots__ = ("_generator",)

    def __init__(self, generator: Generator[T, None, None]) -> None:
        self._generator = generator

    def __enter__(self) -> T:
        return next(self._generator)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if error is None:
            try:
                next(self._generator)
            except StopIteration:
                return False
            raise RuntimeError("a paipa scope's generator did not stop")
        try:
            self._generator.throw(error)
        except StopIteration as stopped:
            return stopped is not error  # swallowed by the generator, or raised as given
        except RuntimeError as failure:
            # PEP 479: a StopIteration thrown in comes back as a RuntimeError.
            if failure is error or (
                isinstance(error, StopIteration) and failure.__cause__ is error
            ):
                object.__setattr__(error, "__traceback__", traceback)
                return False
            raise
        except BaseException as failure:
            if failure is not error:
                raise
            object.__setattr__(error, "__traceback__", traceback)
            return False
        raise RuntimeError("a paipa scope's generator did not stop after an exception")


def scope(function: Callable[P, Generator[T, None, None]]) -> Callable[P, _Scope[T]]:
    """Turn a one-yield generator function into a context manager, like `contextmanager`."""

    @functools.wraps(function)
    def open_scope(*args: P.args, **kwargs: P.kwargs) -> _Scope[T]:
        return _Scope(function(*args, **kwargs))

    return open_scope
