"""The CPU a benchmark ran on, for its results file: one helper every script imports (``python benchmarks/X.py``
puts this folder on ``sys.path``)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The ``model name`` line of ``/proc/cpuinfo`` (e.g. ``AMD EPYC 7B13``), else ``platform.processor()``, else
    ``"unknown CPU"``."""
    info = Path("/proc/cpuinfo")
    try:
        lines = info.read_text().splitlines() if info.is_file() else []
    except OSError:
        lines = []
    found = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return found or platform.processor() or "unknown CPU"
