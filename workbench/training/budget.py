"""How long a run takes: the estimate printed after the first steps, the warning for a step cap that leaves too
few epochs, and the opt-in time cap (``train.max_minutes``).

The training length is decided by the data and the config (``epochs``, ``max_steps``); this module only reports
how long that should take (:func:`estimate_run`) and warns up front when ``max_steps`` leaves fewer than
:data:`MIN_EPOCHS` passes over the data (:func:`short_run_warning`). Only where the user asked for a time cap does
the clock decide what trains: the loop then asks :func:`replan` after its first steps and after every evaluation.
It measures the mean time of a training step and of a validation pass so far, and returns the step count at which
the schedule should end so that the remaining steps, the evaluations among them, the final evaluation and the
scoring of the checkpoint average (when ``train.average_top_k`` asks for one) finish within the cap. Before the
first evaluation a validation pass is priced from one timed validation batch (:func:`price_validation`). The plan
never exceeds the steps the epochs ask for; below that ceiling it follows the measured pace both ways. A cut plan
that would end a few steps past an evaluation ends at it (:data:`SNAP_FRACTION`), so the last weights are not
scored, and averaged, twice. A run the cap cut is marked "stopped by the time cap" (:mod:`.loop`).
"""

from __future__ import annotations

import logging
import math

from .objective import Objective

log = logging.getLogger(__name__)

MIN_EPOCHS = 2.0
"""A ``max_steps`` cap that leaves fewer passes over the training split than this is warned about before training: a
101-nt, 6,500-row DNA task capped at 1.1 epochs of both strands trained to chance (test accuracy 0.502, the loss
at ln 2 throughout), where the same recipe at more epochs learns."""
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


def estimate_run(steps: int, step_seconds: float, eval_seconds: float, evaluations: int,
                 measured_steps: int) -> dict:
    """How long ``steps`` training steps and ``evaluations`` validation passes should take at the measured pace.

    Args:
        steps: Planned optimiser steps.
        step_seconds: Mean wall time of a training step so far, in seconds.
        eval_seconds: Estimated wall time of one validation pass, in seconds (0 = none or unknown).
        evaluations: Validation passes the plan holds (the final one included).
        measured_steps: Steps the pace was measured over.

    Returns:
        ``{"steps", "step_seconds", "eval_seconds", "evaluations", "seconds", "text"}``; ``text`` reads e.g.
        "about 1,800 steps, about 14 min on this machine (measured from the first 90 steps: 0.46 s/step; 14
        validation passes of about 3 s)".
    """
    seconds = steps * step_seconds + evaluations * eval_seconds
    passes = f"; {evaluations} validation passes of about {eval_seconds:.0f} s" if evaluations and eval_seconds else ""
    measured = f"the first {measured_steps} steps" if measured_steps > 1 else "one timed step"
    text = (f"about {steps:,} steps, about {_duration(seconds)} on this machine (measured from {measured}: "
            f"{step_seconds:.2f} s/step{passes})")
    return {"steps": steps, "step_seconds": step_seconds, "eval_seconds": eval_seconds, "evaluations": evaluations,
            "seconds": seconds, "text": text}


def short_run_warning(total: int, steps_per_epoch: int, n_train: int, max_steps: int) -> str | None:
    """A warning when ``train.max_steps`` caps the plan below :data:`MIN_EPOCHS` passes over the training split.

    Args:
        total: Planned steps (after the cap).
        steps_per_epoch: Optimiser steps per pass over the training split.
        n_train: Training prompts (both strands counted under reverse-complement augmentation).
        max_steps: ``train.max_steps`` (0 = no cap).

    Returns:
        The warning text, or ``None`` if the cap leaves enough epochs (or did not cut the plan).
    """
    if not max_steps or total != max_steps or total >= MIN_EPOCHS * steps_per_epoch:
        return None
    need = math.ceil(MIN_EPOCHS * steps_per_epoch)
    return (f"train.max_steps {max_steps:,} covers {total / steps_per_epoch:.1f} epochs of {n_train:,} training "
            f"prompts; runs under {MIN_EPOCHS:g} epochs have trained to chance on small DNA tasks. This table needs a "
            f"longer run: set train.max_steps to at least {need:,} ({MIN_EPOCHS:g} epochs), or keep the cap and read "
            "the check after training.")


def _duration(seconds: float) -> str:
    """``"40 s"``, ``"14 min"`` or ``"2.5 h"``."""
    if seconds < 90:
        return f"{math.floor(seconds + 0.5)} s"
    if seconds < 90 * 60:
        return f"{math.floor(seconds / 60 + 0.5)} min"
    return f"{seconds / 3600:.1f} h"
