"""What a run carries besides its plan and source."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._control import Control
from ._policy import Policies
from ._recorder import Recorder

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """The error-policy counts, outside control and debugger measurements of one run."""

    policies: Policies = field(default_factory=Policies)
    control: Control | None = None
    recorder: Recorder | None = None
