"""What a run carries besides its plan and source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._policy import Policies
from ._recorder import Recorder

__all__ = ["RunContext"]


@dataclass(frozen=True)
class RunContext:
    """The error-policy counts and the debugger's measurements of one run."""

    policies: Policies = field(default_factory=Policies)
    recorder: Recorder | None = None
