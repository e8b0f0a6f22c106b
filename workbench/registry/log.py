"""Log a finished run directory to the tracking store: its redacted config as params, its metrics, its files
(model card, plots, adapter, ``config.yaml``, lineage) as artifacts, and its provenance as tags.

The pipeline calls :func:`track_run` after the run directory is complete (``registry.track``, on by default);
``registry.register_version`` also adds it as a version of the registered model. A registered version carries the data
fingerprint, the base model's sha256, the package versions and the git commit as tags, and its files are an MLflow
Model (the pyfunc flavor with the base model included: :mod:`.pyfunc`).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .tracking import ARTIFACT_DIR, experiment_id

log = logging.getLogger(__name__)
_SKIP = ("exports",)  # exports are rebuilt from a version with `workbench export --model`


@dataclass
class TrackedRun:
    """A run directory logged to the tracking store.

    Attributes:
        run_id: The MLflow run id.
        version: The registered model version it became (None if not registered).
        tags: The provenance tags set on the run (and on the version).
    """

    run_id: str
    version: str | None
    tags: dict[str, str]


def git_commit() -> str:
    """The workbench checkout's git commit (``<sha>-dirty`` with uncommitted changes), or ``unknown``."""
    repo = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are kept as leaves."""
    if not isinstance(data, dict):
        return {prefix.rstrip("."): data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}{key}."))
    return out


def _metric_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)[:250]


def run_metrics(metrics: dict) -> dict[str, float]:
    """The numeric leaves of ``metrics.json``'s test and baseline sections and the training figures."""
    out = {}
    sections = {"test": metrics.get("test", {}), "baseline": metrics.get("baselines", {}),
                "training": {k: v for k, v in metrics.get("training", {}).items()
                             if k in ("seconds", "steps", "best_val_score", "best_step", "trainable_parameters")}}
    for prefix, section in sections.items():
        for key, value in flatten(section, prefix + ".").items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[_metric_name(key)] = float(value)
    return out


def run_tags(run_dir: Path) -> dict[str, str]:
    """Provenance tags of a run directory: data fingerprints, base model sha256, package versions, git commit, and
    for a predictor started from a pretraining run, that run, its corpus fingerprint, tokens and bits per base."""
    task = json.loads((run_dir / "task.json").read_text())
    lineage = json.loads((run_dir / "lineage.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    versions = metrics.get("training", {}).get("versions") or _versions_from_card(run_dir)
    base = task.get("base_model", {})
    tags = {"workbench.run_dir": str(run_dir.resolve()), "task_type": task.get("type", "classification"),
            "data_fingerprint": lineage.get("fingerprint", ""), "data_source": lineage.get("location", ""),
            "data_rows": str(lineage.get("rows", "")),
            "rows_used_fingerprint": str(metrics.get("data", {}).get("rows_used_fingerprint", "")),
            "base_model": str(base.get("name", base.get("spec", ""))), "base_model_sha256": str(base.get("sha256", "")),
            "git_commit": git_commit(), "package_versions": json.dumps(versions, sort_keys=True)}
    tags.update({f"version.{k}": str(v) for k, v in versions.items()})
    pre = base.get("pretraining") or {}
    if pre:  # a predictor built on a pretraining run: its lineage
        tags.update({"pretrained_from": pre.get("reference") or pre.get("run_dir", ""),
                     "pretrain_run": str(pre.get("run", "")),
                     "pretrain_corpus_fingerprint": str(pre.get("corpus_fingerprint", "")),
                     "pretrain_tokens": str(pre.get("tokens_seen", "")),
                     "pretrain_bits_per_base": str(pre.get("bits_per_base", ""))})
    return tags


def _versions_from_card(run_dir: Path) -> dict[str, str]:
    """The package versions the run recorded (the model card's ``## Software`` line: ``name version, ...``)."""
    card = run_dir / "README.md"
    text = card.read_text() if card.is_file() else ""
    match = re.search(r"^## Software\n(.+)$", text, re.M)
    if not match:
        from ..runs.provenance import package_versions

        return package_versions()
    return dict(item.rsplit(" ", 1) for item in match.group(1).split(", ") if " " in item)


def track_run(run_dir: str | Path, model_name: str | None = None, register: bool = False,
              experiment: str | None = None, extra_tags: dict[str, str] | None = None) -> TrackedRun:
    """Logs a complete run directory to the tracking store (and registers it as a model version).

    Args:
        run_dir: A complete run directory.
        model_name: Registered model name; default the config's ``registry.model_name`` or ``name``.
        register: Also create a new version of ``model_name`` from the logged artifacts.
        experiment: MLflow experiment; default ``workbench/<model_name>``.
        extra_tags: More tags for the run and the version (e.g. the frozen set of a re-tune).

    Returns:
        A :class:`TrackedRun`.

    Raises:
        FileNotFoundError: ``run_dir`` lacks ``config.yaml``, ``metrics.json``, ``task.json`` or ``lineage.json``.
        mlflow.exceptions.MlflowException: The store cannot be reached or refuses the write.
    """
    from .tracking import client as make_client

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    name = model_name or (config.get("registry") or {}).get("model_name") or config["name"]
    tags = {**run_tags(run_dir), "registered_model": name, **(extra_tags or {})}
    nothing = learnt_nothing(metrics)
    if nothing:  # marked on the run and the version; a re-tune never registers such a challenger at all
        tags["learnt_nothing"] = "true"
    client = make_client()
    run = client.create_run(experiment_id(client, experiment or f"workbench/{name}"),
                            run_name=f"{config['name']}-{time.strftime('%Y%m%d-%H%M%S')}", tags=tags)
    run_id = run.info.run_id
    try:
        _log_contents(client, run_id, run_dir, config, metrics)
        if register:  # a version is an MLflow Model (pyfunc flavor, base model included): registry/pyfunc.py
            from .pyfunc import add_pyfunc

            add_pyfunc(client, run_id, run_dir, ARTIFACT_DIR)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    version = None
    if nothing:
        log.warning("%s: %s%s", run_dir, nothing, "; registered, marked learnt_nothing=true" if register else "")
    if register:
        from .versions import register_version

        version = register_version(name, run_id, tags)
    log.info("tracked %s as MLflow run %s%s", run_dir, run_id, f" (version {name}/{version})" if version else "")
    return TrackedRun(run_id, version, tags)


def learnt_nothing(metrics: dict) -> str | None:
    """Why a run's model learnt nothing (``metrics.json``'s ``training.learning_check``), or ``None`` if it learnt
    something (or was written before the check existed). A run that learnt nothing is tagged ``learnt_nothing``;
    a re-tune never registers or promotes such a challenger (:mod:`workbench.retune.run`)."""
    check = (metrics.get("training") or {}).get("learning_check") or {}
    if check.get("learnt", True):
        return None
    return "the model learnt nothing (" + "; ".join(check.get("reasons") or []) + ")"


def _log_contents(client, run_id: str, run_dir: Path, config: dict, metrics: dict) -> None:
    from mlflow.entities import Metric, Param

    params = [Param(k[:250], str(v)[:500]) for k, v in flatten(config).items()]
    now = int(time.time() * 1000)
    values = [Metric(k, v, now, 0) for k, v in run_metrics(metrics).items()]
    values += [Metric("train_loss", float(loss), now, int(step))
               for step, loss in metrics.get("training", {}).get("loss_history", [])]
    values += [Metric("val_score", float(score), now, int(step))
               for step, score in metrics.get("training", {}).get("val_history", [])]
    for i in range(0, max(len(params), len(values)), 100):
        client.log_batch(run_id, metrics=values[i:i + 100], params=params[i:i + 100])
    for child in sorted(run_dir.iterdir()):
        if child.name in _SKIP or child.name.startswith("."):
            continue
        if child.is_dir():
            client.log_artifacts(run_id, str(child), f"{ARTIFACT_DIR}/{child.name}")
        else:
            client.log_artifact(run_id, str(child), ARTIFACT_DIR)


def track_after_run(run_dir: Path, config) -> TrackedRun | None:
    """What the pipeline calls once a run directory is complete: :func:`track_run` per ``config.registry``.

    A store that cannot be reached (or refuses the write) only logs a warning, naming the command that logs the run
    later; the run directory is complete either way.
    """
    reg = config.registry
    try:
        return track_run(run_dir, reg.model_name or config.name, register=reg.register_version)
    except Exception as exc:  # noqa: BLE001 - tracking must not fail a finished run
        from data_connectors import redact

        log.warning("could not log %s to the tracking store (%s: %s); log it later with "
                    "`workbench models log %s`", run_dir, type(exc).__name__, redact(str(exc))[:300], run_dir)
        return None
