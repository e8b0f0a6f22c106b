"""The one optimisation loop every task trains through: AdamW, linear warm-up and decay, clipping,
best-on-validation, early stopping and resumable checkpoints.

The loop is task-agnostic: a task hands it an :class:`Objective` (the module whose ``requires_grad``
parameters train, the loss of a batch of training-row indices, and a validation score). The validation split
is scored every ``eval_every`` steps (default: each epoch) and at the end; the best-scoring trainable weights
are kept (highest, or lowest where the objective minimises, e.g. chat SFT's validation loss). The test split
is never seen here.

Determinism: the batch order comes from a generator seeded with ``seed``; with
``save_every`` the loop writes checkpoints (see :mod:`workbench.training.checkpoints`) from which a
``resume`` continues with the same weights, optimiser, scheduler, RNG states and batch order,
so an interrupted and resumed run ends with the same adapter as an uninterrupted one.

Under ``torchrun`` (``workbench run --nproc N``) every rank runs this loop on the same batch order; each
computes its shard of every global batch and :mod:`workbench.training.distributed` sums the gradients, so the
ranks apply identical updates. Rank 0 alone validates (the score is broadcast) and writes checkpoints.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import averaging
from . import checkpoints as ckpt
from . import distributed as dist
from .budget import price_validation, replan
from .objective import Objective, TrainOptions, TrainResult, schedule_steps

log = logging.getLogger(__name__)
_RESUMED = ("loss_history", "val_history", "val_seconds", "best_step", "best_val_score", "tokens_seen",
            "trained_tokens", "validation_seconds", "budget_steps")
def _better(score: float, best: float | None, maximize: bool = True) -> bool:
    """True if ``score`` beats ``best`` (NaN counts as the worst score)."""
    if best is None:
        return True
    as_num = lambda x: -math.inf if math.isnan(x) else (x if maximize else -x)  # noqa: E731
    return as_num(score) > as_num(best)


def train(objective: Objective, options: TrainOptions, *, checkpoint_dir: Path | None = None,
          resume: bool = False, progress: bool = True) -> TrainResult:
    """Trains the ``requires_grad`` parameters of ``objective.module``.

    Args:
        objective: The module, the batch loss and the validation score (see :class:`Objective`).
        options: Loop settings.
        checkpoint_dir: Where checkpoints go (needed for ``options.save_every`` and ``resume``).
        resume: Continue from the newest checkpoint in ``checkpoint_dir`` (from step 0 if there is none).
        progress: Show a tqdm bar.

    Returns:
        A :class:`TrainResult`; ``objective.module`` holds the best weights on return.

    Raises:
        ValueError: If ``save_every``/``resume`` is set without ``checkpoint_dir``, or a checkpoint does
            not fit the model (different trainable parameters).
    """
    from tqdm.auto import tqdm

    if (options.save_every or resume) and checkpoint_dir is None:
        raise ValueError("train.save_every and resume need a checkpoint directory.")
    named = {n: p for n, p in objective.module.named_parameters() if p.requires_grad}
    params = list(named.values())
    result = TrainResult(trainable_parameters=sum(p.numel() for p in params), val_metric=objective.val_metric)
    validate, val_metric = objective.validate, objective.val_metric
    steps_per_epoch, total = schedule_steps(objective.n_train, options.batch_size, options.epochs)
    total = min(total, options.max_steps) if options.max_steps else total
    result.planned_steps = total
    warmup = int(options.warmup_ratio * total)
    eval_every = options.eval_every or steps_per_epoch
    dist.broadcast_parameters(params)
    parallel = dist.world_size() > 1
    loop = {"step": 0, "order": None, "bad_evals": 0, "window": [], "best_score": None, "last_eval": -1, "total": total,
            "top": []}
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else
        max(0.0, (loop["total"] - s) / max(1, loop["total"] - warmup)))
    generator = torch.Generator().manual_seed(options.seed)
    best_state: dict[str, torch.Tensor] | None = None
    priced, eval_estimate = 0.0, 0.0  # seconds spent timing a validation batch; the validation pass it predicts

    latest = ckpt.latest_checkpoint(checkpoint_dir) if resume and checkpoint_dir is not None else None
    if resume and latest is None:
        log.warning("resume requested but no checkpoint in %s: training from step 0", checkpoint_dir)
    if latest is not None:
        trainable, best_state, state = ckpt.load_checkpoint(latest)
        if set(trainable) != set(named):
            raise ValueError(f"checkpoint {latest} does not fit this model (different trainable parameters); "
                             "it was written by another config. Delete it or run without --resume.")
        with torch.no_grad():
            for name, p in named.items():
                p.copy_(trainable[name])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        ckpt.set_rng_state(state["rng"])
        loop = state["loop"]
        loop.setdefault("total", total)
        for key in _RESUMED:
            setattr(result, key, state["result"].get(key, getattr(result, key)))
        result.resumed_from_step = loop["step"]
        log.info("resumed from %s (step %d of %d)", latest, loop["step"], total)

    def evaluate(step: int) -> None:
        nonlocal best_state
        loop["last_eval"] = step
        if validate is None:
            return
        began = time.perf_counter()
        score = dist.broadcast_score(validate() if dist.is_main() else None)
        result.validation_seconds += time.perf_counter() - began
        result.val_history.append((step, score))
        result.val_seconds.append(elapsed_before + time.perf_counter() - start)
        log.info("step %d: validation %s %.4f", step, val_metric, score)
        averaging.offer(loop.setdefault("top", []), options.average_top_k, score, step, named, objective.maximize)
        if _better(score, loop["best_score"], objective.maximize):
            loop["best_score"], loop["bad_evals"] = score, 0
            result.best_val_score, result.best_step = score, step
            best_state = {n: p.detach().clone() for n, p in named.items()}
        else:
            loop["bad_evals"] += 1

    def fit_budget(step: int) -> None:
        nonlocal priced, eval_estimate
        if not options.max_minutes:
            return
        if validate is not None and not result.val_history and not priced:
            priced, eval_estimate = price_validation(objective)
        new = replan(step, result.planned_steps, options.max_minutes * 60 - priced,
                     elapsed_before + time.perf_counter() - start - priced, result.validation_seconds,
                     len(result.val_history), eval_every, eval_estimate,
                     final_passes=2 if options.average_top_k >= 2 else 1)
        new = int(dist.broadcast_score(new))  # rank 0's clock decides for every rank
        if new != loop["total"]:
            log.info("wall-time budget %.1f min: schedule re-planned from %d to %d steps",
                     options.max_minutes, loop["total"], new)
            loop["total"] = bar.total = new
            result.budget_steps = new if new < result.planned_steps else None

    def save(step: int) -> None:
        state = {"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                 "generator": generator.get_state(), "rng": ckpt.rng_state(), "loop": loop,
                 "result": {k: v for k, v in asdict(result).items() if k in _RESUMED}}
        if dist.is_main():
            ckpt.save_checkpoint(checkpoint_dir, step, named, best_state, state)

    objective.module.train()
    elapsed_before = result.val_seconds[-1] if result.val_seconds else 0.0
    start = time.perf_counter()
    bar = tqdm(total=loop["total"], initial=loop["step"], desc="train", unit="step", disable=not progress or not dist.is_main())
    probe = min(loop["total"], max(10, warmup))
    while loop["step"] < loop["total"] and not result.stopped_early:
        pos = loop["step"] % steps_per_epoch
        if pos == 0:
            loop["order"] = torch.randperm(objective.n_train, generator=generator)
        idx = loop["order"][pos * options.batch_size:(pos + 1) * options.batch_size].tolist()
        if parallel:
            loss_value, tokens, trained = dist.data_parallel_step(objective, params, idx)
        else:
            loss, tokens, trained = objective.batch_loss(idx)
            loss.backward()
            loss_value = loss.item()
        result.tokens_seen += tokens
        result.trained_tokens += trained
        torch.nn.utils.clip_grad_norm_(params, options.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loop["step"] += 1
        step = loop["step"]
        loop["window"].append(loss_value)
        bar.update(1)
        bar.set_postfix(loss=f"{sum(loop['window']) / len(loop['window']):.3f}")
        if step == probe:
            fit_budget(step)
        total = loop["total"]
        if step % options.log_every == 0 or step == total:
            result.loss_history.append((step, sum(loop["window"]) / len(loop["window"])))
            loop["window"] = []
        if step % eval_every == 0 and step < total:
            evaluate(step)
            fit_budget(step)
            total = loop["total"]
            if options.patience and loop["bad_evals"] >= options.patience:
                result.stopped_early = True
                log.info("early stopping at step %d: no better validation %s in %d evaluations",
                         step, val_metric, options.patience)
        if options.save_every and step % options.save_every == 0 and step < total and not result.stopped_early:
            save(step)
    bar.close()
    if loop["last_eval"] != loop["step"]:
        evaluate(loop["step"])
    if best_state is not None:
        load(named, best_state)
    members = averaging.near_best(loop.get("top", []), objective.val_stderr, objective.maximize)
    if len(members) >= 2:
        keep_average(objective, named, members, result, best_state, options.average_keep)
    elif len(loop.get("top", [])) >= 2:
        result.average_skipped = True
        log.info("checkpoint averaging skipped: only the best evaluation is within two standard errors of the best "
                 "validation %s; kept the best single", val_metric)
    result.steps = loop["step"]
    result.seconds = time.perf_counter() - start
    return result


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
    if math.isclose(score, bar, rel_tol=0, abs_tol=1e-6) or _better(score, bar, objective.maximize):
        result.best_val_score, result.averaged = score, True
        log.info("kept the average of %d evaluations (steps %s): validation %s %.4f (%s %.4f, best single %.4f)",
                 len(top), result.averaged_steps, objective.val_metric, score, what, bar, best)
    elif best_state is not None:
        load(named, best_state)
        log.info("checkpoint average scored %.4f < %s %.4f on validation: kept the best single", score, what, bar)
