"""The wall-time budget (train.max_minutes, train.max_steps): the plan shrinks to what fits, never grows."""

from __future__ import annotations

import time

import pytest
import torch

from workbench.config import ConfigError, validate_config
from workbench.training.budget import replan
from workbench.training.loop import train
from workbench.training.objective import Objective, TrainOptions


def test_replan_fits_the_remaining_steps_and_the_evaluations():
    # 10 steps took 10 s (no evaluation yet): 50 s left -> 50 more steps.
    assert replan(10, 1000, 60, 10.0, 0.0, 0, 100) == 60
    # 100 steps in 120 s of which 20 s were 2 evaluations (10 s each), eval every 50 steps, 600 s budget:
    # per step 1 s + 10/50 s of evaluation; 480 s left minus the final evaluation -> 470 / 1.2 = 391 steps.
    assert replan(100, 10_000, 600, 120.0, 20.0, 2, 50) == 100 + 391
    assert replan(100, 150, 600, 120.0, 20.0, 2, 50) == 150  # never grows
    assert replan(100, 1000, 60, 61.0, 0.0, 0, 50) == 100  # budget spent: stop here
    assert replan(0, 1000, 60, 0.0, 0.0, 0, 50) == 1000


def _objective(delay: float) -> Objective:
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)

    def batch_loss(idx):
        time.sleep(delay)
        return torch.nn.functional.mse_loss(module(x[idx]), y[idx]), len(idx), 0

    return Objective(module, 64, batch_loss, validate=lambda: -torch.nn.functional.mse_loss(module(x), y).item(),
                     val_metric="neg_mse")


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
    # unbudgeted, the 800 planned steps of >= 0.02 s would take >= 16 s; the budget ends the run near 1.2 s. The
    # bound is loose (a busy machine stretches steps between the re-plans), the step counts above are the contract.
    assert took < 800 * 0.02 / 4, f"{took:.2f} s for a {budget_s} s budget"
    plain = train(_objective(0.0), TrainOptions(epochs=2, learning_rate=1e-2, batch_size=8), progress=False)
    roomy = train(_objective(0.0), TrainOptions(epochs=2, learning_rate=1e-2, batch_size=8, max_minutes=60),
                  progress=False)
    assert roomy.budget_steps is None and roomy.loss_history == plain.loss_history


def test_budget_fields_are_validated(tmp_path):
    from tests.conftest import SPLICE_CSV

    raw = {"name": "x", "source": {"kind": "files", "path": str(SPLICE_CSV)},
           "columns": {"sequence": "Sequence", "label": "Class"}, "train": {"max_minutes": -1, "max_steps": -2}}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "max_minutes" in str(err.value) and "max_steps" in str(err.value)
