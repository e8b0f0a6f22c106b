"""Classical baselines on the same split as the fine-tuned model (scikit-learn).

- ``kmer_logreg``: counts of all 1- to 4-mers (overlapping) -> logistic regression.
- ``onehot_logreg``: one-hot base at each position (sequences right-padded) -> logistic regression.
- ``majority``: always predicts the most frequent training label.

Regression (:func:`run_regression_baselines`), ridge penalties chosen by efficient
leave-one-out cross-validation on the training split only (``RidgeCV``):

- ``kmer_ridge``: the same 1- to 4-mer counts -> ridge regression.
- ``onehot_ridge``: the same position-wise one-hot -> ridge regression.
- ``train_mean``: always predicts the training-split mean.
"""

from __future__ import annotations

import time

import numpy as np


def _kmer_pipeline():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        CountVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False),
        StandardScaler(with_mean=False),
        LogisticRegression(max_iter=2000, C=0.05),
    )


def _onehot_features(sequences: list[str], width: int) -> np.ndarray:
    """Position-wise characters, shape ``(rows, width)``, '-' padded."""
    return np.array([list(s[:width].ljust(width, "-")) for s in sequences])


def baseline_models(width: int) -> dict:
    """The classification baselines, unfitted: ``{name: (make_model, featurise)}``.

    Args:
        width: Sequence length the one-hot features are padded/cut to, in nucleotides.

    Returns:
        ``make_model()`` builds a fresh scikit-learn pipeline; ``featurise(sequences)`` gives its input.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return {
        "kmer_logreg": (_kmer_pipeline, lambda seqs: seqs),
        "onehot_logreg": (lambda: make_pipeline(OneHotEncoder(handle_unknown="ignore"),
                                                LogisticRegression(max_iter=2000, C=0.1)),
                          lambda seqs: _onehot_features(seqs, width)),
    }


def run_baselines(train_seqs: list[str], train_y: list[int], test_seqs: list[str], test_y: list[int],
                  labels: list[str], return_predictions: bool = False):
    """Fits each baseline on the training split and scores it on the test split.

    Args:
        train_seqs: Training sequences, shape ``(n_train,)``.
        train_y: Training class indices, shape ``(n_train,)``.
        test_seqs: Test sequences, shape ``(n_test,)``.
        test_y: Test class indices, shape ``(n_test,)``.
        labels: Class names.
        return_predictions: Also return each baseline's predicted class indices on the test split, shape
            ``(n_test,)``, for paired comparisons (see ``workbench.evaluation.metrics.paired_difference_ci``).

    Returns:
        ``{baseline name: metrics dict (see workbench.evaluation.metrics.classification_metrics) + "seconds"}``;
        with ``return_predictions``, the pair ``(that dict, {baseline name: predictions})``.
    """
    from .metrics import classification_metrics

    results: dict[str, dict] = {}
    predictions: dict[str, list[int]] = {}
    width = max(len(s) for s in train_seqs)
    for name, (make_model, featurise) in baseline_models(width).items():
        start = time.perf_counter()
        model = make_model()
        model.fit(featurise(train_seqs), train_y)
        proba = model.predict_proba(featurise(test_seqs))
        predictions[name] = model.classes_[proba.argmax(1)].tolist()
        full = np.zeros((len(test_seqs), len(labels)))
        full[:, model.classes_] = proba
        results[name] = classification_metrics(list(test_y), predictions[name], labels, full)
        results[name]["seconds"] = time.perf_counter() - start
    majority = int(np.bincount(train_y, minlength=len(labels)).argmax())
    predictions["majority"] = [majority] * len(test_y)
    results["majority"] = classification_metrics(list(test_y), predictions["majority"], labels)
    results["majority"]["seconds"] = 0.0
    return (results, predictions) if return_predictions else results


_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def run_regression_baselines(train_seqs: list[str], train_y: list[float], test_seqs: list[str],
                             test_y: list[float]) -> dict[str, dict]:
    """Fits each regression baseline on the training split and scores it on the test split.

    Args:
        train_seqs: Training sequences, shape ``(n_train,)``.
        train_y: Training targets, shape ``(n_train,)``.
        test_seqs: Test sequences, shape ``(n_test,)``.
        test_y: Test targets, shape ``(n_test,)``.

    Returns:
        ``{baseline name: metrics dict (see workbench.evaluation.metrics.regression_metrics) + "seconds"}``.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from .metrics import regression_metrics

    width = max(len(s) for s in train_seqs)
    models = {
        "kmer_ridge": (make_pipeline(CountVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False),
                                     StandardScaler(with_mean=False), RidgeCV(alphas=_ALPHAS)), lambda seqs: seqs),
        "onehot_ridge": (make_pipeline(OneHotEncoder(handle_unknown="ignore"), RidgeCV(alphas=_ALPHAS)),
                         lambda seqs: _onehot_features(seqs, width)),
    }
    results: dict[str, dict] = {}
    for name, (model, featurise) in models.items():
        start = time.perf_counter()
        model.fit(featurise(train_seqs), train_y)
        results[name] = regression_metrics(list(test_y), model.predict(featurise(test_seqs)).tolist())
        results[name]["alpha"] = float(model[-1].alpha_)
        results[name]["seconds"] = time.perf_counter() - start
    mean = float(np.mean(train_y))
    results["train_mean"] = regression_metrics(list(test_y), [mean] * len(test_y))
    results["train_mean"]["seconds"] = 0.0
    return results
