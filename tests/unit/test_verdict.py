"""The check after training (workbench/training/verdict.py): a model that learnt nothing is recognised by its
validation score against chance or by a training loss that never fell."""

from __future__ import annotations

import math

from workbench.evaluation.metrics import accuracy_stderr
from workbench.training.verdict import check_learning

FALLING = [(10, 1.10), (20, 0.80), (30, 0.45), (40, 0.30), (50, 0.22)]
FLAT = [(10, 0.70), (20, 0.69), (30, 0.70), (40, 0.69), (50, 0.69)]


def test_a_model_that_learnt_passes_both_tests():
    check = check_learning(FALLING, 0.93, 0.52, lambda p: accuracy_stderr(p, 299), chance_loss=1.05,
                           metric="accuracy")
    assert check.learnt and check.reasons == [] and check.advice == ""
    assert check.start_loss == 1.10 and math.isclose(check.end_loss, 0.22)


def test_validation_within_one_standard_error_of_the_majority_class_is_nothing():
    stderr = accuracy_stderr(0.53, 299)  # ~0.029
    check = check_learning(FALLING, 0.53, 0.52, lambda p: accuracy_stderr(p, 299), metric="accuracy")
    assert not check.learnt and len(check.reasons) == 1
    assert "validation accuracy 0.5300" in check.reasons[0] and "0.5200" in check.reasons[0]
    assert math.isclose(check.val_stderr, stderr)
    assert "train.max_steps" in check.message() and "learning rate" in check.message()
    # one standard error above chance is enough to count as learnt
    assert check_learning(FALLING, 0.52 + 2 * stderr, 0.52, lambda p: accuracy_stderr(p, 299)).learnt


def test_a_training_loss_that_never_fell_is_nothing_even_if_validation_looks_fine():
    check = check_learning(FLAT, 0.90, 0.5, lambda p: 0.02, chance_loss=math.log(2))
    assert not check.learnt and check.reasons == ["the training loss ended at 0.690, never clearly below where it "
                                                  "started (0.700)"]
    # a loss that fell from a high start (an untrained head) but not below the prior's level learnt nothing either
    spike = [(10, 3.0), (20, 0.9), (30, 0.70), (40, 0.70), (50, 0.70)]
    check = check_learning(spike, None, None, None, chance_loss=math.log(2))
    assert not check.learnt and "not below the 0.693 of predicting the labels' prior" in check.reasons[0]
    assert check_learning(spike, None, None, None).learnt  # without the prior, falling from 3.0 counts
    # a small but steady fall (9 %, beyond the last windows' noise) is learning; a fall within the noise is not
    small = [(10, 1.055), (20, 0.989), (30, 0.947), (40, 0.962), (50, 0.960), (60, 0.974), (66, 0.954)]
    assert check_learning(small, None, None, None, chance_loss=0.999).learnt
    noisy = [(10, 1.00), (20, 0.80), (30, 1.10), (40, 0.70), (50, 1.15), (60, 0.75), (70, 1.20), (80, 0.76)]
    assert not check_learning(noisy, None, None, None).learnt


def test_minimised_scores_and_missing_parts():
    # a loss-like validation score (lower is better) must be below chance by more than its standard error
    assert check_learning(FALLING, 1.0, 2.0, lambda s: 0.1, maximize=False).learnt
    assert not check_learning(FALLING, 1.95, 2.0, lambda s: 0.1, maximize=False).learnt
    # no validation and a single loss window: nothing to judge, nothing flagged
    assert check_learning([(5, 0.7)], None, None, None).learnt
    # a NaN validation score (a regression model predicting a constant) learnt nothing
    assert not check_learning(FALLING, float("nan"), 0.0, lambda r: 0.05).learnt
    assert check_learning(FALLING, 0.95, 0.52, lambda p: 0.03).to_dict()["learnt"] is True
