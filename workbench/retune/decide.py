"""Champion vs challenger on the frozen evaluation set: the configured metric for both, the paired bootstrap interval
of their difference, and the promotion decision with its reason.

Both versions are loaded through :class:`workbench.serving.predictor.Predictor` (what serving uses) and score the
same frozen rows. The challenger is promoted only if ``challenger - champion > retune.margin``; the 95 % interval of
that difference (rows resampled with replacement, the same resample for both models) is reported beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "mcc")
REGRESSION_METRICS = ("spearman", "pearson", "neg_rmse")


@dataclass
class Decision:
    """The outcome of one comparison.

    Attributes:
        metric: The metric compared (higher is better).
        champion: The champion's score on the frozen set.
        challenger: The challenger's score.
        difference: ``challenger - champion``.
        ci95: 95 % paired-bootstrap interval of the difference.
        margin: ``retune.margin``.
        n: Frozen rows scored.
        promote: Whether the challenger is promoted.
        reason: One sentence a person reads in the registry.
    """

    metric: str
    champion: float
    challenger: float
    difference: float
    ci95: tuple[float, float]
    margin: float
    n: int
    promote: bool
    reason: str = ""

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {**asdict(self), "ci95": list(self.ci95)}


def metric_fn(metric: str, task_type: str):
    """``(truth, predicted) -> float`` for ``metric`` (arrays of class indices, or values for regression).

    Raises:
        ValueError: ``metric`` does not apply to ``task_type`` (the message lists those that do).
    """
    allowed = REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS
    if metric not in allowed:
        raise ValueError(f"retune.metric {metric!r} does not apply to {task_type} runs; use one of {', '.join(allowed)}.")
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score, matthews_corrcoef

    def safe(value) -> float:
        value = float(value)
        return 0.0 if np.isnan(value) else value

    return {"accuracy": lambda t, p: float(np.mean(t == p)),
            "macro_f1": lambda t, p: float(f1_score(t, p, average="macro", zero_division=0)),
            "mcc": lambda t, p: safe(matthews_corrcoef(t, p)),
            "spearman": lambda t, p: safe(spearmanr(t, p).statistic),
            "pearson": lambda t, p: safe(pearsonr(t, p).statistic),
            "neg_rmse": lambda t, p: -float(np.sqrt(np.mean((t - p) ** 2)))}[metric]


def predictions(run_dir, sequences: list[str], labels: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Scores the frozen rows with one version; returns ``(truth, predicted, task_type)`` as arrays.

    Classification labels become indices into the union of the frozen labels and the run's own labels.
    """
    from ..serving.predictor import Predictor

    predictor = Predictor.load(run_dir, precision="fp32")
    preds = predictor.predict(sequences)
    if predictor.task_type == "regression":
        return np.asarray([float(y) for y in labels]), np.asarray([p.value for p in preds]), "regression"
    names = sorted(set(labels) | set(predictor.labels))
    return (np.asarray([names.index(y) for y in labels]), np.asarray([names.index(p.label) for p in preds]),
            "classification")


def paired_bootstrap(truth: np.ndarray, champ: np.ndarray, chall: np.ndarray, fn, n_boot: int = 1000,
                     seed: int = 0) -> tuple[float, float]:
    """95 % interval of ``fn(truth, chall) - fn(truth, champ)`` over row resamples shared by both models
    (see :func:`workbench.evaluation.metrics.paired_difference_ci`)."""
    from ..evaluation.metrics import paired_difference_ci

    low, high = paired_difference_ci(truth, chall, champ, fn, n_boot, seed)["ci95"]
    return low, high


def decide(truth: np.ndarray, champ: np.ndarray, chall: np.ndarray, task_type: str, metric: str, margin: float,
           n_boot: int = 1000, labels: str = "") -> Decision:
    """Compares champion and challenger predictions of the same frozen rows.

    Args:
        truth: True labels (indices) or values, shape ``(n,)``.
        champ: The champion's predictions, shape ``(n,)``.
        chall: The challenger's predictions, shape ``(n,)``.
        task_type: ``classification`` or ``regression``.
        metric: See :func:`metric_fn`.
        margin: Promote only if the difference is greater than this.
        n_boot: Bootstrap resamples.
        labels: ``"challenger vN vs champion vM on frozen set vK"``, for the reason.

    Returns:
        A :class:`Decision` with its reason.
    """
    fn = metric_fn(metric, task_type)
    a, b = fn(truth, champ), fn(truth, chall)
    diff = b - a
    ci = paired_bootstrap(truth, champ, chall, fn, n_boot)
    promote = diff > margin
    verdict = (f"promoted: it beats the champion by more than the margin {margin:g}" if promote else
               f"rejected: it does not beat the champion by more than the margin {margin:g}")
    reason = (f"{verdict} ({labels + ', ' if labels else ''}n={len(truth)}): {metric} {b:.4f} vs {a:.4f}, "
              f"difference {diff:+.4f}, 95% paired-bootstrap interval [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    return Decision(metric, a, b, diff, ci, margin, len(truth), promote, reason)
