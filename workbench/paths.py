"""One artifacts root for everything the workbench writes, overridable by ``WORKBENCH_HOME``.

Layout::

    $WORKBENCH_HOME/            (default: ~/.cache/workbench)
        models/<name>-<sha12>/  base models converted from GGUF (safetensors)
        runs/<run name>/        run directories (adapter, metrics, model card)
        warehouse.db            the quickstart's SQLite stand-in for a warehouse
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


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


def build_dir_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Builds a directory atomically: ``build(tmp)`` fills a hidden temporary directory beside ``target``, which is
    then renamed to ``target``; on any failure it is removed, and if another process finished ``target`` first, this
    one's copy is discarded.

    Returns:
        ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
