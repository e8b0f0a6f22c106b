"""Scoring an external set: the run's model through :class:`~workbench.serving.predictor.Predictor` (as served),
the card's metrics, the run's classical baselines refitted on its own training rows (with the ``C`` the run chose
on validation) and scored on the same external rows, and each accuracy difference with its paired-bootstrap interval.
"""

from __future__ import annotations

import time

import numpy as np


def _precision(run_dir) -> str:
    """The precision the run evaluated its test split in (``metrics.json`` ``training.precision``), so an external
    score is computed as the card's was."""
    import json
    from pathlib import Path

    training = json.loads((Path(run_dir) / "metrics.json").read_text()).get("training", {})
    return training.get("precision") if training.get("precision") in ("fp32", "bf16") else "auto"


def score_classification(run_dir, sequences: list[str], y: list[int], run_rows, baselines: dict) -> dict:
    """Metrics of the model and the refitted baselines on external rows (classification).

    Args:
        run_dir: The run directory (or a registered version's files).
        sequences: External sequences, ``(n,)``.
        y: Their class indices into ``run_rows.labels``, ``(n,)``.
        run_rows: The run's :class:`~workbench.external.rows.RunRows`.
        baselines: The run's recorded baselines (``metrics.json`` ``baselines``), for their ``C``.

    Returns:
        ``{"metrics": ..., "baselines": ..., "seconds": {"model", "baselines"}}``; ``metrics`` as the card's
        (:func:`~workbench.evaluation.metrics.classification_metrics`) plus ``vs_baselines`` (per baseline the
        accuracy difference and its paired-bootstrap 95 % interval over the same resamples of the external rows).
    """
    from ..evaluation.baselines import run_baselines
    from ..evaluation.metrics import classification_metrics, paired_difference_ci
    from ..serving.predictor import Predictor

    labels = run_rows.labels
    start = time.perf_counter()
    predictions = Predictor.load(run_dir, _precision(run_dir)).predict(sequences)
    proba = np.array([[p.probabilities[name] for name in labels] for p in predictions])
    pred = proba.argmax(1).tolist()
    metrics = classification_metrics(list(y), pred, labels, proba)
    model_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fixed = {k: v.get("C") for k, v in baselines.items() if v.get("C") is not None}
    results, base_pred = run_baselines(*run_rows.train, sequences, list(y), labels, return_predictions=True,
                                       val_seqs=run_rows.validation[0], val_y=run_rows.validation[1], fixed_c=fixed)
    metrics["vs_baselines"] = {name: paired_difference_ci(y, pred, p) for name, p in base_pred.items()}
    return {"metrics": metrics, "baselines": results,
            "seconds": {"model": round(model_seconds, 2), "baselines": round(time.perf_counter() - start, 2)}}


def score_regression(run_dir, sequences: list[str], y: list[float], run_rows) -> dict:
    """Metrics of the model and the refitted ridge baselines on external rows (regression); ``vs_baselines`` holds
    the difference in R² per baseline with its paired-bootstrap interval."""
    from ..evaluation.baselines import run_regression_baselines
    from ..evaluation.metrics import paired_difference_ci, regression_metrics
    from ..serving.predictor import Predictor

    start = time.perf_counter()
    pred = [p.value for p in Predictor.load(run_dir, _precision(run_dir)).predict(sequences)]
    metrics = regression_metrics(list(y), pred)
    model_seconds = time.perf_counter() - start
    start = time.perf_counter()
    results, base_pred = run_regression_baselines(*run_rows.train, sequences, list(y), return_predictions=True)

    def r2(t, p) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(t, p))

    metrics["vs_baselines"] = {name: {**paired_difference_ci(y, pred, p, fn=r2), "metric": "r2"}
                               for name, p in base_pred.items()}
    return {"metrics": metrics, "baselines": results,
            "seconds": {"model": round(model_seconds, 2), "baselines": round(time.perf_counter() - start, 2)}}
