"""How long a run trains: train.max_steps and epochs decide it; the estimate after the first steps; the warning for a
cap under two epochs; and the opt-in time cap (train.max_minutes), whose plan follows what fits, never past the
planned steps, and which marks a run it cuts."""

from __future__ import annotations

import time

import pytest
import torch

from workbench.config import ConfigError, validate_config
from workbench.training.budget import estimate_run, replan, short_run_warning
from workbench.training.loop import train
from workbench.training.objective import Objective, TrainOptions


def test_replan_fits_the_remaining_steps_and_the_evaluations():
    # 10 steps took 10 s (no evaluation yet): 50 s left -> 50 more steps.
    assert replan(10, 1000, 60, 10.0, 0.0, 0, 100) == 60
    # 100 steps in 120 s of which 20 s were 2 evaluations (10 s each), eval every 50 steps, 600 s budget:
    # per step 1 s + 10/50 s of evaluation; 480 s left minus the final evaluation -> 470 / 1.2 = 391 steps.
    assert replan(100, 10_000, 600, 120.0, 20.0, 2, 50) == 100 + 391
    assert replan(100, 150, 600, 120.0, 20.0, 2, 50) == 150  # never past the planned steps
    assert replan(100, 1000, 60, 61.0, 0.0, 0, 50) == 100  # budget spent: stop here
    assert replan(0, 1000, 60, 0.0, 0.0, 0, 50) == 1000
    # before any evaluation a priced validation pass (20 s) is reserved for the final one and spread over the
    # evaluations to come: (60 - 10 - 20) / (1 + 20/100) = 25 more steps; a measured pass replaces the estimate.
    assert replan(10, 1000, 60, 10.0, 0.0, 0, 100, eval_estimate=20.0) == 35
    assert replan(10, 1000, 60, 10.0, 0.0, 0, 100, eval_estimate=0.0) == 60
    assert replan(100, 10_000, 600, 120.0, 20.0, 2, 50, eval_estimate=99.0) == 100 + 391
    # checkpoint averaging scores one more validation pass after the last step: (480 - 2 x 10) / 1.2 = 383 steps
    assert replan(100, 10_000, 600, 120.0, 20.0, 2, 50, final_passes=2) == 100 + 383


def test_a_cut_plan_ending_just_past_an_evaluation_ends_at_it():
    # 100 steps in 100 s, free evaluations every 100 steps: a 205-s budget fits 105 more steps, 5 past the
    # evaluation at step 200 (within SNAP_FRACTION x 100): the plan ends at 200, where that evaluation is the last.
    assert replan(100, 1000, 205, 100.0, 0.0, 1, 100) == 200
    assert replan(100, 1000, 225, 100.0, 0.0, 1, 100) == 225  # 25 steps past it: worth training
    assert replan(100, 205, 300, 100.0, 0.0, 1, 100) == 205  # the epochs' own end is never moved
    assert replan(195, 1000, 205, 195.0, 0.0, 1, 100) == 200
    assert replan(203, 1000, 205, 203.0, 0.0, 1, 100) == 205  # that evaluation is past: train what fits
    assert replan(10, 1000, 15, 10.0, 0.0, 0, 100) == 15  # no evaluation before the end to stop at


def _objective(delay: float, val_delay: float = 0.0, val_rows: int = 0) -> Objective:
    """A linear model on 64 rows whose steps take ``delay`` s and whose validation pass of ``val_rows`` rows takes
    ``val_delay`` s (one 64-row validation batch: ``val_delay * 64 / val_rows`` s)."""
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)

    def batch_loss(idx):
        time.sleep(delay)
        return torch.nn.functional.mse_loss(module(x[idx]), y[idx]), len(idx), 0

    def validate():
        time.sleep(val_delay)
        return -torch.nn.functional.mse_loss(module(x), y).item()

    def eval_forward():
        time.sleep(val_delay * 64 / max(1, val_rows))
        module(x)

    return Objective(module, 64, batch_loss, validate=validate, val_metric="neg_mse", eval_forward=eval_forward,
                     val_rows=val_rows)


def test_max_steps_caps_the_schedule():
    result = train(_objective(0.0), TrainOptions(epochs=10, learning_rate=1e-2, batch_size=8, max_steps=7),
                   progress=False)
    assert result.planned_steps == result.steps == 7 and result.budget_steps is None


def test_a_wall_time_budget_ends_the_run_in_time_and_a_generous_one_changes_nothing():
    budget_s = 1.2
    began = time.perf_counter()
    cut = train(_objective(0.02), TrainOptions(epochs=100, learning_rate=1e-2, batch_size=8, eval_every=20,
                                               max_minutes=budget_s / 60), progress=False)
    took = time.perf_counter() - began
    assert cut.budget_steps is not None and cut.steps == cut.budget_steps < cut.planned_steps == 800
    assert cut.time_capped and any(w.startswith(f"stopped by the time cap (0.02 min) at step {cut.steps} of 800")
                                   for w in cut.warnings)
    # unbudgeted, the 800 planned steps of >= 0.02 s would take >= 16 s; the budget ends the run near 1.2 s. The
    # bound is loose (a busy machine stretches steps between the re-plans), the step counts above are the contract.
    assert took < 800 * 0.02 / 4, f"{took:.2f} s for a {budget_s} s budget"
    plain = train(_objective(0.0), TrainOptions(epochs=2, learning_rate=1e-2, batch_size=8), progress=False)
    roomy = train(_objective(0.0), TrainOptions(epochs=2, learning_rate=1e-2, batch_size=8, max_minutes=60),
                  progress=False)
    assert roomy.budget_steps is None and roomy.loss_history == plain.loss_history
    assert not roomy.time_capped and not plain.time_capped and plain.estimate["steps"] == 16


def test_the_estimate_reads_the_planned_steps_at_the_measured_pace():
    est = estimate_run(1800, 0.46, 3.0, 14, measured_steps=90)
    assert est["seconds"] == 1800 * 0.46 + 14 * 3.0
    assert est["text"] == ("about 1,800 steps, about 15 min on this machine (measured from the first 90 steps: "
                           "0.46 s/step; 14 validation passes of about 3 s)")
    assert estimate_run(40, 0.5, 0.0, 0, 1)["text"].startswith("about 40 steps, about 20 s on this machine (measured "
                                                                "from one timed step")
    assert "2.5 h" in estimate_run(9000, 1.0, 0.0, 0, 10)["text"]


def test_a_step_cap_under_two_epochs_is_warned_about_before_training():
    # a 6,500-row task in both strands at batch 16 (569 steps per epoch) capped at 647 steps: 1.1 epochs
    warning = short_run_warning(647, 569, 9100, 647)
    assert warning.startswith("train.max_steps 647 covers 1.1 epochs of 9,100 training prompts")
    assert "at least 1,138" in warning
    assert short_run_warning(1800, 131, 2092, 1800) is None  # splice: 13.7 epochs
    assert short_run_warning(500, 569, 9100, 0) is None  # no cap: the epochs themselves were asked for
    assert short_run_warning(100, 569, 9100, 1800) is None  # the cap did not cut the plan
    result = train(_objective(0.0), TrainOptions(epochs=10, learning_rate=1e-2, batch_size=8, max_steps=12),
                   progress=False)
    assert result.steps == 12 and result.warnings and result.warnings[0].startswith("train.max_steps 12 covers 1.5")
    # continued pretraining on a corpus plans a fraction of one pass as a matter of course: no warning there
    corpus = _objective(0.0)
    corpus.short_run_check = False
    result = train(corpus, TrainOptions(epochs=10, learning_rate=1e-2, batch_size=8, max_steps=12), progress=False)
    assert result.steps == 12 and result.warnings == []


def test_budget_fields_are_validated(tmp_path):
    from tests.conftest import SPLICE_CSV

    raw = {"name": "x", "source": {"kind": "files", "path": str(SPLICE_CSV)},
           "columns": {"sequence": "Sequence", "label": "Class"}, "train": {"max_minutes": -1, "max_steps": -2}}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "max_minutes" in str(err.value) and "max_steps" in str(err.value)


def test_a_run_whose_only_evaluation_is_the_last_prices_it_before_it_runs():
    # one 0.6 s validation pass of 128 rows (two timed batches of 64), no evaluation before the end, 1.2 s budget
    options = TrainOptions(epochs=100, learning_rate=1e-2, batch_size=8, eval_every=10_000, max_minutes=1.2 / 60)
    priced = train(_objective(0.01, val_delay=0.6, val_rows=128), options, progress=False)
    unpriced = train(_objective(0.01, val_delay=0.6, val_rows=0), options, progress=False)  # val_rows 0: unknown
    assert len(priced.val_history) == len(unpriced.val_history) == 1  # only the final evaluation ran
    # the priced plan leaves room for the 0.6 s pass (about (1.2 - 0.3 - 0.6) / 0.01 = 30 steps); the unpriced
    # one spends the whole budget on steps (about 90) and then runs over by the pass
    assert priced.steps < unpriced.steps
    assert priced.steps <= (1.2 - 0.6) / 0.01, priced.steps


def test_a_plan_cut_by_a_slow_start_grows_back_when_the_pace_recovers_but_never_past_the_epochs():
    # 10 steps in 40 s (a busy start): 60 s budget -> 15 steps fit. At step 15, 45 s in, the recent pace is
    # faster: (45 / 15) = 3 s per step -> 5 more steps fit, 20 in all; a much faster pace stops at the 1000 planned.
    assert replan(10, 1000, 60, 40.0, 0.0, 0, 100) == 15
    assert replan(15, 1000, 60, 45.0, 0.0, 0, 100) == 20
    assert replan(15, 1000, 6_000, 45.0, 0.0, 0, 100) == 1000

    slow_start = {"calls": 0}
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)

    def batch_loss(idx):
        slow_start["calls"] += 1
        time.sleep(0.03 if slow_start["calls"] <= 20 else 0.005)  # a busy start: the first 20 steps are slow
        return torch.nn.functional.mse_loss(module(x[idx]), y[idx]), len(idx), 0

    objective = Objective(module, 64, batch_loss, validate=lambda: -torch.nn.functional.mse_loss(module(x), y).item(),
                          val_metric="neg_mse")
    result = train(objective, TrainOptions(epochs=100, learning_rate=1e-2, batch_size=8, eval_every=8,
                                           max_minutes=1.5 / 60), progress=False)
    # the first re-plan (step 40 = the warm-up: 20 steps at 0.03 s + 20 at 0.005 s, 0.7 s) plans about
    # 40 + 0.8 / 0.0175 = 85 steps; the evaluations after it measure the faster pace and extend the plan towards
    # 20 + 0.9 / 0.005 = 200 (fewer with the loop's own overhead), never past the 800 planned steps
    assert result.val_history and 110 < result.steps <= 800, result.steps
