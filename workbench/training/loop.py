"""The one optimisation loop every task trains through: AdamW, linear warm-up and decay, clipping,
best-on-validation, early stopping, checkpoint averaging and resumable checkpoints.

The loop is task-agnostic: a task hands it an :class:`Objective` (the module whose ``requires_grad``
parameters train, the loss of a batch of training-row indices, and a validation score). The validation split
is scored every ``eval_every`` steps (default: each epoch) and at the end; the best-scoring trainable weights
are kept (highest, or lowest where the objective minimises, e.g. chat SFT's validation loss). The test split
is never seen here.

What trains is decided by the data and the config alone: the step count is ``min(epochs x steps per epoch,
max_steps)`` and early stopping follows the validation scores, so the same data, config and seed on the same
machine give the same model however busy the machine is. The clock is read to report (an estimate after the first
steps, timings in the result) and, only where the user asked for one, to fit an opt-in time cap
(``train.max_minutes``, :mod:`.budget`); a run the cap cut is marked as such. After training,
:mod:`.verdict` checks that the model learnt something.

Determinism: the batch order comes from a generator seeded with ``seed``; with ``save_every`` the loop writes
checkpoints (see :mod:`workbench.training.checkpoints`) from which a ``resume`` continues with the same weights,
optimiser, scheduler, RNG states and batch order, so an interrupted and resumed run ends with the same adapter as an
uninterrupted one.

Under ``torchrun`` (``workbench run --nproc N``) every rank runs this loop on the same batch order; each
computes its shard of every global batch and :mod:`workbench.training.distributed` sums the gradients, so the
ranks apply identical updates. Rank 0 alone validates (the score is broadcast) and writes checkpoints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

from . import averaging
from . import checkpoints as ckpt
from . import distributed as dist
from .budget import estimate_run, price_validation, replan, short_run_warning
from .objective import Objective, TrainOptions, TrainResult, schedule_steps
from .keep import better, keep_weights, load
from .verdict import check_learning

log = logging.getLogger(__name__)
_RESUMED = ("loss_history", "val_history", "val_seconds", "best_step", "best_val_score", "tokens_seen",
            "trained_tokens", "validation_seconds", "budget_steps")


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
        A :class:`TrainResult`; ``objective.module`` holds the kept weights on return, and
        ``TrainResult.learning_check`` says whether the model learnt anything (:mod:`.verdict`).

    Raises:
        ValueError: If ``save_every``/``resume`` is set without ``checkpoint_dir``, or a checkpoint does
            not fit the model (different trainable parameters).
    """
    if (options.save_every or resume) and checkpoint_dir is None:
        raise ValueError("train.save_every and resume need a checkpoint directory.")
    loop = _Loop(objective, options, checkpoint_dir)
    if resume:
        loop.resume()
    loop.run(progress)
    return loop.finish()


class _Loop:
    """The state of one training run and its stages; :func:`train` drives it."""

    def __init__(self, objective: Objective, options: TrainOptions, checkpoint_dir: Path | None):
        self.objective, self.options, self.checkpoint_dir = objective, options, checkpoint_dir
        self.named = {n: p for n, p in objective.module.named_parameters() if p.requires_grad}
        self.params = list(self.named.values())
        self.result = result = TrainResult(trainable_parameters=sum(p.numel() for p in self.params),
                                           val_metric=objective.val_metric)
        self.steps_per_epoch, total = schedule_steps(objective.n_train, options.batch_size, options.epochs)
        total = min(total, options.max_steps) if options.max_steps else total
        result.planned_steps = total
        warning = objective.short_run_check and short_run_warning(total, self.steps_per_epoch, objective.n_train,
                                                                  options.max_steps)
        if warning:
            log.warning(warning)
            result.warnings.append(warning)
        self.warmup = int(options.warmup_ratio * total)
        self.eval_every = options.eval_every or self.steps_per_epoch
        dist.broadcast_parameters(self.params)
        self.state = {"step": 0, "order": None, "bad_evals": 0, "window": [], "best_score": None, "last_eval": -1,
                      "total": total, "top": []}
        self.optimizer = torch.optim.AdamW(self.params, lr=options.learning_rate, weight_decay=options.weight_decay)
        state, warmup = self.state, self.warmup
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: (s + 1) / warmup if s < warmup else
            max(0.0, (state["total"] - s) / max(1, state["total"] - warmup)))
        self.generator = torch.Generator().manual_seed(options.seed)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.priced, self.eval_estimate = 0.0, 0.0  # seconds spent timing a validation batch; the pass it predicts
        self.elapsed_before, self.start, self.bar = 0.0, time.perf_counter(), None

    def resume(self) -> None:
        """Restores weights, optimiser, scheduler, RNG states and loop state from the newest checkpoint."""
        latest = ckpt.latest_checkpoint(self.checkpoint_dir)
        if latest is None:
            log.warning("resume requested but no checkpoint in %s: training from step 0", self.checkpoint_dir)
            return
        trainable, self.best_state, state = ckpt.load_checkpoint(latest)
        if set(trainable) != set(self.named):
            raise ValueError(f"checkpoint {latest} does not fit this model (different trainable parameters); "
                             "it was written by another config. Delete it or run without --resume.")
        load(self.named, trainable)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        ckpt.set_rng_state(state["rng"])
        self.state.clear()
        self.state.update(state["loop"])
        self.state.setdefault("total", self.result.planned_steps)
        for key in _RESUMED:
            setattr(self.result, key, state["result"].get(key, getattr(self.result, key)))
        self.result.resumed_from_step = self.state["step"]
        log.info("resumed from %s (step %d of %d)", latest, self.state["step"], self.result.planned_steps)

    def clock(self) -> float:
        """Training-loop wall time so far, in seconds (a resumed run continues from its checkpoint's figure)."""
        return self.elapsed_before + time.perf_counter() - self.start

    def evaluate(self, step: int) -> None:
        """Scores validation, offers the weights to checkpoint averaging and keeps them if they are the best."""
        state, result, objective = self.state, self.result, self.objective
        state["last_eval"] = step
        if objective.validate is None:
            return
        began = time.perf_counter()
        score = dist.broadcast_score(objective.validate() if dist.is_main() else None)
        result.validation_seconds += time.perf_counter() - began
        result.val_history.append((step, score))
        result.val_seconds.append(self.clock())
        log.info("step %d: validation %s %.4f", step, objective.val_metric, score)
        averaging.offer(state.setdefault("top", []), self.options.average_top_k, score, step, self.named,
                        objective.maximize)
        if better(score, state["best_score"], objective.maximize):
            state["best_score"], state["bad_evals"] = score, 0
            result.best_val_score, result.best_step = score, step
            self.best_state = {n: p.detach().clone() for n, p in self.named.items()}
        elif step >= self.options.patience_start * state["total"]:
            state["bad_evals"] += 1  # patience counts only from train.early_stopping_start on

    def price_validation(self) -> None:
        """Times one validation batch once, before the first evaluation, to price a validation pass."""
        if self.objective.validate is not None and not self.result.val_history and not self.priced:
            self.priced, self.eval_estimate = price_validation(self.objective)

    def report_estimate(self, step: int) -> None:
        """Logs (and records) how long the planned steps should take, from the pace of the steps so far."""
        self.price_validation()
        done = step - (self.result.resumed_from_step or 0)  # steps this process has timed
        per_step = max(0.0, time.perf_counter() - self.start - self.priced) / max(1, done)
        evaluations = (self.result.planned_steps - 1) // self.eval_every + 1 if self.objective.validate else 0
        self.result.estimate = estimate_run(self.result.planned_steps, per_step, self.eval_estimate, evaluations,
                                            measured_steps=step)
        log.info(self.result.estimate["text"])

    def fit_budget(self, step: int) -> None:
        """The opt-in time cap (``train.max_minutes``): re-plans the end of the schedule to fit it."""
        options, result = self.options, self.result
        if not options.max_minutes:
            return
        self.price_validation()
        new = replan(step, result.planned_steps, options.max_minutes * 60 - self.priced, self.clock() - self.priced,
                     result.validation_seconds, len(result.val_history), self.eval_every, self.eval_estimate,
                     final_passes=2 if options.average_top_k >= 2 else 1)
        new = int(dist.broadcast_score(new))  # rank 0's clock decides for every rank
        if new != self.state["total"]:
            log.info("time cap %.1f min: schedule re-planned from %d to %d steps",
                     options.max_minutes, self.state["total"], new)
            self.state["total"] = self.bar.total = new
            result.budget_steps = new if new < result.planned_steps else None

    def save(self, step: int) -> None:
        """Writes a resumable checkpoint (rank 0)."""
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
                 "generator": self.generator.get_state(), "rng": ckpt.rng_state(), "loop": self.state,
                 "result": {k: v for k, v in asdict(self.result).items() if k in _RESUMED}}
        if dist.is_main():
            ckpt.save_checkpoint(self.checkpoint_dir, step, self.named, self.best_state, state)

    def step(self) -> float:
        """One optimiser step on the next batch of the seeded order; returns its loss."""
        state, options, objective = self.state, self.options, self.objective
        pos = state["step"] % self.steps_per_epoch
        if pos == 0:
            state["order"] = torch.randperm(objective.n_train, generator=self.generator)
        idx = state["order"][pos * options.batch_size:(pos + 1) * options.batch_size].tolist()
        if dist.world_size() > 1:
            loss_value, tokens, trained = dist.data_parallel_step(objective, self.params, idx)
        else:
            loss, tokens, trained = objective.batch_loss(idx)
            loss.backward()
            loss_value = loss.item()
        self.result.tokens_seen += tokens
        self.result.trained_tokens += trained
        torch.nn.utils.clip_grad_norm_(self.params, options.max_grad_norm)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        return loss_value

    def run(self, progress: bool) -> None:
        """Steps until the planned total, early stopping or the opt-in time cap."""
        from tqdm.auto import tqdm

        state, options, result = self.state, self.options, self.result
        self.objective.module.train()
        self.elapsed_before = result.val_seconds[-1] if result.val_seconds else 0.0
        self.start = time.perf_counter()
        self.bar = tqdm(total=state["total"], initial=state["step"], desc="train", unit="step",
                        disable=not progress or not dist.is_main())
        probe = min(state["total"], max(10, self.warmup))
        while state["step"] < state["total"] and not result.stopped_early:
            loss_value = self.step()
            step = state["step"]
            state["window"].append(loss_value)
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{sum(state['window']) / len(state['window']):.3f}")
            if step == probe:
                self.report_estimate(step)
                self.fit_budget(step)
            total = state["total"]
            if step % options.log_every == 0 or step == total:
                result.loss_history.append((step, sum(state["window"]) / len(state["window"])))
                state["window"] = []
            if step % self.eval_every == 0 and step < total:
                self.evaluate(step)
                self.fit_budget(step)
                total = state["total"]
                if options.patience and state["bad_evals"] >= options.patience:
                    result.stopped_early = True
                    log.info("early stopping at step %d: no better validation %s in %d evaluations",
                             step, result.val_metric, options.patience)
            if options.save_every and step % options.save_every == 0 and step < total and not result.stopped_early:
                self.save(step)
        self.bar.close()

    def finish(self) -> TrainResult:
        """Final evaluation, the kept weights (best or averaged), the time-cap mark and the learning check."""
        state, result, objective, options = self.state, self.result, self.objective, self.options
        if state["last_eval"] != state["step"]:
            self.evaluate(state["step"])
        keep_weights(objective, self.named, state.get("top", []), result, self.best_state, options.average_keep)
        result.steps = state["step"]
        result.seconds = time.perf_counter() - self.start
        if result.budget_steps is not None and not result.stopped_early:
            result.time_capped = True
            cut = (f"stopped by the time cap ({options.max_minutes:g} min) at step {result.steps} of "
                   f"{result.planned_steps}: another run of this config on a busier or quieter machine trains "
                   "a different number of steps")
            log.warning(cut)
            result.warnings.append(cut)
        check = check_learning(result.loss_history, result.best_val_score if objective.validate else None,
                               objective.chance_score, objective.val_stderr, objective.maximize,
                               objective.chance_loss, result.val_metric, loss_test=objective.loss_check)
        result.learning_check = check.to_dict()
        if not check.learnt:
            log.warning(check.message())
            result.warnings.append(check.message())
        return result
