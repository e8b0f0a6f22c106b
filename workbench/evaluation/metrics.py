"""Classification and regression metrics and their plots (scikit-learn, SciPy, matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def classification_metrics(y_true: list[int], y_pred: list[int], labels: list[str],
                           proba: np.ndarray | None = None) -> dict:
    """Computes the metrics reported for a classifier.

    Args:
        y_true: True class index per row, shape ``(rows,)``.
        y_pred: Predicted class index per row, shape ``(rows,)``.
        labels: Class names; index ``i`` names class ``i``.
        proba: Optional class probabilities, shape ``(rows, n_labels)``, for AUROC (one-vs-rest macro).

    Returns:
        Dict with ``accuracy``, ``macro_f1``, ``mcc`` (multi-class Matthews correlation),
        ``auroc`` (when ``proba`` is given and every class occurs), ``per_class``
        (precision/recall/f1/support per label), ``confusion_matrix`` (rows = true, cols = predicted),
        ``ci95`` (percentile-bootstrap 95 % intervals of accuracy and MCC, see :func:`bootstrap_ci`) and ``n``.
    """
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, matthews_corrcoef,
                                 precision_recall_fscore_support, roc_auc_score)

    idx = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    out = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=idx, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "ci95": bootstrap_ci(y_true, y_pred),
    }
    if proba is not None and len(set(y_true)) == len(labels):
        if len(labels) == 2:
            out["auroc"] = float(roc_auc_score(y_true, proba[:, 1]))
        else:
            out["auroc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=idx))
    return out


def bootstrap_ci(y_true: list[int], y_pred: list[int], n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, list[float]]:
    """Percentile-bootstrap confidence intervals of accuracy and MCC on one test split.

    Rows are resampled with replacement ``n_resamples`` times (seeded, so the interval is
    reproducible); the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the
    resampled metric. It measures the uncertainty due to the finite test split only, not seed-to-seed
    training variance (run several seeds for that). Source: Efron & Tibshirani (1993), *An
    Introduction to the Bootstrap*, ch. 13 (percentile interval).

    Args:
        y_true: True class index per row, shape ``(rows,)``.
        y_pred: Predicted class index per row, shape ``(rows,)``.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling.
        level: Coverage of the interval, in (0, 1).

    Returns:
        ``{"accuracy": [low, high], "mcc": [low, high]}``; empty dict for an empty split.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) == 0:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), size=(n_resamples, len(t)))  # (n_resamples, rows)
    acc = (t[idx] == p[idx]).mean(axis=1)
    mcc = _mcc_per_resample(t[idx], p[idx])
    q = [(1 - level) / 2, (1 + level) / 2]
    return {"accuracy": np.quantile(acc, q).round(4).tolist(), "mcc": np.quantile(mcc, q).round(4).tolist()}


def _mcc_per_resample(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Matthews correlation of each row of ``t`` against the same row of ``p``, all rows at once.

    The same arithmetic as :func:`sklearn.metrics.matthews_corrcoef` (multiclass form, Gorodkin 2004) on each row's
    confusion matrix; every intermediate is an exact integer in float64, so the values equal sklearn's bit for bit
    (0.0 where a row has one class only). ``t``, ``p``: class indices, shape ``(n_resamples, rows)``; returns shape
    ``(n_resamples,)``.
    """
    k = int(max(t.max(), p.max())) + 1
    r = t.shape[0]
    codes = (np.arange(r)[:, None] * k * k + t * k + p).ravel()
    confusion = np.bincount(codes, minlength=r * k * k).reshape(r, k, k)  # (n_resamples, true, predicted)
    t_sum = confusion.sum(axis=2, dtype=np.float64)
    p_sum = confusion.sum(axis=1, dtype=np.float64)
    n_correct = np.trace(confusion, axis1=1, axis2=2).astype(np.float64)
    n_samples = p_sum.sum(axis=1)
    cov_ytyp = n_correct * n_samples - (t_sum * p_sum).sum(axis=1)
    cov_ypyp = n_samples ** 2 - (p_sum * p_sum).sum(axis=1)
    cov_ytyt = n_samples ** 2 - (t_sum * t_sum).sum(axis=1)
    denominator = cov_ypyp * cov_ytyt
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, 0.0, cov_ytyp / np.sqrt(denominator))


def paired_difference_ci(y_true, pred_a, pred_b, fn=None, n_resamples: int = 1000, seed: int = 0,
                         level: float = 0.95) -> dict:
    """Percentile-bootstrap interval of a metric's difference between two models scored on the same rows.

    Each resample draws rows with replacement once and scores both models on it (a paired bootstrap), so
    the interval reflects how much the *difference* depends on which test rows were drawn; an interval that
    excludes 0 says the win (or loss) is not an accident of the split. Seed-to-seed training variance is not
    included. Source: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*, ch. 13 (percentile
    interval) and ch. 15 (paired comparisons).

    Args:
        y_true: True labels or values, shape ``(rows,)``.
        pred_a: Model A's predictions (the model being reported), shape ``(rows,)``.
        pred_b: Model B's predictions (the comparison, e.g. a baseline), shape ``(rows,)``.
        fn: ``fn(y_true, y_pred) -> float``, higher is better; default accuracy.
        n_resamples: Bootstrap resamples.
        seed: Seed of the resampling (the interval is reproducible).
        level: Coverage of the interval, in (0, 1).

    Returns:
        ``{"difference": fn(a) - fn(b), "ci95": [low, high]}`` on the full rows and over the resamples.

    Raises:
        ValueError: If the three arrays differ in length or are empty.
    """
    t, a, b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (len(t) == len(a) == len(b)) or len(t) == 0:
        raise ValueError(f"paired_difference_ci needs three equally long, non-empty arrays; got {len(t)} true "
                         f"values and {len(a)} and {len(b)} predictions.")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(t), size=(n_resamples, len(t)))  # (n_resamples, rows)
    if fn is None:  # accuracy, vectorised over the resamples
        hits_a, hits_b = (a == t), (b == t)
        diffs = hits_a[idx].mean(axis=1) - hits_b[idx].mean(axis=1)
        difference = float(hits_a.mean() - hits_b.mean())
    else:
        diffs = np.array([fn(t[i], a[i]) - fn(t[i], b[i]) for i in idx])
        difference = float(fn(t, a) - fn(t, b))
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return {"difference": round(difference, 6), "ci95": [round(float(low), 6), round(float(high), 6)]}


def accuracy_stderr(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` rows: ``sqrt(p (1 - p) / n)`` (0-1 scale).

    Raises:
        ValueError: If ``n`` < 1 or ``accuracy`` is outside [0, 1].
    """
    if n < 1 or not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy_stderr needs n >= 1 rows and an accuracy in [0, 1]; got n={n}, accuracy={accuracy}.")
    return float(np.sqrt(accuracy * (1.0 - accuracy) / n))


def spearman_stderr(rho: float, n: int) -> float:
    """Approximate standard error of a Spearman correlation on ``n`` rows: ``(1 - rho^2) sqrt(1.06 / (n - 3))``,
    the delta method applied to Fisher's z, whose variance for a rank correlation is about 1.06 / (n - 3)
    (Fieller, Hartley & Pearson 1957, "Tests for rank correlation coefficients. I", Biometrika 44: 470-481).

    Raises:
        ValueError: If ``n`` < 4 or ``rho`` is outside [-1, 1].
    """
    if n < 4 or not -1.0 <= rho <= 1.0:
        raise ValueError(f"spearman_stderr needs n >= 4 rows and rho in [-1, 1]; got n={n}, rho={rho}.")
    return float((1.0 - rho * rho) * np.sqrt(1.06 / (n - 3)))


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> Path:
    """Saves a confusion-matrix PNG (rows = true class, columns = predicted).

    Args:
        matrix: Counts, shape ``(n_labels, n_labels)``.
        labels: Class names.
        path: Output ``.png`` path.
        title: Figure title.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4), dpi=120)
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=labels).plot(ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def regression_metrics(y_true: list[float], y_pred: list[float]) -> dict:
    """Computes the metrics reported for a regressor, in target units.

    Args:
        y_true: True values, shape ``(rows,)``.
        y_pred: Predicted values, shape ``(rows,)``.

    Returns:
        Dict with ``n``, ``mse``, ``rmse``, ``mae``, ``r2`` (coefficient of determination; 0 for
        predicting the test mean, negative when worse), ``pearson`` and ``spearman`` (NaN when the
        predictions are constant).
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    mse = float(mean_squared_error(t, p))
    constant = np.ptp(p) == 0 or np.ptp(t) == 0  # (std of a constant float array can round to 1e-17)
    return {
        "n": len(t), "mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(mean_absolute_error(t, p)),
        "r2": float(r2_score(t, p)),
        "pearson": float("nan") if constant else float(pearsonr(t, p).statistic),
        "spearman": float("nan") if constant else float(spearmanr(t, p).statistic),
    }


def plot_scatter(y_true: list[float], y_pred: list[float], path: Path, title: str, target: str = "target") -> Path:
    """Saves a predicted-vs-true scatter plot (with the y = x line) as PNG.

    Args:
        y_true: True values, shape ``(rows,)``.
        y_pred: Predicted values, shape ``(rows,)``.
        path: Output ``.png`` path.
        title: Figure title.
        target: Name of the target, for the axis labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4), dpi=120)
    ax.scatter(y_true, y_pred, s=8, alpha=0.5)
    lo, hi = float(min(min(y_true), min(y_pred))), float(max(max(y_true), max(y_pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_loss(loss_history: list[tuple[int, float]], val_history: list[tuple[int, float]], path: Path,
              loss_name: str = "cross-entropy", val_name: str = "validation accuracy") -> Path:
    """Saves the training-loss curve (and the validation score on a second axis) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if loss_history:
        ax.plot(*zip(*loss_history), label="train loss", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel(loss_name)
    if val_history:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val_history), "o-", color="tab:orange", label=val_name)
        ax2.set_ylabel(val_name)
    ax.set_title("Training")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
