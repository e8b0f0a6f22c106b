"""Which weights a run keeps at the end: the best evaluation's, or the average of the best evaluations' weights
where that validates well enough (``train.average_top_k``, ``train.average_keep``; see :mod:`.averaging`).
"""

from __future__ import annotations

import logging
import math
import time

import torch

from . import averaging
from . import distributed as dist
from .objective import Objective, TrainResult

log = logging.getLogger(__name__)


def better(score: float, best: float | None, maximize: bool = True) -> bool:
    """True if ``score`` beats ``best`` (NaN counts as the worst score)."""
    if best is None:
        return True
    as_num = lambda x: -math.inf if math.isnan(x) else (x if maximize else -x)  # noqa: E731
    return as_num(score) > as_num(best)



def keep_weights(objective: Objective, named: dict[str, torch.Tensor], top: list, result: TrainResult,
                 best_state: dict[str, torch.Tensor] | None, rule: str = "members") -> None:
    """Loads the kept weights into ``named``: the best evaluation's (``best_state``), replaced by the average of
    the evaluations in ``top`` within two standard errors of the best where :func:`keep_average` keeps it.

    Args:
        objective: The run's objective (its validation score and standard error).
        named: The trainable parameters, ``{name: tensor}``; changed in place.
        top: ``[(score, step, state), ...]``, best first (:func:`.averaging.offer`).
        result: Records what was kept.
        best_state: The best evaluation's weights, or ``None`` (no validation).
        rule: ``train.average_keep``.
    """
    if best_state is not None:
        load(named, best_state)
    members = averaging.near_best(top, objective.val_stderr, objective.maximize)
    if len(members) >= 2:
        keep_average(objective, named, members, result, best_state, rule)
    elif len(top) >= 2:
        result.average_skipped = True
        log.info("checkpoint averaging skipped: only the best evaluation is within two standard errors of the "
                 "best validation %s; kept the best single", result.val_metric)


def load(named: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    """Copies ``state``'s tensors into the parameters ``named`` (same names and shapes)."""
    with torch.no_grad():
        for name, p in named.items():
            p.copy_(state[name])


def keep_average(objective: Objective, named: dict[str, torch.Tensor], top: list, result: TrainResult,
                 best_state: dict[str, torch.Tensor] | None, rule: str = "members") -> None:
    """Scores the average of the ``top`` evaluations' weights on validation (:mod:`.averaging`); keeps it if it
    scores at least as well as the bar ``rule`` sets (``"members"``: the mean score of the averaged evaluations;
    ``"best"``: the best single evaluation; ``train.average_keep``), else restores ``best_state``. Records both in
    ``result``."""
    load(named, averaging.average(top))
    began = time.perf_counter()
    score = dist.broadcast_score(objective.validate() if dist.is_main() else None)
    result.validation_seconds += time.perf_counter() - began
    result.averaged_steps, result.averaged_val_score = sorted(step for _, step, _ in top), score
    best = result.best_val_score
    bar = best if rule == "best" else sum(s for s, _, _ in top) / len(top)
    what = "best single" if rule == "best" else "its members' mean"
    if math.isclose(score, bar, rel_tol=0, abs_tol=1e-6) or better(score, bar, objective.maximize):
        result.best_val_score, result.averaged = score, True
        log.info("kept the average of %d evaluations (steps %s): validation %s %.4f (%s %.4f, best single %.4f)",
                 len(top), result.averaged_steps, objective.val_metric, score, what, bar, best)
    elif best_state is not None:
        load(named, best_state)
        log.info("checkpoint average scored %.4f < %s %.4f on validation: kept the best single", score, what, bar)
