"""What crosses between a run and its worker processes: the step, batches, outcomes, errors.

Everything is pickled: the step once, when the run starts (so that a step
that cannot be sent is refused then, naming the step); each batch of items
out; per batch, the outcomes back. Errors travel as the pickled exception
when it survives a round trip, else as a `RemoteError` stand-in naming its
type, and always with the worker's traceback as text.
"""

from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass
from typing import Any

from .._step import Step
from ._blame import describe, note

__all__ = [
    "Failure",
    "RemoteError",
    "decode_error",
    "dump_batch",
    "dump_step",
    "encode_error",
    "load",
    "note_remote_traceback",
]

PROTOCOL = -1
"""``pickle``'s highest protocol. ``pickle`` is imported where it is used: a process
stage imports it, ``import paipa`` does not (`RemoteError` lives here)."""


class RemoteError(Exception):
    """Stands for an exception raised in a worker process that could not be pickled.

    `type_name` names the original exception's class, and the message is its
    text; the worker's traceback is added as a note.
    """

    def __init__(self, type_name: str, message: str) -> None:
        """Stand for an exception of class `type_name` with text `message`."""
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        """The original exception's class, as ``module.QualifiedName``."""
        self.message = message
        """The original exception's text."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteError, (self.type_name, self.message))


def _cloudpickle() -> Any:
    try:
        return importlib.import_module("cloudpickle")
    except ImportError:
        return None


class _StepFunction:
    """A decorated function, sent by the name its module binds the step to.

    ``@step.map`` on a module-level function binds the module's name to the
    `Step`, not to the function, so ``pickle`` cannot find the function by its
    name; the worker takes the function from the step of that name instead.
    """

    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname

    def __reduce__(self) -> tuple[Any, ...]:
        return (_function_of_step, (self.module, self.qualname))


def _bound_name(function: object) -> object:
    """Return what `function`'s module binds to its qualified name, or None."""
    module = importlib.import_module(getattr(function, "__module__", None) or "builtins")
    target: object = module
    for part in str(getattr(function, "__qualname__", "")).split("."):
        namespace: dict[str, object] = getattr(target, "__dict__", {})
        target = namespace.get(part)  # not getattr: a module's __getattr__ is not run
        if target is None:
            return None
    return target


def _function_of_step(module: str, qualname: str) -> Any:
    """In a worker: the function of the step bound to `module`.`qualname`."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target.function if isinstance(target, Step) else target


def _sendable_function(member: Step[Any, Any]) -> object:
    """Return `member`'s function, or a `_StepFunction` if its name is bound to a step of it."""
    function = member.function
    try:
        bound = _bound_name(function)
    except Exception:  # a module that cannot be imported here: leave it to pickle
        return function
    if isinstance(bound, Step) and bound.function is function:
        return _StepFunction(function.__module__, function.__qualname__)
    return function


def dump_step(member: Step[Any, Any]) -> bytes:
    """Return what a worker process needs to run `member`, or raise naming the step."""
    import pickle

    what = (member.kind, _sendable_function(member), member.name)
    try:
        return pickle.dumps(what, PROTOCOL)
    except Exception as error:
        plain = error
    cloudpickle = _cloudpickle()
    if cloudpickle is None:
        raise TypeError(
            f"step {member.name!r} cannot be sent to a worker process: {describe(plain)}. "
            "Define its function at the top level of a module, or install cloudpickle "
            "(pip install 'paipa[process]') to send lambdas, closures and local functions"
        ) from None
    try:
        return bytes(cloudpickle.dumps(what, PROTOCOL))
    except Exception as error:
        raise TypeError(
            f"step {member.name!r} cannot be sent to a worker process, even with "
            f"cloudpickle: {describe(error)}"
        ) from None


def dump_batch(items: list[Any], name: str, start: int) -> bytes:
    """Pickle a batch of items for a worker; raise naming the item that cannot be sent."""
    import pickle

    try:
        return pickle.dumps(items, PROTOCOL)
    except Exception as error:
        failure = error
    for index, item in enumerate(items):
        try:
            pickle.dumps(item, PROTOCOL)
        except Exception as error:
            raise TypeError(
                f"input item #{start + index} of step {name!r} cannot be sent to a worker "
                f"process: {describe(error)}"
            ) from error
    raise TypeError(f"a batch for step {name!r} cannot be pickled: {describe(failure)}")


def load(data: bytes) -> Any:
    """Unpickle what the other side sent."""
    import pickle

    return pickle.loads(data)


@dataclass(frozen=True)
class Failure:
    """An exception raised in a worker, ready to cross back."""

    pickled: bytes | None
    type_name: str
    message: str
    remote_traceback: str


def encode_error(error: BaseException) -> Failure:
    """Return `error` as a `Failure` (the exception itself, if it survives pickling)."""
    import pickle

    kind = type(error)
    type_name = f"{kind.__module__}.{kind.__qualname__}"
    try:
        message = str(error)
    except Exception:
        message = "(its str() failed)"
    text = "".join(traceback.format_exception(error))
    pickled: bytes | None = None
    try:
        pickled = pickle.dumps(error, PROTOCOL)
        pickle.loads(pickled)  # some exceptions pickle but cannot be rebuilt
    except Exception:
        pickled = None
    return Failure(pickled, type_name, message, text)


def decode_error(failure: Failure) -> BaseException:
    """Return the exception a `Failure` stands for (see `note_remote_traceback`)."""
    import pickle

    error: BaseException | None = None
    if failure.pickled is not None:
        try:
            error = pickle.loads(failure.pickled)
        except Exception:
            error = None
    if not isinstance(error, BaseException):
        error = RemoteError(failure.type_name, failure.message)
    return error


def note_remote_traceback(error: BaseException, failure: Failure) -> None:
    """Add the worker's traceback to `error`, after the note that names the step."""
    note(error, "paipa: traceback in the worker process:\n" + failure.remote_traceback.rstrip())
