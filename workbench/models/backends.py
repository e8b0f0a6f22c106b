"""The runtime a run trains on: Unsloth or transformers + PEFT, precision, CPU threads, seeds.

Backends: Unsloth ``FastLanguageModel`` where it imports, transformers + PEFT otherwise, with the same LoRA
config, the same loop and the same saved adapter; the fallback is said once per process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random

import numpy as np
import torch

log = logging.getLogger(__name__)
_BACKEND_NOTICE_SHOWN = False


def select_backend(preference: str = "auto") -> tuple[str, str]:
    """Chooses the training backend.

    Args:
        preference: ``"auto"``, ``"unsloth"`` or ``"peft"``.

    Returns:
        ``(backend, reason)`` where backend is ``"unsloth"`` or ``"peft"``.

    Raises:
        RuntimeError: If ``"unsloth"`` is requested but cannot be imported (with the reason).
    """
    global _BACKEND_NOTICE_SHOWN
    if preference == "peft":
        return "peft", "requested in config (train.backend=peft)"
    reason = None
    if importlib.util.find_spec("unsloth") is None:
        reason = "the unsloth package is not installed (GPU: see environment.yml)"
    else:
        try:
            import unsloth  # noqa: F401  (must be imported before transformers' models are patched)
        except Exception as exc:  # Unsloth raises NotImplementedError/ImportError without a supported device
            reason = f"importing unsloth failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if reason is None:
        return "unsloth", "unsloth imported"
    if preference == "unsloth":
        raise RuntimeError(f"train.backend=unsloth but {reason}. Install Unsloth or set train.backend to auto/peft.")
    if not _BACKEND_NOTICE_SHOWN:
        log.warning("Unsloth unavailable (%s): training with transformers + PEFT, same config and outputs.", reason)
        _BACKEND_NOTICE_SHOWN = True
    return "peft", reason


def resolve_precision(precision: str) -> torch.dtype | None:
    """Maps ``train.precision`` to an autocast dtype (``None`` = float32).

    ``auto`` picks bfloat16 on a CUDA device that supports it, or on a CPU with native
    bf16 instructions (AVX512-BF16 or AMX), else float32.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return None
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else None


def set_threads(threads: int) -> int:
    """Sets torch's CPU threads (0 = all cores) and returns the number used."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, NumPy's global RNG and torch (CPU and CUDA) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def device_name() -> str:
    """``cuda`` where a CUDA device is visible, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"
