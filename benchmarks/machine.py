"""The CPU a benchmark ran on, for its results file: one helper every script imports (``python benchmarks/X.py``
puts this folder on ``sys.path``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpuinfo() -> list[str]:
    info = Path("/proc/cpuinfo")
    try:
        return info.read_text().splitlines() if info.is_file() else []
    except OSError:
        return []


def vector_extension() -> str:
    """The widest x86 vector extension the ``flags`` line of ``/proc/cpuinfo`` lists: ``AVX512-BF16``, ``AVX512``,
    ``AVX2``, or ``""`` (none of them, or no ``/proc/cpuinfo``). Virtual machines often report the same model name
    for CPUs whose step times differ several-fold; this tells them apart."""
    flags = set(next((line.split(":", 1)[1].split() for line in _cpuinfo() if line.startswith("flags")), []))
    return next((name for flag, name in (("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX512"), ("avx2", "AVX2"))
                 if flag in flags), "")


def cpu_model() -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` with :func:`vector_extension` (e.g. ``AMD EPYC (AVX2)``), else
    ``platform.processor()``, else ``"unknown CPU"``."""
    found = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "")
    model = found or platform.processor() or "unknown CPU"
    isa = vector_extension()
    return f"{model} ({isa})" if isa else model


def describe() -> str:
    """The machine as results files name it: :func:`cpu_model` and the core count, e.g. ``AMD EPYC (AVX2), 2 cores``."""
    return f"{cpu_model()}, {os.cpu_count()} cores"
