"""Guards ``<output_dir>/<name>.partial/``, where an unfinished run keeps its checkpoints.

A fresh run refuses to overwrite another run's checkpoints, and a resume refuses a changed config or data.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..training.checkpoints import list_checkpoints
from .run_dir import write_json

# Config keys that may change between an interrupted run and its resume without changing the result.
_RESUME_FREE = ("serve", "published", "registry", "retune", "task.label_names", "train.save_every", "train.threads")


def _flatten(config: dict, prefix: str = "") -> dict:
    """``{"train": {"seed": 0}}`` -> ``{"train.seed": 0}``, leaving out :data:`_RESUME_FREE` keys."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if any(name == free or name.startswith(free + ".") for free in _RESUME_FREE):
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def check_partial(partial: Path, config: dict, fingerprint: str, resume: bool, save_every: int) -> None:
    """Checks ``partial`` before training and records what a later resume must match.

    Args:
        partial: ``<output_dir>/<name>.partial``.
        config: The redacted config dict (see :func:`workbench.runs.provenance.saved_config`).
        fingerprint: sha256 of the rows used.
        resume: Whether this run resumes.
        save_every: ``train.save_every``; with 0 and no resume nothing is written.

    Raises:
        ValueError: A fresh run finds checkpoints (resume or delete them), or a resume finds a
            checkpoint written under a different config or different data.
    """
    record = partial / "run.json"
    found = list_checkpoints(partial / "checkpoints")
    if found and not resume:
        raise ValueError(f"{partial} holds checkpoints of an interrupted run (latest {found[-1].name}). "
                         f"Add --resume to continue it, or delete {partial} to start again.")
    if found and resume and record.is_file():
        saved = json.loads(record.read_text())
        if saved["rows_used_fingerprint"] != fingerprint:
            raise ValueError(f"cannot resume: the data differ from the interrupted run's (rows fingerprint "
                             f"{fingerprint[:12]}… vs {saved['rows_used_fingerprint'][:12]}…). "
                             f"Delete {partial} to start again.")
        before, now = _flatten(saved["config"]), _flatten(config)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise ValueError(f"cannot resume: config fields changed since the interrupted run: {changed}. "
                             f"Restore them, or delete {partial} to start again.")
    if save_every or resume:
        partial.mkdir(parents=True, exist_ok=True)
        write_json(record, {"config": config, "rows_used_fingerprint": fingerprint})


def partial_dir(output_dir: str | None, name: str) -> Path:
    """Where an unfinished run keeps its checkpoints: ``<output_dir>/<name>.partial``.

    Args:
        output_dir: The config's ``output_dir`` (None = ``$WORKBENCH_HOME/runs``).
        name: The run name.
    """
    from .. import paths

    return Path(output_dir or paths.runs_dir()) / f"{name}.partial"
