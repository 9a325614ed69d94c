"""paipa 0.3's iterator helpers, under their old import path.

`chunk`, `flatten` and `consume` are paipa's own (``paipa.chunk`` and so on);
`recursive_flatten` and `is_iterable` are kept for code written for paipa 0.3.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ._ops import chunk, consume, flatten

__all__ = ["chunk", "consume", "flatten", "is_iterable", "recursive_flatten"]


def is_iterable(value: object) -> bool:
    """Whether ``iter(value)`` works (strings are iterable too).

    ```pycon
    >>> is_iterable([]), is_iterable("text"), is_iterable(3)
    (True, True, False)

    ```
    """
    try:
        iter(value)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue,reportArgumentType]
    except TypeError:
        return False
    return True


def recursive_flatten(elements: Iterable[Any]) -> Iterator[Any]:
    """Yield the items of `elements`, and of nested iterables at any depth (not strings).

    ```pycon
    >>> list(recursive_flatten([1, [2, [3, (4,)]], "ab"]))
    [1, 2, 3, 4, 'ab']

    ```
    """
    for element in elements:
        if is_iterable(element) and not isinstance(element, (str, bytes)):
            yield from recursive_flatten(element)
        else:
            yield element
