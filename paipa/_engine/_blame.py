"""Say which step an exception came from, without adding work per item.

Each run registers the frames of the generators it creates: a step's own
generator, the loop that runs fused item steps (by line), or a thin guard
around an iterator that has no Python frame of its own. When an exception
reaches the caller, the innermost registered frame in its traceback is the
step it came from; a note naming that step is added to the exception, which
is otherwise left as it was raised.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any, cast

__all__ = [
    "RAISED_IN",
    "Blame",
    "Site",
    "add_note",
    "describe",
    "guard",
    "log_unraisable",
    "note",
]

RAISED_IN = "paipa: raised in "
"""How every note that names where an exception came from begins."""


@dataclass(frozen=True, slots=True)
class Site:
    """Where in a pipeline something ran: a step (by position) or the source."""

    name: str
    position: int
    """Position of the step in the pipeline, from 1; 0 for the source."""
    total: int
    kind: str = "source"
    phase: str | None = None
    """``"setup"`` or ``"teardown"`` for a `Processor`'s hooks."""
    worker: tuple[int, int] | None = None
    """(worker, workers), counting from 1, for a threaded stage."""
    item: int | None = None
    """Position (from 0) of the failing item in the stage's input, where known."""

    def at_phase(self, phase: str | None) -> Site:
        """Return this site during the given processor hook."""
        return self if phase == self.phase else replace(self, phase=phase)

    def describe(self) -> str:
        """Return the text of the note added to exceptions raised here."""
        if self.position == 0:
            return f"{RAISED_IN}the source {self.name!r}"
        during = f"{self.phase}() of " if self.phase else ""
        where = (
            f"{RAISED_IN}{during}step {self.name!r} ({self.position} of {self.total}, {self.kind})"
        )
        if self.worker is not None:
            where += f", worker {self.worker[0]} of {self.worker[1]}"
        if self.item is not None:
            where += f", on input item #{self.item}"
        return where


def has_note(error: BaseException) -> bool:
    """Tell whether a paipa note already names where `error` came from."""
    notes: object = getattr(error, "__notes__", ())
    if not isinstance(notes, (list, tuple)):
        return False
    texts = cast("list[object] | tuple[object, ...]", notes)
    return any(isinstance(text, str) and text.startswith(RAISED_IN) for text in texts)


def add_note(error: BaseException, site: Site) -> None:
    """Add the note naming `site` to `error`, unless one is already there."""
    if not has_note(error):
        note(error, site.describe())


def note(error: BaseException, text: str) -> None:
    """Add the note `text` to `error` if it accepts notes; leave it untouched otherwise."""
    with contextlib.suppress(Exception):  # a frozen exception, or __notes__ not a list
        error.add_note(text)


def describe(error: BaseException) -> str:
    """Return ``repr(error)``, or a stand-in naming its type if that repr fails."""
    try:
        return repr(error)
    except Exception:
        return f"<{type(error).__qualname__} (its repr() failed)>"


logger = logging.getLogger("paipa")


def log_unraisable(error: BaseException) -> None:
    """Log an error that has nobody to reach: it came after the consumer stopped."""
    logger.error(
        "paipa: %r was raised after the consumer had stopped reading; it cannot be "
        "raised to it, so it is logged here",
        error,
        exc_info=(type(error), error, error.__traceback__),
    )


def guard(iterator: Iterator[Any]) -> Iterator[Any]:
    """Pass items through in a frame of our own, so that errors can be placed."""
    yield from iterator


class Blame:
    """The registered frames of one run, and the sites they stand for."""

    __slots__ = ("_frames", "_worker")

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._frames: dict[FrameType, Site | Mapping[int, Site]] = {}
        self._worker = worker

    def register(self, iterator: Iterator[Any], where: Site | Mapping[int, Site]) -> None:
        """Record that the generator `iterator` runs `where` (a site, or sites by line)."""
        frame: FrameType | None = getattr(iterator, "gi_frame", None)
        if frame is not None and frame not in self._frames:
            self._frames[frame] = where

    def site_at(self, frame: FrameType) -> Site | None:
        """Return the site a live `frame` is running now, if it is one of this run's."""
        where = self._frames.get(frame)
        if where is None or isinstance(where, Site):
            return where
        return where.get(frame.f_lineno)

    def site_of(self, error: BaseException) -> Site | None:
        """Return the site of the innermost registered frame in the traceback."""
        found = None
        traceback = error.__traceback__
        while traceback is not None:
            where = self._frames.get(traceback.tb_frame)
            if isinstance(where, Site):
                found = where
            elif where is not None:
                found = where.get(traceback.tb_lineno, found)
            traceback = traceback.tb_next
        cause = error.__cause__
        if isinstance(cause, StopIteration):
            # PEP 479: a StopIteration leaving a generator became this RuntimeError;
            # the step it came from is in the StopIteration's own traceback.
            return self.site_of(cause) or found
        return found

    def annotate(self, error: BaseException, fallback: Site | None = None) -> None:
        """Add a note naming the step `error` came from (or `fallback`)."""
        site = self.site_of(error) or fallback
        if site is not None:
            if self._worker is not None and site.position:
                site = replace(site, worker=self._worker)
            add_note(error, site)
