"""paipa: typed data pipelines from plain Python functions.

```pycon
>>> from paipa import Pipeline, step
>>> @step.filter
... def even(n: int) -> bool:
...     return n % 2 == 0
>>> (Pipeline(range(10)) | even).collect()
[0, 2, 4, 6, 8]

```
"""

from ._backends import Backend, BackendName, ProcessBackend, ThreadBackend
from ._background import BackgroundRun
from ._compat import combine_pipeline
from ._debug._debugger import PipelineRuntimeDebugger
from ._debug._reporters import CallbackReporter, LoggingReporter, ProgressReporter, Reporter
from ._debug._stats import Snapshot, StepStats
from ._decorators import StepDecorator, step
from ._engine._lifecycle import RunCancelled, RunState
from ._engine._recorder import tally
from ._engine._wire import RemoteError
from ._ops import Batch, Chunk, batch, chunk, consume, flatten, identity_step
from ._options import ErrorPolicy, StepOptions
from ._pipeline import Chain, Pipeline
from ._run_result import RunResult
from ._step import Processor, Skip, Step, StepKind
from .threaded import AbstractStep, SkipEntry, funcstep, iterstep

__all__ = [
    "AbstractStep",
    "Backend",
    "BackendName",
    "BackgroundRun",
    "Batch",
    "CallbackReporter",
    "Chain",
    "Chunk",
    "ErrorPolicy",
    "LoggingReporter",
    "Pipeline",
    "PipelineRuntimeDebugger",
    "ProcessBackend",
    "Processor",
    "ProgressReporter",
    "RemoteError",
    "Reporter",
    "RunCancelled",
    "RunResult",
    "RunState",
    "Skip",
    "SkipEntry",
    "Snapshot",
    "Step",
    "StepDecorator",
    "StepKind",
    "StepOptions",
    "StepStats",
    "ThreadBackend",
    "batch",
    "chunk",
    "combine_pipeline",
    "consume",
    "flatten",
    "funcstep",
    "identity_step",
    "iterstep",
    "step",
    "tally",
]

__version__ = "0.4.0"

# Tracebacks, reprs and the docs say paipa.Pipeline, not paipa._pipeline.Pipeline.
for _public in (
    Backend,
    BackgroundRun,
    Batch,
    CallbackReporter,
    Chain,
    Chunk,
    LoggingReporter,
    Pipeline,
    PipelineRuntimeDebugger,
    ProcessBackend,
    Processor,
    ProgressReporter,
    RemoteError,
    Reporter,
    RunCancelled,
    RunResult,
    RunState,
    Skip,
    Snapshot,
    Step,
    StepDecorator,
    StepOptions,
    StepStats,
    ThreadBackend,
    batch,
    chunk,
    combine_pipeline,
    consume,
    flatten,
    identity_step,
    tally,
):
    _public.__module__ = __name__
del _public
