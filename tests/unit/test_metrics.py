"""Metrics and plots (workbench.metrics)."""

import numpy as np
import pytest

from workbench.evaluation.metrics import (accuracy_stderr, classification_metrics, plot_confusion_matrix, plot_loss,
                                         spearman_stderr)


def test_perfect_and_known_confusion():
    labels = ["a", "b", "c"]
    perfect = classification_metrics([0, 1, 2, 2], [0, 1, 2, 2], labels)
    assert perfect["accuracy"] == 1.0 and perfect["mcc"] == pytest.approx(1.0) and perfect["macro_f1"] == 1.0
    m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["c"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["a"]["support"] == 2


def test_auroc_from_probabilities():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    m = classification_metrics([0, 1, 0, 1], [0, 1, 0, 1], ["n", "p"], proba)
    assert m["auroc"] == 1.0
    assert "auroc" not in classification_metrics([0, 0], [0, 0], ["n", "p"], proba[:2])


def test_plots_are_pngs(tmp_path):
    png = plot_confusion_matrix([[3, 1], [0, 4]], ["n", "p"], tmp_path / "cm.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loss = plot_loss([(1, 1.0), (2, 0.5)], [(2, 0.8)], tmp_path / "loss.png")
    assert loss.stat().st_size > 1000


def test_bootstrap_interval_brackets_the_point_estimate_and_narrows_with_more_rows():
    from workbench.evaluation.metrics import bootstrap_ci

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 600)
    pred = np.where(rng.random(600) < 0.9, truth, (truth + 1) % 3)  # ~90 % correct
    acc = float((truth == pred).mean())
    ci = bootstrap_ci(truth.tolist(), pred.tolist())
    assert ci["accuracy"][0] < acc < ci["accuracy"][1]
    assert ci["mcc"][0] < classification_metrics(truth.tolist(), pred.tolist(), ["a", "b", "c"])["mcc"] < ci["mcc"][1]
    # binomial standard error at n=600, p=0.9 is ~0.012, so a 95 % interval is ~0.05 wide
    assert 0.03 < ci["accuracy"][1] - ci["accuracy"][0] < 0.07
    small = bootstrap_ci(truth[:60].tolist(), pred[:60].tolist())
    assert small["accuracy"][1] - small["accuracy"][0] > ci["accuracy"][1] - ci["accuracy"][0]
    assert bootstrap_ci(truth.tolist(), pred.tolist()) == ci  # seeded: reproducible
    assert bootstrap_ci([], []) == {}


def test_regression_metrics_known_values(tmp_path):
    from workbench.evaluation.metrics import plot_scatter, regression_metrics

    y = [1.0, 2.0, 3.0, 4.0]
    perfect = regression_metrics(y, y)
    assert perfect["mse"] == 0 and perfect["r2"] == 1.0 and perfect["pearson"] == pytest.approx(1.0)
    m = regression_metrics(y, [2.0, 3.0, 4.0, 5.0])  # shifted by one: perfect ranks, MSE 1
    assert m["mse"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0) and m["r2"] == pytest.approx(1 - 4 / 5)
    inverse = regression_metrics(y, [4.0, 3.0, 2.0, 1.0])
    assert inverse["spearman"] == pytest.approx(-1.0) and inverse["pearson"] == pytest.approx(-1.0)
    constant = regression_metrics(y, [2.5] * 4)
    assert np.isnan(constant["spearman"]) and constant["r2"] == pytest.approx(0.0)
    png = plot_scatter(y, [1.1, 2.2, 2.9, 4.2], tmp_path / "s.png", "t", "gc")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paired_difference_interval_excludes_zero_only_for_a_real_win():
    from workbench.evaluation.metrics import paired_difference_ci

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 600)
    wrong = (truth + 1) % 3
    good = np.where(rng.random(600) < 0.95, truth, wrong)  # ~95 % correct
    worse = np.where(rng.random(600) < 0.80, truth, wrong)  # ~80 % correct
    win = paired_difference_ci(truth, good, worse)
    assert win["difference"] == pytest.approx((good == truth).mean() - (worse == truth).mean(), abs=1e-6)
    assert 0 < win["ci95"][0] < win["difference"] < win["ci95"][1]
    # the same predictions but one row: the difference is tiny and the interval straddles 0
    near = good.copy()
    near[np.flatnonzero(good == truth)[0]] = wrong[np.flatnonzero(good == truth)[0]]
    tie = paired_difference_ci(truth, good, near)
    assert tie["difference"] == pytest.approx(1 / 600, abs=1e-6)
    assert tie["ci95"][0] <= 0 <= tie["ci95"][1]
    # the paired interval is narrower than the two unpaired intervals would suggest (shared rows cancel)
    from workbench.evaluation.metrics import bootstrap_ci

    unpaired = bootstrap_ci(truth.tolist(), good.tolist())["accuracy"]
    assert tie["ci95"][1] - tie["ci95"][0] < unpaired[1] - unpaired[0]
    # a metric given as a function gives the same accuracy interval as the vectorised default
    acc = paired_difference_ci(truth, good, worse, fn=lambda t, p: float((t == p).mean()))
    assert acc["difference"] == pytest.approx(win["difference"]) and acc["ci95"] == pytest.approx(win["ci95"])
    assert paired_difference_ci(truth, good, worse) == win  # seeded: reproducible
    with pytest.raises(ValueError, match="equally long"):
        paired_difference_ci(truth, good[:10], worse)


def test_accuracy_stderr_matches_the_spread_of_simulated_accuracies():
    rng = np.random.default_rng(0)
    accuracies = rng.binomial(299, 0.97, size=20000) / 299  # 299 validation rows, true accuracy 0.97
    assert accuracy_stderr(0.97, 299) == pytest.approx(accuracies.std(), rel=0.03)
    assert accuracy_stderr(1.0, 50) == 0.0
    with pytest.raises(ValueError, match="n >= 1"):
        accuracy_stderr(0.5, 0)


def test_spearman_stderr_matches_the_spread_of_simulated_correlations():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    n, rho = 200, 0.6
    cov = [[1.0, rho], [rho, 1.0]]
    draws = [spearmanr(*rng.multivariate_normal([0, 0], cov, size=n).T).statistic for _ in range(1000)]
    assert spearman_stderr(float(np.mean(draws)), n) == pytest.approx(np.std(draws), rel=0.1)
    with pytest.raises(ValueError, match="n >= 4"):
        spearman_stderr(0.5, 3)
