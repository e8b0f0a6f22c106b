"""External test sets: score a finished run, or a registered version, on labelled rows from outside its data.

Run as::

    workbench evaluate RUN_DIR --input independent_test.csv
    workbench evaluate splice@champion --source test_set.yaml

:func:`evaluate_external` reads and validates the external rows as the run's own were (:mod:`.rows`), recovers the
run's training and validation rows by re-reading and re-splitting its source (checked against the run's
fingerprint), scores the model and the run's tuned classical baselines refitted on those rows (:mod:`.score`),
reports leakage between the run's training rows and the external rows, and records the result (:mod:`.record`):
an ``external_evaluations`` entry in ``metrics.json``, a model-card section, an MLflow run linked to the version.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from .rows import EvaluationError

log = logging.getLogger(__name__)
__all__ = ["EvaluationError", "evaluate_external", "resolve_target"]


def resolve_target(target: str) -> tuple[Path, str | None]:
    """``(run_dir, spec)``: an existing run directory (spec None), or ``NAME@REF`` resolved through the registry.

    Raises:
        EvaluationError: ``target`` is neither.
        workbench.registry.RegistryError: The version does not exist.
    """
    path = Path(target).expanduser()
    if path.is_dir():
        return path, None
    if "@" in target:
        from ..registry import resolve_run_dir

        return resolve_run_dir(target), target
    raise EvaluationError(f"{target!r} is neither a run directory nor a registered version (NAME@champion, "
                          "NAME@challenger, NAME@3).")


def evaluate_external(target: str, source_file: Path | None = None, input_file: Path | None = None,
                      name: str | None = None, overrides: dict | None = None, sequence_column: str | None = None,
                      label_column: str | None = None) -> dict:
    """Scores a run (or registered version) on an external labelled set and records the result.

    Args:
        target: A run directory or ``NAME@champion|@challenger|@N``.
        source_file: A YAML file with the external set's ``source:`` block (and optional ``columns:``, ``name:``).
        input_file: A CSV/TSV/Parquet/JSONL file with the run's sequence and label columns.
        name: The evaluation's name (default: the YAML's ``name`` or the file's stem).
        overrides: ``--set`` dotted keys for the run's config when its training rows are re-read.
        sequence_column: The external set's sequence column (default: the run's).
        label_column: The external set's label column (default: the run's).

    Returns:
        The ``external_evaluations`` entry: ``name``, ``date``, ``source`` (kind, location, fingerprint, rows),
        ``task_type``, ``metrics`` (the card's, plus ``vs_baselines``), ``baselines``, ``leakage`` (the run's training
        rows vs the external rows), ``model`` (run directory, spec, version), ``mlflow_run_id``, ``seconds``.

    Raises:
        EvaluationError: Unknown labels, a changed training source, a missing or ambiguous external set.
        data_connectors.ConnectorError: The external set cannot be read.
        workbench.data.sequences.SequenceError: An external sequence is invalid.
    """
    from .. import audit
    from ..data.leakage import leakage_report
    from .record import append_entry, log_to_mlflow
    from .rows import read_external, recover_training_rows, run_config, targets_of
    from .score import score_classification, score_regression
    from .section import external_section

    start = time.perf_counter()
    run_dir, spec = resolve_target(target)
    cfg = run_config(run_dir, overrides)
    rows, default_name = read_external(cfg, source_file, input_file, sequence_column, label_column)
    name = name or default_name
    if not rows.sequences:
        raise EvaluationError(f"the external set {rows.lineage.location} has no usable rows.")
    run_rows = recover_training_rows(run_dir, overrides)
    y = targets_of(rows, cfg.task.type, run_rows.labels, label_column or cfg.columns.label)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if cfg.task.type == "regression":
        scored = score_regression(run_dir, rows.sequences, y, run_rows)
    else:
        scored = score_classification(run_dir, rows.sequences, y, run_rows, metrics.get("baselines", {}))
    leak = leakage_report({"train": run_rows.train[0], "external": rows.sequences}, cfg.data.leakage.k,
                          {"train": run_rows.train_ids, "external": rows.ids}, cfg.data.leakage.examples)
    lineage = rows.lineage
    entry = {"name": name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "task_type": cfg.task.type,
             "source": {"kind": lineage.kind, "location": lineage.location, "fingerprint": lineage.fingerprint,
                        "rows": lineage.rows, "query": lineage.query, "ambiguity": asdict(rows.ambiguity)},
             "metrics": scored["metrics"], "baselines": scored["baselines"], "leakage": leak.to_dict(),
             "model": {"run_dir": str(run_dir), "spec": spec}, "model_name": cfg.registry.model_name or cfg.name,
             "seconds": scored["seconds"]}
    entry["mlflow_run_id"] = log_to_mlflow(run_dir, entry, spec)
    entry["seconds"]["total"] = round(time.perf_counter() - start, 2)
    append_entry(run_dir, entry, external_section(entry))
    audit.record("evaluate", spec or str(run_dir), name=name, n=entry["metrics"]["n"],
                 data_fingerprint=lineage.fingerprint, metrics={k: v for k, v in entry["metrics"].items()
                                                                if isinstance(v, (int, float))})
    log.info("external evaluation %r of %s recorded in %s/metrics.json", name, spec or run_dir, run_dir)
    return entry
