"""Checkpoint averaging (workbench.training.averaging) and the loop's greedy keep-or-restore rule."""

import math

import pytest
import torch

from workbench.training import averaging
from workbench.training.objective import TrainOptions

from workbench.tasks.sequence import prompt_objective
from workbench.training.loop import train as train_objective

from .test_trainer import _data, _scorer, _weights


def _state(value):
    return {"w": torch.full((2, 3), float(value))}


def test_offer_keeps_the_k_best_and_ignores_nan():
    top = []
    for step, score in enumerate([0.5, 0.9, float("nan"), 0.7, 0.6], start=1):
        averaging.offer(top, 3, score, step, _state(step))
    assert [(s, step) for s, step, _ in top] == [(0.9, 2), (0.7, 4), (0.6, 5)]
    assert torch.equal(averaging.average(top)["w"], torch.full((2, 3), (2 + 4 + 5) / 3))


def test_offer_minimising_and_k_below_two_keeps_nothing():
    top = []
    for step, score in enumerate([3.0, 1.0, 2.0], start=1):
        averaging.offer(top, 2, score, step, _state(step), maximize=False)
    assert [step for _, step, _ in top] == [2, 3]
    off = []
    averaging.offer(off, 1, 0.9, 1, _state(1))
    assert off == []


def test_offer_clones_the_weights():
    top, live = [], _state(1)
    averaging.offer(top, 2, 0.5, 1, live)
    live["w"].add_(10)
    assert torch.equal(top[0][2]["w"], torch.ones(2, 3))


def test_average_of_nothing_says_what_to_do():
    with pytest.raises(ValueError, match="average_top_k"):
        averaging.average([])


def test_near_best_keeps_the_members_within_two_standard_errors():
    top = [(0.80, 9, {}), (0.79, 7, {}), (0.70, 3, {})]
    assert [step for _, step, _ in averaging.near_best(top, lambda p: 0.01)] == [9, 7]
    assert [step for _, step, _ in averaging.near_best(top, lambda p: 0.05)] == [9, 7, 3]
    assert averaging.near_best(top, None) == top and averaging.near_best(top, None) is not top
    losses = [(1.0, 4, {}), (1.05, 5, {}), (1.5, 2, {})]  # minimising: best first is the lowest
    assert [step for _, step, _ in averaging.near_best(losses, lambda v: 0.05, maximize=False)] == [4, 5]
    assert averaging.near_best([], lambda p: 0.1) == []
    assert [step for _, step, _ in averaging.near_best(top, lambda p: 0.01, z=1.0)] == [9, 7]


def _run(tiny_model_dir, scores, k, keep="best", stderr=None):
    scorer, tok = _scorer(tiny_model_dir)
    prompts, y = _data(32)
    seen, snapshots = iter(scores), []

    def validate():
        snapshots.append(_weights(scorer))
        return next(seen)

    opts = TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, eval_every=1, average_top_k=k,
                        average_keep=keep)
    objective = prompt_objective(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, validate,
                                 val_stderr=stderr)
    result = train_objective(objective, opts, progress=False)
    return result, snapshots, _weights(scorer)


def test_loop_keeps_the_average_when_it_validates_at_least_as_well(tiny_model_dir):
    result, snapshots, final = _run(tiny_model_dir, [0.5, 0.8, 0.6, 0.7, 0.9], k=2)  # 4 evals, then the average
    assert result.averaged and result.averaged_steps == [2, 4] and result.averaged_val_score == 0.9
    assert result.best_val_score == 0.9
    for name, value in final.items():
        assert torch.allclose(value, (snapshots[1][name] + snapshots[3][name]) / 2)


def test_loop_restores_the_best_single_when_the_average_is_worse(tiny_model_dir):
    result, snapshots, final = _run(tiny_model_dir, [0.5, 0.8, 0.6, 0.7, 0.1], k=3)
    assert not result.averaged and result.averaged_steps == [2, 3, 4] and math.isclose(result.averaged_val_score, 0.1)
    assert result.best_step == 2 and result.best_val_score == 0.8
    for name, value in final.items():
        assert torch.equal(value, snapshots[1][name])


@pytest.mark.parametrize("average_score, kept", [(0.72, True), (0.70, True), (0.68, False)])
def test_members_rule_compares_the_average_with_its_members_mean(tiny_model_dir, average_score, kept):
    # top 3 of [0.5, 0.8, 0.6, 0.7] are 0.8, 0.7, 0.6 (mean 0.70): the best single's 0.8 is not the bar
    result, snapshots, final = _run(tiny_model_dir, [0.5, 0.8, 0.6, 0.7, average_score], k=3, keep="members")
    assert result.averaged is kept and result.averaged_steps == [2, 3, 4]
    assert math.isclose(result.best_val_score, average_score if kept else 0.8)
    for name, value in final.items():
        expected = (snapshots[1][name] + snapshots[2][name] + snapshots[3][name]) / 3 if kept else snapshots[1][name]
        assert torch.allclose(value, expected)


def test_loop_averages_only_the_evaluations_near_the_best(tiny_model_dir):
    # top 3 of [0.5, 0.8, 0.6, 0.78] are 0.8, 0.78, 0.6; with a standard error of 0.015 (two: 0.03) the 0.6 is not averaged,
    # so the bar is the mean of 0.8 and 0.78 (0.79), not of all three (0.727)
    result, snapshots, final = _run(tiny_model_dir, [0.5, 0.8, 0.6, 0.78, 0.79], k=3, keep="members",
                                    stderr=lambda p: 0.015)
    assert result.averaged and result.averaged_steps == [2, 4] and not result.average_skipped
    for name, value in final.items():
        assert torch.allclose(value, (snapshots[1][name] + snapshots[3][name]) / 2)


def test_loop_skips_averaging_when_no_other_evaluation_is_near_the_best(tiny_model_dir):
    # a short, still-climbing run: the members' mean (0.733) would let a poor average through; only the 4
    # evaluations' scores are given, so a 5th validation pass (the average's) would fail the test
    result, snapshots, final = _run(tiny_model_dir, [0.5, 0.6, 0.7, 0.9], k=3, keep="members",
                                    stderr=lambda p: 0.05)  # two standard errors: 0.1
    assert result.average_skipped and not result.averaged and result.averaged_steps == []
    assert result.best_step == 4 and result.best_val_score == 0.9
    for name, value in final.items():
        assert torch.equal(value, snapshots[3][name])
