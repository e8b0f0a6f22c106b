"""Atomic run directories: staged and renamed into place when complete, and checked for completeness.

A run is written into a hidden staging directory beside its final place and renamed
into place only when complete, so an interrupted run never leaves a directory that
looks finished. A previous run of the same name is kept, renamed with its timestamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

# Files every run directory has, whatever its task; each task adds its own (registered by workbench.tasks).
REQUIRED_FILES = ("README.md", "config.yaml", "metrics.json", "adapter/adapter_config.json",
                  "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json", "task.json", "lineage.json")
TASK_FILES: dict[str, tuple[str, ...]] = {}


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (temp file in the same directory, then ``os.replace``)."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Writes text atomically: a temp file in the same directory, then ``os.replace`` (readers see the old file or
    the new one, never a part)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_run_dir(final: Path) -> Iterator[Path]:
    """Yields a staging directory that becomes ``final`` only if the block succeeds.

    On success an existing ``final`` is renamed to ``<final>-<its mtime as YYYYmmdd-HHMMSS>``
    (nothing is deleted) and the staging directory is renamed to ``final``. On any
    exception the staging directory is removed and ``final`` is untouched.

    Args:
        final: The run directory to create.

    Yields:
        The staging directory path (same parent as ``final``).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if final.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(final.stat().st_mtime))
        backup = final.with_name(f"{final.name}-{stamp}")
        n = 1
        while backup.exists():
            backup, n = final.with_name(f"{final.name}-{stamp}-{n}"), n + 1
        final.rename(backup)
    stage.rename(final)


def missing_files(run_dir: Path) -> list[str]:
    """Returns the required run-directory files that are absent (empty list = complete).

    The task-specific files (:data:`TASK_FILES`, registered by each task) follow ``task.json``'s ``type``
    (classification if absent), plus the ``head_file`` that ``task.json`` names, if any.
    """
    run_dir = Path(run_dir)
    kind, extra = "classification", ()
    if (run_dir / "task.json").is_file():
        task = json.loads((run_dir / "task.json").read_text())
        kind = task.get("type", "classification")
        extra = (task["head_file"],) if task.get("head_file") else ()
    wanted = dict.fromkeys(REQUIRED_FILES + TASK_FILES.get(kind, ()) + extra)
    return [f for f in wanted if not (run_dir / f).is_file()]
