"""Classification metrics and the confusion-matrix plot (scikit-learn + matplotlib)."""

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
        (precision/recall/f1/support per label), ``confusion_matrix`` (rows = true, cols = predicted)
        and ``n``.
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
    }
    if proba is not None and len(set(y_true)) == len(labels):
        if len(labels) == 2:
            out["auroc"] = float(roc_auc_score(y_true, proba[:, 1]))
        else:
            out["auroc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=idx))
    return out


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


def plot_loss(loss_history: list[tuple[int, float]], val_history: list[tuple[int, float]], path: Path,
              val_label: str = "validation accuracy") -> Path:
    """Saves the training-loss curve (and the validation metric ``val_label`` on a second axis) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if loss_history:
        ax.plot(*zip(*loss_history), label="train loss", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    if val_history:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val_history), "o-", color="tab:orange", label=val_label)
        ax2.set_ylabel(val_label)
    ax.set_title("Training")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
