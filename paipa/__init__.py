"""paipa: typed data pipelines from plain Python functions.

>>> from paipa import Pipeline, step
>>> @step.filter
... def even(n: int) -> bool:
...     return n % 2 == 0
>>> (Pipeline(range(10)) | even).collect()
[0, 2, 4, 6, 8]
"""

from ._background import BackgroundRun
from ._compat import combine_pipeline
from ._decorators import StepDecorator, step
from ._ops import Batch, Chunk, batch, chunk, consume, flatten, identity_step
from ._options import ErrorPolicy, StepOptions
from ._pipeline import Chain, Pipeline
from ._run_result import RunResult
from ._step import Processor, Skip, Step, StepKind

__all__ = [
    "BackgroundRun",
    "Batch",
    "Chain",
    "Chunk",
    "ErrorPolicy",
    "Pipeline",
    "Processor",
    "RunResult",
    "Skip",
    "Step",
    "StepDecorator",
    "StepKind",
    "StepOptions",
    "batch",
    "chunk",
    "combine_pipeline",
    "consume",
    "flatten",
    "identity_step",
    "step",
]

__version__ = "0.1.0"

# Tracebacks, reprs and the docs say paipa.Pipeline, not paipa._pipeline.Pipeline.
for _public in (
    BackgroundRun,
    Batch,
    Chain,
    Chunk,
    Pipeline,
    Processor,
    RunResult,
    Skip,
    Step,
    StepDecorator,
    StepOptions,
    batch,
    chunk,
    combine_pipeline,
    consume,
    flatten,
    identity_step,
):
    _public.__module__ = __name__
del _public
