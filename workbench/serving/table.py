"""Predictions as a table: one row per input sequence, the same columns wherever a data team scores.

The MLflow pyfunc model (:mod:`workbench.registry.pyfunc_loader`: notebooks, ``mlflow models serve``, Spark's
``spark_udf``) and ``workbench predict --source/--input`` (:mod:`workbench.scoring`) both call
:func:`score_table`, so their outputs are the same by construction:

- classification: ``label`` (the class code), ``name`` (its readable name, ``task.json`` ``label_names``) and
  ``p_<class>`` (the probability of each class, float64, summing to 1);
- regression: ``value`` (float64, in the units of the training target);
- both: ``error`` (None, or why this row's sequence was refused: empty, too long, letters outside the IUPAC
  alphabet). A refused row gets null predictions; the other rows are still scored.
"""

from __future__ import annotations

from ..data.sequences import check_sequence

ERROR = "error"


def output_columns(task: dict) -> list[tuple[str, str]]:
    """``(name, type)`` of each output column for a run's ``task.json``; type is ``string`` or ``double``."""
    if task.get("type") == "regression":
        return [("value", "double"), (ERROR, "string")]
    return ([("label", "string"), ("name", "string")] + [(f"p_{c}", "double") for c in task.get("labels", [])]
            + [(ERROR, "string")])


def check_rows(sequences: list, max_length: int) -> tuple[list[str | None], list[str | None]]:
    """Validates each sequence on its own.

    Args:
        sequences: Raw sequences, shape ``(rows,)``; None or NaN counts as empty.
        max_length: Longest accepted sequence, in nucleotides.

    Returns:
        ``(clean, errors)``, both shape ``(rows,)``: the normalised sequence or None, and None or the reason.
    """
    clean: list[str | None] = []
    errors: list[str | None] = []
    for raw in sequences:
        text = raw if isinstance(raw, str) else ""
        try:
            clean.append(check_sequence(text, max_length))
            errors.append(None)
        except ValueError as exc:
            clean.append(None)
            errors.append(str(exc))
    return clean, errors


def score_rows(predictor, sequences: list, batch_size: int = 64) -> list[dict]:
    """Scores sequences, refusing bad ones row by row.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor` (classification or regression).
        sequences: Raw sequences, shape ``(rows,)``.
        batch_size: Sequences per forward pass (sequences are grouped by length first).

    Returns:
        One dict per input row, in order, with the keys of :func:`output_columns`.
    """
    clean, errors = check_rows(list(sequences), predictor.task["max_length"])
    good = [i for i, s in enumerate(clean) if s is not None]
    preds = dict(zip(good, predictor.predict([clean[i] for i in good], batch_size=batch_size))) if good else {}
    names = predictor.task.get("label_names") or {}
    rows = []
    for i, error in enumerate(errors):
        pred = preds.get(i)
        if predictor.task_type == "regression":
            rows.append({"value": None if pred is None else pred.value, ERROR: error})
            continue
        row = {"label": None, "name": None, **{f"p_{c}": None for c in predictor.labels}, ERROR: error}
        if pred is not None:
            row.update(label=pred.label, name=names.get(pred.label, pred.label),
                       **{f"p_{c}": p for c, p in pred.probabilities.items()})
        rows.append(row)
    return rows


def score_table(predictor, sequences: list, batch_size: int = 64):
    """:func:`score_rows` as a :class:`pandas.DataFrame` with the columns of :func:`output_columns`, in order.

    Probability and value columns are float64 (NaN where the row was refused); the others are object columns.
    """
    import pandas as pd

    columns = output_columns(predictor.task)
    frame = pd.DataFrame(score_rows(predictor, sequences, batch_size), columns=[c for c, _ in columns])
    for name, kind in columns:
        if kind == "double":
            frame[name] = frame[name].astype("float64")
    return frame
