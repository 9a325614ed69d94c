"""paipa 0.3's reporters, under their old import path: ``show(info)`` reporters.

`paipa.PipelineRuntimeDebugger` takes these (and any reporter written for 0.3:
an object with ``show(info)``) as well as paipa's own reporters, which get a
`paipa.Snapshot` through ``report(snapshot)``. ``info`` is a list of
``(step name, figures)``; the figures are named as in 0.3 (``count``,
``runtime``, ``throughput``, ``utime``, ``stime``, ``queries``, ``qpe``,
``rss``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["AlignedLog", "DebugReporter", "LoggingReporter", "align_pattern"]


class DebugReporter:
    """Base of paipa 0.3's reporters: subclasses write ``show(info)``."""

    def show(self, info: Sequence[tuple[str, Mapping[str, float]]]) -> None:
        """Show one report: ``[(step name, figures), ...]``, the source first."""
        raise NotImplementedError


class LoggingReporter(DebugReporter):
    """Logs each report at INFO on `logger`: a line of dashes, then a line per step.

    The layout is 0.3's (``> name: count: ... runtime: ... utime: ...``),
    aligned. `paipa.LoggingReporter` is the newer one, with items in and out
    and human units.
    """

    PATTERN = (
        "> %-s: count: %d runtime: %.2f %.2f/s utime: %.2f stime: %.2f q: %d q/e: %.2f rss: %.2f"
    )

    def __init__(self, logger: Any) -> None:
        """Log to `logger` (anything with ``info``, such as a `logging.Logger`)."""
        if not callable(getattr(logger, "info", None)):
            raise TypeError(f"LoggingReporter() takes a logger, got {logger!r}")
        self._logger = logger
        self._aligned_log = AlignedLog(logger, self.PATTERN)

    def show(self, info: Sequence[tuple[str, Mapping[str, float]]]) -> None:
        """Log the dashes, then one aligned line per step that has figures."""
        self._logger.info("-" * 20)
        for name, figures in info:
            if not figures:
                continue
            self._aligned_log.info(
                name,
                int(figures.get("count", 0)),
                figures.get("runtime", 0.0),
                figures.get("throughput", 0.0),
                figures.get("utime", 0.0),
                figures.get("stime", 0.0),
                int(figures.get("queries", 0)),
                figures.get("qpe", 0.0),
                figures.get("rss", 0.0),
            )
        self._aligned_log.flush()


_FIELD = re.compile(r"%(-?)")


def align_pattern(pattern: str, args_list: Sequence[Sequence[object]]) -> str:
    """Return `pattern` with each ``%`` field widened to the widest of its values.

    ```pycon
    >>> align_pattern("%s: %d", [("ab", 1), ("abcd", 100)])
    '%4s: %3d'
    >>> align_pattern("%-s %.2f", [("x", 3.14159), ("yy", 10.5)])
    '%-2s %5.2f'

    ```
    """
    widths = [0] * max((len(args) for args in args_list), default=0)
    for args in args_list:
        for position, arg in enumerate(args):
            if isinstance(arg, str):
                width = len(arg.strip())
            elif isinstance(arg, float):
                width = len(f"{arg:.2f}")
            elif isinstance(arg, int):
                width = len(str(arg))
            else:
                continue
            widths[position] = max(widths[position], width)
    fields = iter(widths)

    def widen(match: re.Match[str]) -> str:
        width = next(fields, 0)
        return f"%{match.group(1)}{width or ''}"

    return _FIELD.sub(widen, pattern)


class AlignedLog:
    """Gathers log lines of one pattern; `flush` logs them with aligned columns."""

    def __init__(self, logger: Any, pattern: str) -> None:
        """Log to `logger` with `pattern` (``%`` fields)."""
        self._logger = logger
        self._pattern = pattern
        self._lines: list[tuple[str, tuple[object, ...]]] = []

    def info(self, *args: object) -> None:
        """Gather a line for INFO."""
        self._lines.append(("info", args))

    def debug(self, *args: object) -> None:
        """Gather a line for DEBUG."""
        self._lines.append(("debug", args))

    def warn(self, *args: object) -> None:
        """Gather a line for WARNING."""
        self._lines.append(("warning", args))

    def flush(self) -> None:
        """Log the gathered lines, aligned, and forget them."""
        if not self._lines:
            return
        pattern = align_pattern(self._pattern, [args for _, args in self._lines])
        for level, args in self._lines:
            getattr(self._logger, level)(pattern, *args)
        self._lines.clear()
