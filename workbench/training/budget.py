"""The wall-time budget of a training run (``train.max_minutes``): how many steps still fit.

The loop asks :func:`replan` after its first steps and after every evaluation. It measures the mean time of a
training step and of a validation pass so far, and returns the step count at which the schedule should end so
that the remaining steps, the evaluations among them and the final evaluation finish within the budget. The
plan only ever shrinks, so a run with a generous budget trains exactly as it would without one.
"""

from __future__ import annotations

import math


def replan(step: int, total: int, budget_seconds: float, elapsed: float, validation_seconds: float, evaluations: int,
           eval_every: int) -> int:
    """The new end of the schedule under a wall-time budget.

    Args:
        step: Optimiser steps done.
        total: Steps currently planned.
        budget_seconds: The budget, in seconds (``train.max_minutes`` x 60).
        elapsed: Training-loop wall time so far, in seconds, validation included.
        validation_seconds: Of ``elapsed``, the time spent in validation, in seconds.
        evaluations: Validation passes so far.
        eval_every: Steps between validation passes.

    Returns:
        ``step <= new total <= total``; ``step`` itself when the budget is spent.
    """
    if step <= 0 or budget_seconds <= 0:
        return total
    if elapsed >= budget_seconds:
        return step
    per_step = max(1e-9, (elapsed - validation_seconds) / step)
    per_eval = validation_seconds / evaluations if evaluations else 0.0
    remaining = budget_seconds - elapsed - per_eval  # the final evaluation always runs
    fits = math.floor(remaining / (per_step + per_eval / max(1, eval_every))) if remaining > 0 else 0
    return max(step, min(total, step + fits))
