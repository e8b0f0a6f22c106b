"""The wall-time budget of a training run (``train.max_minutes``): how many steps still fit.

The loop asks :func:`replan` after its first steps and after every evaluation. It measures the mean time of a
training step and of a validation pass so far, and returns the step count at which the schedule should end so
that the remaining steps, the evaluations among them, the final evaluation and the scoring of the checkpoint
average (when ``train.average_top_k`` asks for one) finish within the budget. Before
the first evaluation a validation pass is priced from one timed validation batch (:func:`price_validation`), so a
run whose only evaluation is the final one still ends inside the budget. The plan never exceeds the steps the
epochs ask for, so a run with a generous budget trains exactly as it would without one; below that ceiling it
follows the measured pace both ways, so a step time inflated by a busy moment at the first re-plan is corrected
at the next evaluation instead of shortening the run for good. A cut plan that would end a few steps past an
evaluation ends at it (:data:`SNAP_FRACTION`), so the last weights are not scored, and averaged, twice.
"""

from __future__ import annotations

import logging
import math

from .objective import Objective

log = logging.getLogger(__name__)

SNAP_FRACTION = 0.1
"""A budget-cut plan that would end at most this fraction of ``eval_every`` past an evaluation ends at that
evaluation instead: the final evaluation would score nearly the same weights again (one validation pass spent for
a few steps) and enter the checkpoint average twice."""


def replan(step: int, total: int, budget_seconds: float, elapsed: float, validation_seconds: float, evaluations: int,
           eval_every: int, eval_estimate: float = 0.0, final_passes: int = 1) -> int:
    """The new end of the schedule under a wall-time budget.

    Args:
        step: Optimiser steps done.
        total: Steps the schedule was built for (the epochs, capped by ``max_steps``): the ceiling.
        budget_seconds: The budget, in seconds (``train.max_minutes`` x 60).
        elapsed: Training-loop wall time so far, in seconds, validation included.
        validation_seconds: Of ``elapsed``, the time spent in validation, in seconds.
        evaluations: Validation passes so far.
        eval_every: Steps between validation passes.
        eval_estimate: Expected seconds of one validation pass, used while ``evaluations`` is 0 (0 = free).
        final_passes: Validation passes that run after the last step: 1 (the final evaluation), 2 when the
            average of the best evaluations' weights is scored too (``train.average_top_k`` >= 2).

    Returns:
        ``step <= new total <= total``; ``step`` itself when the budget is spent. A cut plan that would end at
        most ``SNAP_FRACTION x eval_every`` steps past an evaluation ends at that evaluation. Successive calls may
        return a larger value than before (a faster pace measured), never one above ``total``.
    """
    if step <= 0 or budget_seconds <= 0:
        return total
    if elapsed >= budget_seconds:
        return step
    per_step = max(1e-9, (elapsed - validation_seconds) / step)
    per_eval = validation_seconds / evaluations if evaluations else max(0.0, eval_estimate)
    remaining = budget_seconds - elapsed - per_eval * final_passes  # the final evaluation(s) always run
    fits = math.floor(remaining / (per_step + per_eval / max(1, eval_every))) if remaining > 0 else 0
    end = min(total, step + fits)
    tail = end % eval_every if eval_every > 0 else 0
    if end < total and 0 < tail <= SNAP_FRACTION * eval_every and end - tail >= max(step, eval_every):
        end -= tail  # end on the evaluation just before (still to come): no near-duplicate final evaluation
    return max(step, end)


def price_validation(objective: Objective) -> tuple[float, float]:
    """Times one validation batch (``objective.eval_forward``, 64 prompts) and scales it to a validation pass of
    ``objective.val_rows`` prompts, so the wall-time budget can price evaluations before the first one.

    Returns:
        ``(seconds spent timing, estimated seconds of one validation pass)``; ``(0.0, 0.0)`` if the objective
        cannot be timed (no ``eval_forward`` or ``val_rows`` is 0).
    """
    if objective.eval_forward is None or objective.val_rows <= 0:
        return 0.0, 0.0
    spent = objective.time_eval_batch()
    estimate = spent * math.ceil(objective.val_rows / 64)
    log.info("a validation batch took %.1f s: a validation pass of %d prompts is priced at %.0f s",
             spent, objective.val_rows, estimate)
    return spent, estimate
