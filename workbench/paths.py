"""One artifacts root for everything the workbench writes, overridable by ``WORKBENCH_HOME``.

Layout::

    $WORKBENCH_HOME/            (default: ~/.cache/workbench)
        models/<name>-<sha12>/  base models converted from GGUF (safetensors)
        runs/<run name>/        run directories (adapter, metrics, model card)
        warehouse.db            the quickstart's SQLite stand-in for a warehouse
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Returns the artifacts root (``$WORKBENCH_HOME`` or ``~/.cache/workbench``), creating it."""
    root = Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "workbench").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    """Returns the local model store, ``$WORKBENCH_HOME/models``."""
    path = home() / "models"
    path.mkdir(exist_ok=True)
    return path


def runs_dir() -> Path:
    """Returns the default parent of run directories, ``$WORKBENCH_HOME/runs``."""
    path = home() / "runs"
    path.mkdir(exist_ok=True)
    return path
