"""The CPU a benchmark ran on, for its results file: one helper every script imports (``python benchmarks/X.py``
puts this folder on ``sys.path``)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` with the widest vector extension its ``flags`` line lists (e.g.
    ``AMD EPYC (AVX2)``, ``AMD EPYC (AVX-512 BF16)``: virtual machines often report the same model name for CPUs
    whose step times differ several-fold), else ``platform.processor()``, else ``"unknown CPU"``."""
    info = Path("/proc/cpuinfo")
    try:
        lines = info.read_text().splitlines() if info.is_file() else []
    except OSError:
        lines = []
    found = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    isa = next((name for flag, name in (("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))
                if flag in flags), "")
    model = found or platform.processor() or "unknown CPU"
    return f"{model} ({isa})" if isa else model
