"""Training: the one optimisation loop every task plugs into, its checkpoints, and the dry run.

- :mod:`.objective`: :class:`Objective` (what a task hands the loop), :class:`TrainOptions`, :class:`TrainResult`;
- :mod:`.loop`: :func:`train` (AdamW, warm-up/decay, clipping, best-on-validation, early stopping, resume);
- :mod:`.checkpoints`: atomic resumable checkpoints;
- :mod:`.dryrun`: ``workbench run --dry-run`` sizing from one measured step.
"""

from .loop import train
from .objective import BatchLoss, Objective, TrainOptions, TrainResult, schedule_steps

__all__ = ["BatchLoss", "Objective", "TrainOptions", "TrainResult", "schedule_steps", "train"]
