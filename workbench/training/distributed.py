"""Data-parallel training on PyTorch's own distributed engine (``torch.distributed``; gloo on CPU, NCCL on CUDA).

``workbench run CONFIG --nproc N`` hands the run to ``torchrun`` (``torch.distributed.run``), which starts N
worker processes, sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` and tears every
worker down when one fails. Each worker runs the same :func:`workbench.setup`; this module is what makes them
one run:

- **Same batches as one process.** Every rank draws the same seeded batch order; each takes a contiguous shard
  of every global batch (:func:`shard`), so ``train.batch_size`` stays the *global* batch.
- **Same gradient as one process.** Each rank weights its shard's mean loss by its share of the batch (rows,
  or loss-carrying tokens for chat SFT), then one all-reduce sums the trainable gradients (LoRA weights are a
  few MB, so a single flattened collective per step is all it takes) together with the loss and token counts.
  Every rank then applies the same clipped AdamW update to identical weights.
- **Rank 0 decides and writes.** Validation runs on rank 0 and its score is broadcast, so early stopping and
  the best-on-validation weights agree everywhere; checkpoints, baselines, the test evaluation, the run
  directory, the model card and the registry are written by rank 0 only.

Run as::

    workbench run configs/splice.yaml --nproc 2                           # N processes on this machine
    torchrun --nproc-per-node 8 -m workbench run configs/splice.yaml      # the same through torchrun
    torchrun --nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --nproc-per-node 8 -m workbench run configs/splice.yaml           # several machines
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import subprocess
import sys
from typing import Iterator

import torch

log = logging.getLogger(__name__)
TIMEOUT_ENV = "WORKBENCH_DIST_TIMEOUT_S"
"""Seconds a rank waits at a collective for the others (default 7200: rank 0's test evaluation can be long)."""


def world_size() -> int:
    """Processes in this run: ``WORLD_SIZE`` as torchrun sets it, 1 outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    """This process's global rank (0 outside torchrun)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return int(os.environ.get("RANK", "0") or 0)


def is_main() -> bool:
    """True on rank 0, the only rank that logs results and writes files."""
    return rank() == 0


def init() -> int:
    """Joins the process group when started by torchrun with ``WORLD_SIZE`` > 1 (idempotent).

    Picks NCCL where CUDA is available (and pins this process to ``cuda:LOCAL_RANK``), gloo otherwise, and
    quiets the logs of ranks other than 0 to warnings.

    Returns:
        The world size (1 when not distributed; nothing is initialised then).

    Raises:
        RuntimeError: If ``WORLD_SIZE`` > 1 but ``MASTER_ADDR``/``MASTER_PORT`` are missing (start the run
            with ``workbench run --nproc N`` or ``torchrun``, not by setting ``WORLD_SIZE`` by hand).
    """
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1 or torch.distributed.is_initialized():
        return world_size()
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT", "RANK") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={size} but {', '.join(missing)} not set: start a multi-process run with "
                           "`workbench run CONFIG --nproc N` or `torchrun --nproc-per-node N -m workbench run CONFIG`.")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "7200")))
    torch.distributed.init_process_group(backend=backend, timeout=timeout)
    if not is_main():
        logging.getLogger("workbench").setLevel(logging.WARNING)
    log.info("distributed training: %d processes, %s backend", size, backend)
    return size


def local_world_size() -> int:
    """Processes on this machine (``LOCAL_WORLD_SIZE``, 1 outside torchrun), to split the CPU cores."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)


def barrier() -> None:
    """Waits for every rank (no-op in a single process)."""
    if world_size() > 1:
        torch.distributed.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Runs the block on rank 0 first, then on the other ranks (e.g. so only rank 0 converts a base model
    into the shared model store and the others find it there)."""
    if world_size() > 1 and not is_main():
        barrier()
    yield
    if world_size() > 1 and is_main():
        barrier()


def shard(idx: list[int]) -> list[int]:
    """This rank's contiguous part of a global batch of row indices.

    Args:
        idx: The global batch, shape ``(batch,)``, the same on every rank.

    Returns:
        ``idx[start:end]`` for this rank; sizes differ by at most one row (a rank may get none).
    """
    n, size, r = len(idx), world_size(), rank()
    start, end = r * n // size, (r + 1) * n // size
    return idx[start:end]


def broadcast_parameters(params: list[torch.Tensor]) -> None:
    """Copies rank 0's trainable weights to every rank, so all start from the same initialisation."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for p in params:
            torch.distributed.broadcast(p.data, src=0)


def broadcast_score(score: float | None) -> float:
    """Rank 0's validation score on every rank (others pass ``None``)."""
    if world_size() == 1:
        return float(score)
    t = torch.tensor([float("nan") if score is None else float(score)], dtype=torch.float64, device=_device())
    torch.distributed.broadcast(t, src=0)
    return float(t.item())


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def data_parallel_step(objective, params: list[torch.Tensor], idx: list[int]) -> tuple[float, int, int]:
    """Forward and backward of one global batch across all ranks; leaves the global mean gradient in ``.grad``.

    Args:
        objective: The task's :class:`~workbench.training.objective.Objective` (``reduction`` says whether its
            batch loss is a mean over rows or over loss-carrying tokens).
        params: The trainable parameters, in the same order on every rank.
        idx: The global batch of training-row indices, shape ``(batch,)``.

    Returns:
        ``(loss, tokens, trained_tokens)`` of the whole global batch: the loss a single process would have
        computed on it, and token counts summed over ranks.
    """
    part = shard(idx)
    device = params[0].device
    loss_value, tokens, trained = torch.zeros((), dtype=torch.float64), 0, 0
    if part:
        loss, tokens, trained = objective.batch_loss(part)
        counts = torch.tensor([len(part), trained], dtype=torch.float64, device=device)
    else:
        loss, counts = None, torch.zeros(2, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(counts)
    share = (len(part) / counts[0] if objective.reduction == "rows" else trained / max(1.0, counts[1].item()))
    share = float(share)
    if loss is not None and share > 0:
        (loss * share).backward()
        loss_value = loss.detach().double() * share
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads]
                     + [loss_value.reshape(1).float().to(device), torch.tensor([float(tokens)], device=device)])
    torch.distributed.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
        offset += n
    return float(flat[offset].item()), int(round(flat[offset + 1].item())), int(counts[1].item())


def shutdown() -> None:
    """Leaves the process group (no-op in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def launch(nproc: int, args: list[str]) -> int:
    """Runs ``workbench <args>`` in ``nproc`` worker processes on this machine through torchrun.

    torchrun (``python -m torch.distributed.run --standalone``) picks a free loopback port for the rendezvous,
    starts the workers with their ranks, and stops them all as soon as one fails or is killed. The CPU cores are
    split between the workers (``OMP_NUM_THREADS``; ``train.threads`` still wins where set).

    Args:
        nproc: Worker processes (>= 2).
        args: The workbench command line, e.g. ``["run", "configs/splice.yaml", "--resume"]``.

    Returns:
        torchrun's exit status: 0 if every worker finished, non-zero if any failed.
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "workbench", *args]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))}
    log.info("starting %d worker processes: %s", nproc, " ".join(cmd[2:]))
    return subprocess.call(cmd, env=env)
