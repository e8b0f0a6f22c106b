"""The optimisation loop: AdamW, linear warm-up and decay, clipping, best-on-validation,
early stopping and resumable checkpoints.

The loop is task-agnostic: a *scorer* maps a batch of prompts to outputs, ``loss_fn`` turns
outputs and targets into a scalar loss, and ``validate`` scores the validation split (higher
is better). The validation split is scored every ``eval_every`` steps (default: each epoch)
and at the end; the best-scoring trainable weights are kept. The test split is never seen here.

Determinism: the batch order comes from a generator seeded with ``seed``; with
``save_every`` the loop writes checkpoints (see :mod:`workbench.checkpoints`) from which a
``resume`` continues with the same weights, optimiser, scheduler, RNG states and batch order,
so an interrupted and resumed run ends with the same adapter as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import checkpoints as ckpt
from .engine import encode_prompts, predict_proba

log = logging.getLogger(__name__)
_RESUMED = ("loss_history", "val_history", "val_seconds", "best_step", "best_val_score", "tokens_seen")


@dataclass
class TrainOptions:
    """Loop settings (see ``TrainConfig`` for each field's meaning)."""

    epochs: float
    learning_rate: float
    batch_size: int
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0
    patience: int = 0
    save_every: int = 0


@dataclass
class TrainResult:
    """What training did.

    Attributes:
        steps: Optimiser steps taken (fewer than planned if stopped early).
        planned_steps: Steps the schedule was built for.
        seconds: Wall time of the loop in this process, in seconds (validation included).
        loss_history: Mean training loss per logging window, ``[(step, loss), ...]``.
        val_metric: Name of the validation score (``accuracy`` or ``spearman``).
        val_history: Validation score after each evaluation, ``[(step, score), ...]``.
        val_seconds: Training-loop wall time at each evaluation, in seconds, aligned with ``val_history``
            (the evaluation itself included; a resumed run continues from the checkpoint's figure).
        best_step: Step whose trainable weights were kept.
        best_val_score: Validation score at ``best_step``.
        stopped_early: True if early stopping ended the loop.
        resumed_from_step: Checkpoint step this process resumed from, or ``None``.
        trainable_parameters: Parameters updated by the optimiser.
        tokens_seen: Prompt tokens processed in training forward passes (padding excluded).
    """

    steps: int = 0
    planned_steps: int = 0
    seconds: float = 0.0
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    val_metric: str = "accuracy"
    val_history: list[tuple[int, float]] = field(default_factory=list)
    val_seconds: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val_score: float = float("nan")
    stopped_early: bool = False
    resumed_from_step: int | None = None
    trainable_parameters: int = 0
    tokens_seen: int = 0


def schedule_steps(n_train: int, batch_size: int, epochs: float) -> tuple[int, int]:
    """Returns ``(steps_per_epoch, total_steps)`` for a training split of ``n_train`` prompts."""
    steps_per_epoch = math.ceil(n_train / batch_size)
    return steps_per_epoch, max(1, math.ceil(epochs * steps_per_epoch))


def _better(score: float, best: float | None) -> bool:
    """True if ``score`` beats ``best`` (NaN counts as the worst score)."""
    if best is None:
        return True
    as_num = lambda x: -math.inf if math.isnan(x) else x  # noqa: E731
    return as_num(score) > as_num(best)


def train(scorer: torch.nn.Module, tokenizer, prompts: list[str], targets: torch.Tensor,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], validate: Callable[[], float] | None,
          options: TrainOptions, *, val_metric: str = "accuracy", checkpoint_dir: Path | None = None,
          resume: bool = False, progress: bool = True) -> TrainResult:
    """Trains the ``requires_grad`` parameters of ``scorer``.

    Args:
        scorer: Module mapping ``input_ids``/``attention_mask`` of shape ``(batch, seq_len)`` to outputs.
        tokenizer: The base model's tokenizer.
        prompts: Training prompts, shape ``(n_train,)``.
        targets: Training targets, shape ``(n_train,)`` (class indices or standardised values).
        loss_fn: ``(outputs, targets) -> scalar loss``.
        validate: Returns the validation score (higher is better), or ``None`` for no validation.
        options: Loop settings.
        val_metric: Name of the score ``validate`` returns, for logs and the result.
        checkpoint_dir: Where checkpoints go (needed for ``options.save_every`` and ``resume``).
        resume: Continue from the newest checkpoint in ``checkpoint_dir`` (from step 0 if there is none).
        progress: Show a tqdm bar.

    Returns:
        A :class:`TrainResult`; ``scorer`` holds the best weights on return.

    Raises:
        ValueError: If ``save_every``/``resume`` is set without ``checkpoint_dir``, or a checkpoint does
            not fit the model (different trainable parameters).
    """
    from tqdm.auto import tqdm

    if (options.save_every or resume) and checkpoint_dir is None:
        raise ValueError("train.save_every and resume need a checkpoint directory.")
    named = {n: p for n, p in scorer.named_parameters() if p.requires_grad}
    params = list(named.values())
    result = TrainResult(trainable_parameters=sum(p.numel() for p in params), val_metric=val_metric)
    steps_per_epoch, total = schedule_steps(len(prompts), options.batch_size, options.epochs)
    result.planned_steps = total
    warmup = int(options.warmup_ratio * total)
    eval_every = options.eval_every or steps_per_epoch
    optimizer = torch.optim.AdamW(params, lr=options.learning_rate, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    device = next(iter(params)).device if params else torch.device("cpu")
    generator = torch.Generator().manual_seed(options.seed)
    loop = {"step": 0, "order": None, "bad_evals": 0, "window": [], "best_score": None, "last_eval": -1}
    best_state: dict[str, torch.Tensor] | None = None

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
        for key in _RESUMED:
            setattr(result, key, state["result"].get(key, getattr(result, key)))
        result.resumed_from_step = loop["step"]
        log.info("resumed from %s (step %d of %d)", latest, loop["step"], total)

    def evaluate(step: int) -> None:
        nonlocal best_state
        loop["last_eval"] = step
        if validate is None:
            return
        score = float(validate())
        result.val_history.append((step, score))
        result.val_seconds.append(elapsed_before + time.perf_counter() - start)
        log.info("step %d: validation %s %.4f", step, val_metric, score)
        if _better(score, loop["best_score"]):
            loop["best_score"], loop["bad_evals"] = score, 0
            result.best_val_score, result.best_step = score, step
            best_state = {n: p.detach().clone() for n, p in named.items()}
        else:
            loop["bad_evals"] += 1

    def save(step: int) -> None:
        state = {"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                 "generator": generator.get_state(), "rng": ckpt.rng_state(), "loop": loop,
                 "result": {k: v for k, v in asdict(result).items() if k in _RESUMED}}
        ckpt.save_checkpoint(checkpoint_dir, step, named, best_state, state)

    scorer.train()
    elapsed_before = result.val_seconds[-1] if result.val_seconds else 0.0
    start = time.perf_counter()
    bar = tqdm(total=total, initial=loop["step"], desc="train", unit="step", disable=not progress)
    while loop["step"] < total and not result.stopped_early:
        pos = loop["step"] % steps_per_epoch
        if pos == 0:
            loop["order"] = torch.randperm(len(prompts), generator=generator)
        idx = loop["order"][pos * options.batch_size:(pos + 1) * options.batch_size]
        batch = encode_prompts(tokenizer, [prompts[i] for i in idx])
        result.tokens_seen += int(batch["attention_mask"].sum())
        outputs = scorer(**{k: v.to(device) for k, v in batch.items()})
        loss = loss_fn(outputs, targets[idx].to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, options.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loop["step"] += 1
        step = loop["step"]
        loop["window"].append(loss.item())
        bar.update(1)
        bar.set_postfix(loss=f"{sum(loop['window']) / len(loop['window']):.3f}")
        if step % options.log_every == 0 or step == total:
            result.loss_history.append((step, sum(loop["window"]) / len(loop["window"])))
            loop["window"] = []
        if step % eval_every == 0 and step < total:
            evaluate(step)
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
        with torch.no_grad():
            for name, p in named.items():
                p.copy_(best_state[name])
    result.steps = loop["step"]
    result.seconds = time.perf_counter() - start
    return result


def train_classifier(scorer, tokenizer, prompts: list[str], targets: list[int], val_prompts: list[str],
                     val_targets: list[int], *, progress: bool = True, checkpoint_dir: Path | None = None,
                     resume: bool = False, **options) -> TrainResult:
    """Trains a :class:`~workbench.engine.LabelScorer` with cross-entropy on the label logits.

    Validation accuracy picks the kept weights. ``options`` are :class:`TrainOptions` fields.
    """
    y_val = torch.tensor(val_targets, dtype=torch.long)

    def validate() -> float:
        return (predict_proba(scorer, tokenizer, val_prompts).argmax(-1) == y_val).float().mean().item()

    return train(scorer, tokenizer, prompts, torch.tensor(targets, dtype=torch.long),
                 torch.nn.functional.cross_entropy, validate if val_prompts else None, TrainOptions(**options),
                 val_metric="accuracy", checkpoint_dir=checkpoint_dir, resume=resume, progress=progress)


def train_regressor(scorer, tokenizer, prompts: list[str], targets: torch.Tensor, val_prompts: list[str],
                    val_targets: list[float], *, progress: bool = True, checkpoint_dir: Path | None = None,
                    resume: bool = False, **options) -> TrainResult:
    """Trains a :class:`~workbench.regression.RegressionScorer` with MSE on standardised targets.

    Args:
        targets: Standardised training targets, float tensor of shape ``(n_train,)``.
        val_targets: Validation targets (any affine scale: Spearman is rank-based).

    Validation Spearman correlation picks the kept weights. ``options`` are :class:`TrainOptions` fields.
    """
    import numpy as np
    from scipy.stats import spearmanr

    from .regression import predict_standardised

    def validate() -> float:
        pred = predict_standardised(scorer, tokenizer, val_prompts).numpy()
        if np.ptp(pred) == 0:
            return float("nan")
        return float(spearmanr(pred, val_targets).statistic)

    return train(scorer, tokenizer, prompts, targets.float(), torch.nn.functional.mse_loss,
                 validate if val_prompts else None, TrainOptions(**options), val_metric="spearman",
                 checkpoint_dir=checkpoint_dir, resume=resume, progress=progress)
