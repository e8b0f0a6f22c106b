"""Recording an external evaluation: an entry appended to the run's ``metrics.json`` (``external_evaluations``), a
section appended to its model card, both written atomically under a lock, and an MLflow run linked to the evaluated
run (and to the registered version, which gets ``external.<name>.<metric>`` tags).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on the run directory's ``.evaluate.lock`` (two evaluations never lose each other's entry)."""
    with open(run_dir / ".evaluate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_entry(run_dir: Path, entry: dict[str, Any], section: str) -> None:
    """Appends ``entry`` to ``metrics.json``'s ``external_evaluations`` and ``section`` to ``README.md``."""
    from ..runs.run_dir import write_json, write_text

    with _locked(run_dir):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        metrics.setdefault("external_evaluations", []).append(entry)
        write_json(run_dir / "metrics.json", metrics)
        card = run_dir / "README.md"
        write_text(card, (card.read_text() if card.is_file() else "").rstrip("\n") + "\n" + section)


def numeric(entry: dict[str, Any]) -> dict[str, float]:
    """The entry's numeric figures as MLflow metric names: ``external.<metric>`` for the model and
    ``external.baseline.<name>.<metric>`` for each baseline (per-class and matrix figures left out)."""
    out = {}
    groups = [("external", entry["metrics"])] + [(f"external.baseline.{k}", v) for k, v in entry["baselines"].items()]
    for prefix, figures in groups:
        for key, value in figures.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                out[f"{prefix}.{key}"] = float(value)
    for name, vs in (entry["metrics"].get("vs_baselines") or {}).items():
        out[f"external.vs.{name}.difference"] = float(vs["difference"])
    return out


def log_to_mlflow(run_dir: Path, entry: dict[str, Any], spec: str | None) -> str | None:
    """Logs the evaluation as an MLflow run in the model's experiment, tagged with the evaluated run (and version);
    tags the registered version. A store that cannot be reached only warns. Returns the MLflow run id or None."""
    try:
        return _log(run_dir, entry, spec)
    except Exception as exc:  # noqa: BLE001 - the evaluation is recorded in the run directory either way
        from data_connectors import redact

        log.warning("could not log the evaluation to the tracking store (%s: %s); it is in %s/metrics.json",
                    type(exc).__name__, redact(str(exc))[:300], run_dir)
        return None


def _log(run_dir: Path, entry: dict[str, Any], spec: str | None) -> str:
    from mlflow.entities import Metric

    from ..registry.tracking import client as make_client
    from ..registry.tracking import experiment_id
    from ..registry.versions import get_version, parse_spec

    c = make_client()
    name = parse_spec(spec)[0] if spec else entry["model_name"]
    tags = {"workbench.external_evaluation": entry["name"], "workbench.evaluated_run_dir": str(run_dir.resolve()),
            "registered_model": name, "external_data_fingerprint": entry["source"]["fingerprint"],
            "external_data_source": entry["source"]["location"]}
    version = None
    if spec:
        version = get_version(*parse_spec(spec))
        tags.update({"model_version": str(version.version), "evaluated_run_id": version.run_id or ""})
    else:
        found = c.search_runs([e.experiment_id for e in c.search_experiments()],
                              filter_string=f"tags.`workbench.run_dir` = '{run_dir.resolve()}'", max_results=1)
        if found:
            tags["evaluated_run_id"] = found[0].info.run_id
    run = c.create_run(experiment_id(c, f"workbench/{name}"),
                       run_name=f"evaluate-{entry['name']}-{time.strftime('%Y%m%d-%H%M%S')}", tags=tags)
    now = int(time.time() * 1000)
    values = [Metric(k[:250], v, now, 0) for k, v in numeric(entry).items()]
    for i in range(0, len(values), 100):
        c.log_batch(run.info.run_id, metrics=values[i:i + 100])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "external_evaluation.json"
        path.write_text(json.dumps(entry, indent=2, default=str) + "\n")
        c.log_artifact(run.info.run_id, str(path), "external")
    c.set_terminated(run.info.run_id)
    if version is not None:
        main = "accuracy" if "accuracy" in entry["metrics"] else "spearman"
        c.set_model_version_tag(name, str(version.version), f"external.{entry['name']}.{main}",
                                f"{entry['metrics'][main]:.6f}")
        c.set_model_version_tag(name, str(version.version), f"external.{entry['name']}.mlflow_run", run.info.run_id)
    return run.info.run_id
