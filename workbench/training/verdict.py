"""Did the model learn anything? The check every run gets after training, before anything is written.

A run "learnt nothing" when either holds:

- **validation:** the kept weights do not beat a model that learnt nothing (the task's ``Objective.chance_score``:
  the training split's majority class for classification, a constant prediction for regression) by more than one
  standard error of the validation score (``Objective.val_stderr``);
- **training loss:** the mean loss of the last training windows did not fall clearly below the first window's
  (by at least :data:`MIN_DROP` of it and by more than two standard errors of the last windows' mean), or did not
  fall below the loss of predicting the training labels' prior at all (``Objective.chance_loss``: their entropy in
  nats for classification, 1.0 for regression's standardised targets).

Such a run still writes its directory (its files explain what happened), but the CLI prints a warning with what to
try, the model card's first line says so, ``metrics.json`` records the check, and a re-tune never registers or
promotes it (:mod:`workbench.retune.run`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

MIN_DROP = 0.02
"""The least fall of the training loss, as a fraction of the first window's loss, that counts as learning (a fall
must also exceed two standard errors of the last windows' mean)."""
TAIL_FRACTION = 0.2
"""The share of the logged loss windows, at the end of training, whose mean is compared with the start."""
ADVICE = ("Try more steps (train.epochs / train.max_steps), a lower learning rate (train.learning_rate), and check "
          "the labels (`workbench data preview CONFIG`).")


@dataclass
class LearningCheck:
    """The verdict on a trained model.

    Attributes:
        learnt: False if the model learnt nothing by either test.
        reasons: One sentence per failed test (empty when ``learnt``).
        val_score: Validation score of the kept weights (``None`` without validation).
        chance_score: What a model that learnt nothing scores on validation (``None`` if the task does not know).
        val_stderr: Standard error of the validation score at ``val_score`` (``None`` if unknown).
        start_loss: Mean training loss of the first logged window.
        end_loss: Mean training loss of the last ``TAIL_FRACTION`` of the windows.
        chance_loss: Training loss of predicting the labels' prior (``None`` if the task does not know).
        advice: What to try, for the CLI warning.
    """

    learnt: bool
    reasons: list[str] = field(default_factory=list)
    val_score: float | None = None
    chance_score: float | None = None
    val_stderr: float | None = None
    start_loss: float | None = None
    end_loss: float | None = None
    chance_loss: float | None = None
    advice: str = ""

    def to_dict(self) -> dict:
        """JSON-serialisable form (``metrics.json``'s ``training.learning_check``)."""
        return asdict(self)

    def message(self) -> str:
        """One paragraph for the CLI and the model card: what happened and what to try."""
        return "the model learnt nothing: " + "; ".join(self.reasons) + ". " + self.advice


def check_learning(loss_history: list[tuple[int, float]], val_score: float | None, chance_score: float | None,
                   val_stderr, maximize: bool = True, chance_loss: float | None = None,
                   metric: str = "score", loss_test: bool = True) -> LearningCheck:
    """Applies both tests (module docstring) to a finished run.

    Args:
        loss_history: ``[(step, mean training loss of the window), ...]`` as the loop logged it.
        val_score: The kept weights' validation score, or ``None`` (no validation split).
        chance_score: The validation score of a model that learnt nothing, or ``None`` (test skipped).
        val_stderr: ``score -> standard error`` of the validation score, or ``None`` (then any margin counts).
        maximize: True if a higher validation score is better.
        chance_loss: The training loss of predicting the labels' prior, or ``None``.
        metric: Name of the validation score, for the sentences.
        loss_test: Apply the training-loss test (``Objective.loss_check``); the losses are still recorded.

    Returns:
        A :class:`LearningCheck`.
    """
    reasons = []
    stderr = None
    if val_score is not None and chance_score is not None and not math.isnan(chance_score):
        stderr = float(val_stderr(val_score)) if val_stderr is not None and not math.isnan(val_score) else 0.0
        margin = (val_score - chance_score) if maximize else (chance_score - val_score)
        if math.isnan(val_score) or margin <= stderr:
            reasons.append(f"validation {metric} {val_score:.4f} is within one standard error ({stderr:.4f}) of the "
                           f"{chance_score:.4f} a model that learnt nothing scores")
    start = end = None
    losses = [loss for _, loss in loss_history if not math.isnan(loss)]
    if len(losses) >= 2:
        start = losses[0]
        tail = losses[-max(1, math.ceil(TAIL_FRACTION * (len(losses) - 1))):]
        end = sum(tail) / len(tail)
        noise = 2 * statistics.stdev(tail) / math.sqrt(len(tail)) if len(tail) >= 2 else 0.0
        if loss_test and start - end <= max(MIN_DROP * start, noise):
            reasons.append(f"the training loss ended at {end:.3f}, never clearly below where it started ({start:.3f})")
        elif loss_test and chance_loss is not None and end >= chance_loss:
            reasons.append(f"the training loss ended at {end:.3f}, not below the {chance_loss:.3f} of predicting the "
                           "labels' prior")
    return LearningCheck(not reasons, reasons, val_score, chance_score, stderr, start, end, chance_loss,
                         ADVICE if reasons else "")
