"""Checks of user-given values, raising errors that name the bad value."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeGuard

__all__ = ["instance_of", "is_iterable", "positive_int", "seconds"]


def positive_int(value: object, what: str, minimum: int = 1) -> int:
    """Return `value` if it is an int (not a bool) of at least `minimum`, else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value!r}")
    return value


def is_iterable(value: object) -> TypeGuard[Iterable[Any]]:
    """Tell whether `value` is an iterable (but not a class, which is merely callable)."""
    return isinstance(value, Iterable) and not isinstance(value, type)


def seconds(value: object, what: str, *, allow_zero: bool = True) -> float:
    """Return `value` as a finite number of seconds (> 0 unless `allow_zero`), else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def instance_of(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Raise `TypeError` naming `value` unless it is a `kind` (bools are not ints here)."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise TypeError(f"{what}, got {value!r}")
    if not isinstance(value, kind):
        raise TypeError(f"{what}, got {value!r}")
