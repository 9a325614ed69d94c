"""What a run carries besides its plan and source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._policy import Policies

if TYPE_CHECKING:  # the recorder is the debugger's: imported when it is on
    from ._recorder import Recorder

__all__ = ["RunContext"]


@dataclass(frozen=True)
class RunContext:
    """The error-policy counts and the debugger's measurements of one run."""

    policies: Policies = field(default_factory=Policies)
    recorder: Recorder | None = None
