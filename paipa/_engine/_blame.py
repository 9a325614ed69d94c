"""Say which step an exception came from, without adding work per item.

Each run registers the frames of the generators it creates: a step's own
generator, or the loop that runs fused item steps (by line). When an
exception reaches the caller, the innermost registered frame in its traceback
is the step it came from; a note naming that step is added to the exception,
which is otherwise left as it was raised.

An iterator without a Python frame of its own (a builtin ``map``, toolz's
``map``, ``itertools.islice``) is not wrapped: the run records which Python
functions it calls (`Frameless`). When the innermost registered frame was
pulling items from such iterators (a ``for`` or ``yield from``), the frame it
called next in the traceback tells which of them raised. Only an iterator
whose callees cannot be told by their frames (a builtin such as ``int``)
gets a thin guard: a generator of ours, one frame resume per item.
"""

from __future__ import annotations

import contextlib
import dis
import functools
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import CodeType, FrameType, FunctionType, GeneratorType, MethodType, TracebackType
from typing import Any, Literal, cast

__all__ = [
    "RAISED_IN",
    "Blame",
    "Frameless",
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


_PULLING = frozenset({dis.opmap["FOR_ITER"], dis.opmap["SEND"]})
"""Opcodes of a frame taking the next item of an iterator: ``for`` and ``yield from``."""

Callee = tuple[CodeType, object]
"""The code a frameless iterator runs, and the object bound to its first argument (or None)."""


def _callees_of(value: object) -> list[Callee] | None:
    """Return the Python code that calling `value` starts, or None if it has none."""
    if isinstance(value, FunctionType):
        return [(value.__code__, None)]
    if isinstance(value, MethodType):
        function = value.__func__
        if isinstance(function, FunctionType):
            return [(function.__code__, value.__self__)]
        return None
    if isinstance(value, functools.partial):
        inner: object = value.func
        return _callees_of(inner)
    if isinstance(value, type):
        return None  # a class: calling it runs type.__call__, which has no frame
    for kind in type(value).__mro__:  # the __call__ of its class, if written in Python
        call = kind.__dict__.get("__call__")
        if call is not None:
            return [(call.__code__, value)] if isinstance(call, FunctionType) else None
    return None


def _callees(iterator: Iterator[Any], upstream: Iterator[Any] | None) -> list[Callee] | None:
    """Return the Python code `iterator` calls per item; None if some of it has no frame."""
    found: list[Callee] = []
    advance = getattr(type(iterator), "__next__", None)
    if isinstance(advance, FunctionType):
        found.append((advance.__code__, iterator))
    held: list[object] = gc.get_referents(iterator)
    for value in held:
        if value is upstream:
            continue
        if isinstance(value, tuple):  # a map over several iterables holds them in one
            members = cast("tuple[object, ...]", value)
            held += [member for member in members if member is not upstream]
        elif isinstance(value, GeneratorType):
            found.append((value.gi_code, None))
        elif callable(value):
            callees = _callees_of(value)
            if callees is None:
                return None
            found += callees
        elif isinstance(value, Iterator):
            return None  # another iterator without a frame: its errors could not be told
    return found


class Frameless:
    """A step's iterator that has no Python frame, and the Python code it calls."""

    __slots__ = ("callees", "guarded", "site")

    def __init__(self, site: Site, callees: Sequence[Callee], guarded: bool = False) -> None:
        self.site = site
        self.callees = callees
        self.guarded = guarded
        """Whether it runs inside a `guard`, which gives it a frame."""

    def runs(self, frame: FrameType) -> bool:
        """Tell whether `frame` is one of the calls this iterator makes."""
        for code, bound in self.callees:
            if frame.f_code is code:
                if bound is None or not code.co_argcount:
                    return True
                if frame.f_locals.get(code.co_varnames[0]) is bound:
                    return True
        return False


Tail = Literal["no", "by frames", "yes"]
"""Whether an error with no registered frame may come from the last frameless iterators."""

Blamed = Site | tuple[Site, ...]
"""One site, or the sites an error may have come from when they cannot be told apart."""


class Blame:
    """The registered frames of one run, and the sites they stand for."""

    __slots__ = ("_pulls", "_worker", "frames", "pending")

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self.frames: dict[FrameType, Site | Mapping[int, Site]] = {}
        """The registered frames. A run may enter a step's generator here itself
        (the usual case, kept fast) while nothing is `pending`."""
        self._pulls: dict[FrameType, tuple[bool, tuple[Frameless, ...]]] = {}
        """Per registered frame that pulls from frameless iterators: whether the frame
        is paipa's own, and those iterators, nearest first."""
        self.pending: list[Frameless] | None = None
        """Frameless iterators opened since the last registered frame, in order."""
        self._worker = worker

    def register(
        self,
        iterator: Iterator[Any],
        where: Site | Mapping[int, Site],
        guarded: Frameless | None = None,
    ) -> None:
        """Record that the generator `iterator` runs `where` (a site, or sites by line).

        Paipa's own generators (a fused loop, a `guard` of the `guarded`
        iterator) pass `where` as a mapping or give `guarded`.
        """
        frame: FrameType | None = getattr(iterator, "gi_frame", None)
        if frame is None or frame in self.frames:
            return
        self.frames[frame] = where
        if self.pending or guarded is not None:
            ours = guarded is not None or not isinstance(where, Site)
            nearest = [guarded] if guarded is not None else []
            self._pulls[frame] = (ours, (*nearest, *reversed(self.pending or ())))
            self.pending = None

    def register_step(self, generator: Any, site: Site) -> None:
        """Record a step's own generator, just created (`register`, for the usual case)."""
        frame = generator.gi_frame
        self.frames[frame] = site
        if self.pending:
            self._pulls[frame] = (False, tuple(reversed(self.pending)))
            self.pending = None

    def frameless(
        self, iterator: Iterator[Any], upstream: Iterator[Any] | None, site: Site
    ) -> Frameless | None:
        """Record `iterator`, which has no frame, for `site`; None if it needs a `guard`."""
        callees = _callees(iterator, upstream)
        if callees is None:
            return None
        entry = Frameless(site, callees)
        if self.pending is None:
            self.pending = []
        self.pending.append(entry)
        return entry

    def site_at(self, frame: FrameType) -> Site | None:
        """Return the site a live `frame` is running now, if it is one of this run's."""
        where = self.frames.get(frame)
        if where is None or isinstance(where, Site):
            return where
        return where.get(frame.f_lineno)

    def site_of(self, error: BaseException, tail: Tail = "no") -> Blamed | None:
        """Return the site of the innermost registered frame in the traceback.

        If that frame was taking an item from frameless iterators, the one that
        raised is found by the frames of the code it called. With no registered
        frame on the stack, `tail` says whether the run's last frameless
        iterators may have raised: ``"yes"`` (the caller was only reading the
        outputs), ``"by frames"`` (only if a frame of their code shows it).
        """
        found: Site | None = None
        innermost: TracebackType | None = None
        traceback = error.__traceback__
        while traceback is not None:
            where = self.frames.get(traceback.tb_frame)
            if isinstance(where, Site):
                found = where
            elif where is not None:
                found = where.get(traceback.tb_lineno, found)
            if where is not None:
                innermost = traceback
            traceback = traceback.tb_next
        cause = error.__cause__
        if isinstance(cause, StopIteration):
            # PEP 479: a StopIteration leaving a generator became this RuntimeError;
            # the step it came from is in the StopIteration's own traceback.
            return self.site_of(cause) or found
        if innermost is None:
            if tail != "no" and self.pending:
                pulls = tuple(reversed(self.pending))
                return self._pulled(pulls, error.__traceback__, tail == "yes") or found
            return found
        pulling = self._pulls.get(innermost.tb_frame)
        code = innermost.tb_frame.f_code
        if pulling is not None and code.co_code[innermost.tb_lasti] in _PULLING:
            ours, pulls = pulling
            return self._pulled(pulls, innermost.tb_next, ours) or found
        return found

    @staticmethod
    def _pulled(
        pulls: tuple[Frameless, ...], after: TracebackType | None, ours: bool
    ) -> Blamed | None:
        """Say which of `pulls` raised, by the frames `after` the one that pulled."""
        while after is not None:
            matched = tuple(entry.site for entry in pulls if entry.runs(after.tb_frame))
            if matched:
                return matched[0] if len(matched) == 1 else matched
            after = after.tb_next
        if not ours:
            return None  # a step's own generator: the error is its own, as far as we know
        if len(pulls) == 1 or pulls[0].guarded:
            return pulls[0].site
        return tuple(entry.site for entry in pulls)

    def annotate(
        self, error: BaseException, fallback: Site | None = None, tail: Tail = "no"
    ) -> None:
        """Add a note naming the step `error` came from (or `fallback`); `tail`: see `site_of`."""
        blamed = self.site_of(error, tail) or fallback
        if isinstance(blamed, tuple):
            if not has_note(error):
                note(error, self._either(blamed))
        elif blamed is not None:
            if self._worker is not None and blamed.position:
                blamed = replace(blamed, worker=self._worker)
            add_note(error, blamed)

    def _either(self, sites: tuple[Site, ...]) -> str:
        named = ", ".join(
            f"{site.name!r} ({site.position} of {site.total}, {site.kind})"
            for site in sorted(sites, key=lambda site: site.position)
        )
        worker = f", worker {self._worker[0]} of {self._worker[1]}" if self._worker else ""
        return (
            f"{RAISED_IN}one of the steps {named}{worker}: they call the same code "
            "without Python frames of their own, so which one cannot be told"
        )
