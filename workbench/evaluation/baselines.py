"""Classical baselines on the same split as the fine-tuned model (scikit-learn).

Classification (:func:`run_baselines`); each model's regularisation strength ``C`` is chosen from a small grid
by validation accuracy (the split that picks the fine-tuned model's weights; never the test split), then the
model fitted on the training split with that ``C`` is scored on the test split:

- ``kmer_logreg``: counts of all 1- to 4-mers (overlapping) -> logistic regression.
- ``onehot_logreg``: one-hot base at each position (sequences right-padded) -> logistic regression.
- ``kmer_svm``: TF-IDF of the same 1- to 4-mers (sublinear counts) -> support-vector machine, RBF kernel.
- ``onehot_svm``: the same position-wise one-hot -> support-vector machine, RBF kernel.
- ``majority``: always predicts the most frequent training label.

The SVMs are the strongest classical models measured on the bundled splice split and the enhancer benchmark
(`benchmarks/classical_ceiling.py`); k-mer spectra with an SVM are the field's standard enhancer baseline (Lee
et al. 2011, "Discriminative prediction of mammalian enhancers from DNA sequence", Genome Research 21:2167).

Regression (:func:`run_regression_baselines`), ridge penalties chosen by efficient
leave-one-out cross-validation on the training split only (``RidgeCV``):

- ``kmer_ridge``: the same 1- to 4-mer counts -> ridge regression.
- ``onehot_ridge``: the same position-wise one-hot -> ridge regression.
- ``train_mean``: always predicts the training-split mean.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import numpy as np


class Baseline(NamedTuple):
    """One classical classifier: how to build it, what it reads, and the ``C`` values tried on validation."""

    make: Callable[[float], Any]
    """``make(C)`` -> an unfitted scikit-learn pipeline with regularisation strength ``C`` (inverse penalty)."""
    featurise: Callable[[list[str]], Any]
    """Sequences ``(rows,)`` -> the pipeline's input."""
    grid: tuple[float, ...]
    """``C`` values tried, ascending (strongest regularisation first, which also wins ties)."""
    default: float
    """``C`` used when there is no validation split to choose by."""


def _kmer_counts():
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False)


def _to_dense(x):
    return x.toarray() if hasattr(x, "toarray") else x


def _onehot_features(sequences: list[str], width: int) -> np.ndarray:
    """Position-wise characters, shape ``(rows, width)``, '-' padded."""
    return np.array([list(s[:width].ljust(width, "-")) for s in sequences])


def baseline_models(width: int) -> dict[str, Baseline]:
    """The classification baselines, unfitted (see the module docstring).

    Args:
        width: Sequence length the one-hot features are padded/cut to, in nucleotides.

    Returns:
        ``{name: Baseline}``; ``make(C)`` builds a fresh scikit-learn pipeline, ``featurise(sequences)`` its input.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    def onehot(seqs):
        return _onehot_features(seqs, width)

    def same(seqs):
        return seqs

    def tfidf():
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False, sublinear_tf=True)

    def dense():  # libsvm fits these few hundred columns 3-6x faster dense than sparse, to the same model
        return FunctionTransformer(_to_dense, accept_sparse=True)

    return {
        "kmer_logreg": Baseline(lambda c: make_pipeline(_kmer_counts(), StandardScaler(with_mean=False),
                                                        LogisticRegression(max_iter=2000, C=c)),
                                same, (0.003, 0.01, 0.05, 0.2), 0.05),
        "onehot_logreg": Baseline(lambda c: make_pipeline(OneHotEncoder(handle_unknown="ignore"),
                                                          LogisticRegression(max_iter=2000, C=c)),
                                  onehot, (0.01, 0.03, 0.1, 0.3), 0.1),
        "kmer_svm": Baseline(lambda c: make_pipeline(tfidf(), dense(), SVC(C=c)), same, (0.3, 1.0, 3.0), 1.0),
        "onehot_svm": Baseline(lambda c: make_pipeline(OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                                                       SVC(C=c)), onehot, (0.3, 1.0, 3.0), 1.0),
    }


def fit_baseline(baseline: Baseline, train: tuple[list[str], list[int]],
                 val: tuple[list[str], list[int]] | None = None) -> tuple[Any, float, float | None]:
    """Fits one baseline on the training split, choosing ``C`` by validation accuracy where there is a split.

    Args:
        baseline: From :func:`baseline_models`.
        train: ``(sequences, class indices)`` of the training split, each ``(n_train,)``.
        val: ``(sequences, class indices)`` of the validation split, or ``None``/empty: ``baseline.default`` is used.

    Returns:
        ``(fitted model, C, validation accuracy at that C or None)``; ties go to the smaller ``C``.
    """
    if not val or not val[0]:
        return baseline.make(baseline.default).fit(baseline.featurise(train[0]), train[1]), baseline.default, None
    x_train, x_val, y_val = baseline.featurise(train[0]), baseline.featurise(val[0]), np.asarray(val[1])
    best = None
    for c in baseline.grid:
        model = baseline.make(c).fit(x_train, train[1])
        score = float((model.predict(x_val) == y_val).mean())
        if best is None or score > best[2]:
            best = (model, c, score)
    return best


def class_scores(model, features, n_labels: int) -> np.ndarray:
    """Class probabilities, or for an SVM the softmax of its one-vs-rest decision values (a monotone score for
    AUROC and blends, not a calibrated probability).

    Args:
        model: A fitted pipeline from :func:`fit_baseline`.
        features: Its input for ``rows`` sequences.
        n_labels: Number of classes; classes absent from the training split get 0.

    Returns:
        Array of shape ``(rows, n_labels)``, rows summing to 1.
    """
    if hasattr(model, "predict_proba"):
        scores = model.predict_proba(features)
    else:
        d = np.asarray(model.decision_function(features), dtype=float)
        d = np.stack([-d, d], axis=1) / 2 if d.ndim == 1 else d  # binary: one signed margin
        scores = np.exp(d - d.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
    full = np.zeros((scores.shape[0], n_labels))
    full[:, model.classes_] = scores
    return full


def run_baselines(train_seqs: list[str], train_y: list[int], test_seqs: list[str], test_y: list[int],
                  labels: list[str], return_predictions: bool = False, val_seqs: list[str] | None = None,
                  val_y: list[int] | None = None, fixed_c: dict[str, float] | None = None):
    """Fits each baseline on the training split (``C`` chosen on validation) and scores it on the test split.

    Args:
        train_seqs: Training sequences, shape ``(n_train,)``.
        train_y: Training class indices, shape ``(n_train,)``.
        test_seqs: Test sequences, shape ``(n_test,)``.
        test_y: Test class indices, shape ``(n_test,)``.
        labels: Class names.
        return_predictions: Also return each baseline's predicted class indices on the test split, shape
            ``(n_test,)``, for paired comparisons (see ``workbench.evaluation.metrics.paired_difference_ci``).
        val_seqs: Validation sequences, shape ``(n_val,)``; without them every ``C`` is the baseline's default.
        val_y: Validation class indices, shape ``(n_val,)``.
        fixed_c: Baseline name -> the ``C`` to fit with instead of choosing it on validation (``workbench
            evaluate`` refits a run's baselines with the ``C`` the run chose).

    Returns:
        ``{baseline name: metrics dict (see workbench.evaluation.metrics.classification_metrics) + "seconds",
        "C" and "val_accuracy" (None without a validation split or with a fixed ``C``)}``; with
        ``return_predictions``, the pair ``(that dict, {baseline name: predictions})``.
    """
    from .metrics import classification_metrics

    results: dict[str, dict] = {}
    predictions: dict[str, list[int]] = {}
    width = max(len(s) for s in train_seqs)
    val = (val_seqs, val_y) if val_seqs else None
    for name, baseline in baseline_models(width).items():
        start = time.perf_counter()
        if (fixed_c or {}).get(name) is not None:
            c, val_accuracy = fixed_c[name], None
            model = baseline.make(c).fit(baseline.featurise(train_seqs), train_y)
        else:
            model, c, val_accuracy = fit_baseline(baseline, (train_seqs, train_y), val)
        features = baseline.featurise(test_seqs)
        predictions[name] = [int(p) for p in model.predict(features)]
        results[name] = classification_metrics(list(test_y), predictions[name], labels,
                                               class_scores(model, features, len(labels)))
        results[name].update(C=c, val_accuracy=val_accuracy, seconds=time.perf_counter() - start)
    majority = int(np.bincount(train_y, minlength=len(labels)).argmax())
    predictions["majority"] = [majority] * len(test_y)
    results["majority"] = classification_metrics(list(test_y), predictions["majority"], labels)
    results["majority"]["seconds"] = 0.0
    return (results, predictions) if return_predictions else results


_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def run_regression_baselines(train_seqs: list[str], train_y: list[float], test_seqs: list[str],
                             test_y: list[float], return_predictions: bool = False):
    """Fits each regression baseline on the training split and scores it on the test split.

    Args:
        train_seqs: Training sequences, shape ``(n_train,)``.
        train_y: Training targets, shape ``(n_train,)``.
        test_seqs: Test sequences, shape ``(n_test,)``.
        test_y: Test targets, shape ``(n_test,)``.
        return_predictions: Also return each baseline's predictions on the test split, shape ``(n_test,)``.

    Returns:
        ``{baseline name: metrics dict (see workbench.evaluation.metrics.regression_metrics) + "seconds"}``; with
        ``return_predictions``, the pair ``(that dict, {baseline name: predictions})``.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from .metrics import regression_metrics

    width = max(len(s) for s in train_seqs)
    models = {
        "kmer_ridge": (make_pipeline(_kmer_counts(), StandardScaler(with_mean=False), RidgeCV(alphas=_ALPHAS)),
                       lambda seqs: seqs),
        "onehot_ridge": (make_pipeline(OneHotEncoder(handle_unknown="ignore"), RidgeCV(alphas=_ALPHAS)),
                         lambda seqs: _onehot_features(seqs, width)),
    }
    results: dict[str, dict] = {}
    predictions: dict[str, list[float]] = {}
    for name, (model, featurise) in models.items():
        start = time.perf_counter()
        model.fit(featurise(train_seqs), train_y)
        predictions[name] = model.predict(featurise(test_seqs)).tolist()
        results[name] = regression_metrics(list(test_y), predictions[name])
        results[name]["alpha"] = float(model[-1].alpha_)
        results[name]["seconds"] = time.perf_counter() - start
    mean = float(np.mean(train_y))
    predictions["train_mean"] = [mean] * len(test_y)
    results["train_mean"] = regression_metrics(list(test_y), predictions["train_mean"])
    results["train_mean"]["seconds"] = 0.0
    return (results, predictions) if return_predictions else results
