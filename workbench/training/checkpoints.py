"""Resumable training checkpoints, written atomically.

A checkpoint is a directory ``step-<8-digit step>/`` holding

- ``trainable.safetensors``: every trainable tensor (LoRA weights, the regression head), by name;
- ``best.safetensors``: the best-on-validation trainable tensors so far (absent before the first evaluation);
- ``state.pt``: optimiser and scheduler state, torch CPU/CUDA RNG states, the batch-order generator
  and the epoch's batch order, the step and the loop's bookkeeping (histories, best score, patience).

It is written into a hidden temporary directory and renamed into place, so a crash never
leaves a half-written ``step-*`` directory; older checkpoints are removed afterwards.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
_NAME = re.compile(r"step-(\d{8})")


def rng_state() -> dict[str, Any]:
    """The torch RNG states that a training step can consume (CPU, and each CUDA device)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tensors(named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in named.items()}


def save_checkpoint(directory: Path, step: int, trainable: dict[str, torch.Tensor],
                    best: dict[str, torch.Tensor] | None, state: dict[str, Any], keep: int = 1) -> Path:
    """Writes one checkpoint atomically and prunes older ones.

    Args:
        directory: The checkpoints directory (created if needed).
        step: Optimiser steps completed.
        trainable: Name -> current trainable tensor.
        best: Name -> best-on-validation tensor, or ``None``.
        state: Picklable loop state (tensors, numbers, lists, dicts); see the module docstring.
        keep: How many of the newest checkpoints to keep (>= 1).

    Returns:
        The checkpoint directory ``directory/step-XXXXXXXX``.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=directory))
    try:
        save_file(_tensors(trainable), str(tmp / "trainable.safetensors"))
        if best is not None:
            save_file(_tensors(best), str(tmp / "best.safetensors"))
        torch.save(state, tmp / "state.pt")
        if final.exists():  # the same step written again (e.g. after a resume): replace it
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(directory)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint at step %d: %s", step, final)
    return final


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first (temporary directories are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(_NAME.fullmatch(p.name).group(1)))


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest complete checkpoint, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None, dict[str, Any]]:
    """Reads a checkpoint written by :func:`save_checkpoint`.

    Returns:
        ``(trainable, best_or_None, state)``.

    Raises:
        ValueError: If a file of the checkpoint is missing.
    """
    from safetensors.torch import load_file

    path = Path(path)
    for name in ("trainable.safetensors", "state.pt"):
        if not (path / name).is_file():
            raise ValueError(f"checkpoint {path} is incomplete (no {name}); delete it to resume from an earlier one.")
    best = load_file(str(path / "best.safetensors")) if (path / "best.safetensors").is_file() else None
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    return load_file(str(path / "trainable.safetensors")), best, state
