"""Checkpoint averaging (``train.average_top_k``): the uniform average of the trainable weights of the K
best-scoring validation evaluations of one run.

Averaging the weights of several points of one training trajectory lands nearer the centre of a flat optimum and
usually generalises better than any single point (Izmailov et al. 2018, "Averaging weights leads to wider optima
and better generalization", UAI; Wortsman et al. 2022, "Model soups", ICML, whose "uniform soup" of the best
checkpoints this is). For a LoRA adapter the A and B matrices are averaged separately: along one trajectory the
product of the averages stays close to the average of the products, and the loop checks the result on the
validation split (``train.average_keep``): by default the average is kept if it scores at least the mean score of
the evaluations it averages, else the best single evaluation is restored. The stricter greedy-soup bar ('best':
at least the best single score) compares the average's one score with the maximum of many noisy ones, which on a
validation split of a few hundred rows is biased upward, so it rarely keeps the average.

The members' mean is a fair bar only if the members sit on the same plateau: in a short run (a few evaluations,
the score still climbing) the K best include early, much worse weights, their mean is low, and an average that
validates well below the best single one would pass it. So only evaluations within two standard errors of the
best score (about the half-width of its 95 % interval) are averaged (:func:`near_best`; the task gives the
standard error of its validation score, e.g. the binomial one of an accuracy); on a plateau the K best are closer
than that and all are averaged. With fewer than two left the best single evaluation is kept.
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def offer(top: list, k: int, score: float, step: int, named: dict[str, torch.Tensor], maximize: bool = True) -> None:
    """Keeps ``named``'s current weights in ``top`` if ``score`` is among the ``k`` best so far.

    Args:
        top: ``[(score, step, {name: tensor}), ...]``, best first; updated in place (it is saved in checkpoints).
        k: How many evaluations to keep (< 2: keep none).
        score: This evaluation's validation score (NaN is never kept).
        step: The optimiser step of this evaluation.
        named: The trainable parameters, ``{name: tensor}``; cloned, not referenced.
        maximize: Higher scores are better (False for a loss).
    """
    if k < 2 or math.isnan(score):
        return
    top.append((score, step, {n: p.detach().clone() for n, p in named.items()}))
    top.sort(key=lambda item: (-item[0] if maximize else item[0], -item[1]))  # ties: the later step first
    del top[k:]


def near_best(top: list, stderr: Callable[[float], float] | None, maximize: bool = True, z: float = 2.0) -> list:
    """The members of ``top`` whose score is within ``z`` standard errors of the best one (``top[0]``).

    Args:
        top: ``[(score, step, state), ...]``, best first (as :func:`offer` keeps it).
        stderr: The standard error of a validation score at a given score (same units), or ``None``: unknown,
            every member is kept.
        maximize: Higher scores are better (False for a loss).
        z: How many standard errors below the best a member may score.

    Returns:
        A new list, best first; ``top`` itself is not changed.
    """
    if not top or stderr is None:
        return list(top)
    best = top[0][0]
    margin = z * stderr(best)
    return [item for item in top if (best - item[0] if maximize else item[0] - best) <= margin + 1e-9]


def average(top: list) -> dict[str, torch.Tensor]:
    """The element-wise mean of the kept weights, ``{name: tensor}`` (shapes as in the model).

    Raises:
        ValueError: If ``top`` is empty.
    """
    if not top:
        raise ValueError("no evaluations were kept to average; set train.average_top_k >= 2 and validate the run.")
    names = top[0][2].keys()
    return {n: torch.stack([state[n].float() for _, _, state in top]).mean(0).to(top[0][2][n].dtype) for n in names}
