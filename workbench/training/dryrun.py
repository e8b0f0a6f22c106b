"""``workbench run --dry-run``: size a run from one measured training step, then stop.

Reads the data, splits it, loads the model, and measures one forward + backward pass of the task's
objective on the training batch with the longest rows: its wall time and the memory peak (process peak RSS
on CPU; ``torch.cuda.max_memory_allocated`` on CUDA). Nothing is written and no weights change
(the optimiser never steps; gradients are cleared).
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
import torch

from .budget import estimate_run
from .objective import Objective, schedule_steps


@dataclass
class DryRunReport:
    """What a run would do and cost.

    Attributes:
        rows: Rows per split.
        tokens: Prompt tokens per split (padding excluded).
        steps_per_epoch: Optimiser steps per pass over the training split.
        total_steps: Steps the schedule would run (before any early stop).
        evaluations: Validation passes (every ``eval_every`` steps or each epoch, plus the end).
        trainable_parameters: Parameters the optimiser would update.
        batch_shape: ``(batch, seq_len)`` of the measured (longest) batch.
        device: ``cpu`` or ``cuda``.
        memory_kind: ``cpu-peak-rss`` or ``cuda-max-allocated``.
        measured_peak_bytes: The measured peak after one forward + backward, in bytes.
        optimizer_state_bytes: AdamW's two float32 moments per trainable parameter, in bytes (not
            allocated by the dry run, added to the estimate).
        estimated_peak_bytes: ``measured_peak_bytes + optimizer_state_bytes``.
        step_seconds: Wall time of the timed forward + backward (the second of two; the first warms up).
        estimated_train_seconds: ``step_seconds * total_steps`` (an upper bound when prompt lengths vary,
            since the measured batch is the longest; the optimiser step itself is not timed).
        eval_batch_seconds: Wall time of one no-grad forward over a validation batch of 64.
        estimated_eval_seconds: ``eval_batch_seconds`` times validation batches (of ``Objective.val_rows``, both
            strands counted under reverse-complement averaging) times evaluations.
        estimate_text: The same sentence a run logs after its first steps (e.g. "about 1,800 steps, about 14 min on
            this machine (measured from the first 1 steps: ...)"), here from the one timed step.
    """

    rows: dict[str, int]
    tokens: dict[str, int]
    steps_per_epoch: int
    total_steps: int
    evaluations: int
    trainable_parameters: int
    batch_shape: tuple[int, int]
    device: str
    memory_kind: str
    measured_peak_bytes: int
    optimizer_state_bytes: int
    estimated_peak_bytes: int
    step_seconds: float
    estimated_train_seconds: float
    eval_batch_seconds: float
    estimated_eval_seconds: float
    estimate_text: str = ""

    def to_dict(self) -> dict:
        """The report as a JSON-serialisable dict."""
        return asdict(self)

    def text(self) -> str:
        """A human-readable summary, one fact per line."""
        mib = 1024 ** 2
        rows = ", ".join(f"{k} {v:,} rows / {self.tokens[k]:,} tokens" for k, v in self.rows.items())
        return "\n".join([
            f"dry run (nothing written): {rows}",
            f"steps: {self.steps_per_epoch} per epoch, {self.total_steps} in total; "
            f"{self.evaluations} validation passes",
            f"trainable parameters: {self.trainable_parameters:,}",
            f"measured one forward+backward on the longest batch {self.batch_shape}: {self.step_seconds:.3f} s",
            f"estimated peak memory ({self.memory_kind}): {self.estimated_peak_bytes / mib:,.0f} MiB "
            f"(measured {self.measured_peak_bytes / mib:,.0f} MiB + AdamW state "
            f"{self.optimizer_state_bytes / mib:,.1f} MiB)",
            f"estimated training time: {self.estimated_train_seconds / 60:.1f} min "
            f"+ validation {self.estimated_eval_seconds / 60:.1f} min on {self.device}",
            self.estimate_text,
        ])


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def estimate(objective: Objective, *, batch_size: int, epochs: float, eval_every: int = 0,
             max_steps: int = 0) -> DryRunReport:
    """Measures one training step of ``objective`` and extrapolates to the whole run.

    Args:
        objective: The task's objective as it would be trained; ``objective.token_counts()`` gives the token
            count of every row per split (``{"train": [...], "validation": [...], "test": [...]}``).
        batch_size: Rows per step.
        epochs: Passes over the training split.
        eval_every: Steps between validation passes (0 = each epoch).
        max_steps: ``train.max_steps`` (0 = no cap), as the loop applies it.

    Returns:
        A :class:`DryRunReport`.
    """
    lengths = objective.token_counts()
    steps_per_epoch, total = schedule_steps(objective.n_train, batch_size, epochs)
    total = min(total, max_steps) if max_steps else total
    evaluations = (total - 1) // (eval_every or steps_per_epoch) + 1
    module = objective.module
    params = [p for p in module.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    device = params[0].device
    longest = sorted(range(objective.n_train), key=lambda i: -lengths["train"][i])[:batch_size]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    module.train()
    seconds, shape = [], (len(longest), max(lengths["train"][i] for i in longest))
    for _ in range(2):  # the first pass warms up allocators and kernels; the second is timed
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        objective.batch_loss(longest)[0].backward()
        if cuda:
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    measured = torch.cuda.max_memory_allocated(device) if cuda else _peak_rss_bytes()
    module.zero_grad(set_to_none=True)
    eval_batch = objective.time_eval_batch()
    optimizer_bytes = 2 * 4 * trainable
    # rows one validation pass scores: both strands where test-time reverse-complement averaging is on
    val_batches = -(-(objective.val_rows or len(lengths["validation"])) // 64)
    return DryRunReport(
        rows={k: len(v) for k, v in lengths.items()}, tokens={k: sum(v) for k, v in lengths.items()},
        steps_per_epoch=steps_per_epoch, total_steps=total, evaluations=evaluations, trainable_parameters=trainable,
        batch_shape=shape, device=device.type,
        memory_kind="cuda-max-allocated" if cuda else "cpu-peak-rss", measured_peak_bytes=int(measured),
        optimizer_state_bytes=optimizer_bytes, estimated_peak_bytes=int(measured) + optimizer_bytes,
        step_seconds=seconds[-1], estimated_train_seconds=seconds[-1] * total, eval_batch_seconds=eval_batch,
        estimated_eval_seconds=eval_batch * val_batches * evaluations,
        estimate_text=estimate_run(total, seconds[-1], eval_batch * val_batches, evaluations, 1)["text"])
