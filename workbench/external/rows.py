"""The rows of an external evaluation: the labelled external set, read and validated as the run's own rows were, and
the run's training and validation rows, recovered by re-reading its source and re-splitting it.

A run directory records its resolved config (``config.yaml``, secrets redacted) and the fingerprint of the rows it
used (``metrics.json`` ``data.rows_used_fingerprint``); re-reading the same source with the same config gives the
same split, and the fingerprint proves it. A source that changed since (or a redacted secret, a path relative to
another directory) is refused with what to pass (``--set source.url=...``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

import data_connectors as dc


class EvaluationError(ValueError):
    """Raised when an external set cannot be scored against a run (unknown labels, changed training data, ...)."""


@dataclass
class RunRows:
    """A finished run's config and the rows it trained and validated on.

    Attributes:
        config: The run's validated config (with ``--set`` overrides applied).
        labels: Classification: the run's labels in the model's order; regression: empty.
        train: ``(sequences, targets)`` of the training split (class indices or values).
        validation: The same for the validation split.
        train_ids: A readable id per training row (the source's ``id``, else ``row N``).
    """

    config: object
    labels: list[str]
    train: tuple[list[str], list]
    validation: tuple[list[str], list]
    train_ids: list[str]


def run_config(run_dir: Path, overrides: dict | None = None):
    """The run's resolved config from ``config.yaml``, with dotted ``overrides`` applied and re-validated.

    Raises:
        EvaluationError: The run is not a sequence run, or its config no longer validates.
    """
    from ..config import ConfigError, validate_config

    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    task_type = (data.get("task") or {}).get("type", "classification")
    if task_type not in ("classification", "regression"):
        raise EvaluationError(f"{run_dir} is a {task_type} run; `workbench evaluate` scores sequence classification "
                              "and regression runs.")
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise EvaluationError(f"{run_dir}/config.yaml no longer validates ({exc}); fix it with --set.") from None


def recover_training_rows(run_dir: Path, overrides: dict | None = None) -> RunRows:
    """Re-reads and re-splits the run's source and checks the rows against the run's fingerprint.

    Args:
        run_dir: A complete sequence run directory.
        overrides: ``--set`` style dotted keys for the run's config (e.g. a source URL whose secret was redacted).

    Raises:
        EvaluationError: The source cannot be read, or its rows no longer give the run's fingerprint.
    """
    from ..tasks import get_task

    cfg = run_config(run_dir, overrides)
    recorded = json.loads((run_dir / "metrics.json").read_text()).get("data", {}).get("rows_used_fingerprint")
    task = get_task(cfg.task.type)(cfg)
    try:
        rows, part, splits, _, extra, _ = task.read_and_split()
    except (ValueError, OSError) as exc:
        raise EvaluationError(f"cannot re-read the run's training data to refit its baselines ({exc}). Point the "
                              "run's source at the data it used with --set (e.g. --set source.path=...).") from None
    got = dc.fingerprint_rows((rows.sequences[i], rows.labels[i]) for name in ("train", "validation", "test")
                              for i in splits[name])
    if recorded and got != recorded:
        raise EvaluationError(f"the run's source no longer gives the rows it trained on (fingerprint {got[:12]}…, the "
                              f"run recorded {recorded[:12]}…): the data changed since the run, so its baselines "
                              "cannot be refitted on its own training rows. Point --set source... at the data the run "
                              "used.")
    return RunRows(cfg, extra.get("labels", []), part["train"], part["validation"],
                   [rows.ids[i] for i in splits["train"]])


def read_external(run_cfg, source_file: Path | None = None, input_file: Path | None = None,
                  sequence_column: str | None = None, label_column: str | None = None):
    """Reads and validates the external rows with the run's data policy (IUPAC codes, length).

    Args:
        run_cfg: The run's config (its ``columns`` and ``data`` apply unless the external set says otherwise).
        source_file: A YAML file with a ``source:`` block (any connector) and optionally ``columns:`` and ``name:``.
        input_file: A CSV/TSV/Parquet/JSONL file (the ``files`` connector).
        sequence_column: The sequence column's name (default: the YAML's ``columns``, else the run's).
        label_column: The label column's name (default likewise).

    Returns:
        ``(rows, name)``: the :class:`~workbench.data.sources.SequenceRows` and the evaluation's name.

    Raises:
        EvaluationError: Neither or both of ``source_file`` and ``input_file``; a YAML without ``source:``.
        data_connectors.ConnectorError: The source cannot be read or lacks the columns.
        workbench.data.sequences.SequenceError: A sequence is invalid.
    """
    from ..config import ConfigError
    from ..config.loader import read_yaml
    from ..data.sources import read_sequences

    if (source_file is None) == (input_file is None):
        raise EvaluationError("give the external labelled set as --source TEST.yaml or --input FILE (one of them).")
    columns = run_cfg.columns.model_dump()
    if source_file is not None:
        try:
            spec = read_yaml(source_file)
        except ConfigError as exc:
            raise EvaluationError(str(exc)) from None
        if "source" not in spec:
            raise EvaluationError(f"{source_file} has no `source:` block; write the external set's connector there "
                                  "as in a run config (and `columns:` if its columns differ from the run's).")
        source, name = dc.parse_source(spec["source"]), str(spec.get("name") or Path(source_file).stem)
        columns.update(spec.get("columns") or {})
    else:
        source, name = dc.parse_source({"kind": "files", "path": str(input_file)}), Path(input_file).stem
    columns.update({k: v for k, v in (("sequence", sequence_column), ("label", label_column)) if v})
    data = run_cfg.data.model_copy(update={"exclude_from": None})
    cfg = run_cfg.model_copy(update={"source": source, "data": data,
                                     "columns": run_cfg.columns.model_copy(update=columns)})
    return read_sequences(cfg), name


def targets_of(rows, task_type: str, labels: list[str], column: str) -> list:
    """The external rows' targets: class indices into the run's ``labels``, or finite floats (regression).

    Raises:
        EvaluationError: Labels the run never saw (each named with its row count) or non-numeric targets.
    """
    if task_type == "regression":
        from ..tasks.regression import parse_targets

        try:
            return parse_targets(rows.labels, column)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from None
    unknown: dict[str, int] = {}
    for y in rows.labels:
        if y not in labels:
            unknown[y] = unknown.get(y, 0) + 1
    if unknown:
        shown = ", ".join(f"{y!r} ({n} rows)" for y, n in sorted(unknown.items(), key=lambda kv: -kv[1])[:10])
        raise EvaluationError(f"the external set has label(s) {shown} that the run never saw; it knows {labels}. "
                              "Relabel them in the source (a SQL CASE, a label_table) or filter those rows.")
    return [labels.index(y) for y in rows.labels]
