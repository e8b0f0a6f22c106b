"""What the training loop is handed and what it returns: the task's objective, the loop settings, the result.

A task builds an :class:`Objective` (its model, the loss of a batch of training-row indices, its validation
score); :func:`workbench.training.loop.train` optimises it with :class:`TrainOptions` from the run config
and returns a :class:`TrainResult`, which goes into ``metrics.json`` and the model card.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

BatchLoss = tuple[torch.Tensor, int, int]  # (scalar loss, tokens in the forward pass, tokens that carry a loss)


@dataclass
class Objective:
    """What a task asks the loop to optimise.

    Attributes:
        module: The model; its ``requires_grad`` parameters train (LoRA weights, a head).
        n_train: Training rows; the loop draws batches of their indices.
        batch_loss: Row indices ``(batch,)`` -> :data:`BatchLoss`; the loss is a differentiable scalar.
        validate: Returns the validation score, or ``None`` for no validation.
        val_metric: Name of the score, for logs and the result (``accuracy``, ``spearman``, ``loss``).
        maximize: True if a higher score is better; False for a loss.
        token_counts: Returns the token count of every row per split (``{"train": [...], "validation": [...],
            "test": [...]}``), for the dry run.
        eval_forward: One no-grad forward over a validation batch of 64 rows, for the dry run's timing.
        reduction: What the batch loss is a mean over: ``"rows"`` (sequence tasks) or ``"tokens"`` (chat SFT:
            loss-carrying tokens), so data-parallel ranks weight their shards as one process would.
        val_rows: Prompts one validation pass scores (both strands counted where test-time reverse-complement
            averaging is on); with ``eval_forward`` it lets a wall-time budget price a validation pass before the
            first one has run (0 = unknown: the first pass is priced once it has run).
        val_stderr: The standard error of a validation score at a given score, same units (e.g. the binomial one
            of an accuracy on the validation rows), or ``None`` if unknown; checkpoint averaging only averages
            evaluations within two standard errors of the best (:func:`~workbench.training.averaging.near_best`).
        chance_score: The validation score of a model that learnt nothing (the training majority class's accuracy
            for classification, 0 Spearman for regression), or ``None`` if the task has none; with ``val_stderr``
            it decides whether the kept weights learnt anything (:mod:`workbench.training.verdict`).
        chance_loss: The training loss of predicting the labels' prior (the label entropy in nats for
            classification, 1.0 for regression's standardised targets), or ``None``.
        loss_check: Whether the learning check's training-loss test applies. False for DNA language modelling,
            whose loss cannot fall 10 % below the prior's (a genome holds about 1.9 of the uniform 2 bits per base):
            there the validation test (against the Markov chain) decides alone.
        short_run_check: Whether a ``train.max_steps`` cap under two passes over the training rows is warned
            about (:func:`~workbench.training.budget.short_run_warning`). False for continued pretraining on a
            corpus, where a fraction of one pass is the usual plan and bits per base against the Markov chain say
            whether it learnt.
    """

    module: torch.nn.Module
    n_train: int
    batch_loss: Callable[[list[int]], BatchLoss]
    validate: Callable[[], float] | None = None
    val_metric: str = "accuracy"
    maximize: bool = True
    token_counts: Callable[[], dict[str, list[int]]] = dict
    eval_forward: Callable[[], None] | None = None
    reduction: str = "rows"
    val_rows: int = 0
    val_stderr: Callable[[float], float] | None = None
    chance_score: float | None = None
    chance_loss: float | None = None
    loss_check: bool = True
    short_run_check: bool = True

    def time_eval_batch(self) -> float:
        """Seconds of one no-grad :attr:`eval_forward` (a validation batch of 64 rows) in eval mode, or 0.0 if
        there is none; the module is back in train mode afterwards. Used by the dry run and the wall-time budget."""
        if self.eval_forward is None:
            return 0.0
        cuda = torch.cuda.is_available() and any(p.is_cuda for p in self.module.parameters())
        self.module.eval()
        with torch.no_grad():
            start = time.perf_counter()
            self.eval_forward()
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        self.module.train()
        return seconds


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
    patience_start: float = 0.0
    save_every: int = 0
    max_steps: int = 0
    max_minutes: float = 0.0
    average_top_k: int = 0
    average_keep: str = "members"

    @classmethod
    def from_config(cls, train, log_every: int = 10) -> "TrainOptions":
        """The loop settings of a run config's ``train`` group (any task's)."""
        return cls(epochs=train.epochs, learning_rate=train.learning_rate, batch_size=train.batch_size,
                   warmup_ratio=train.warmup_ratio, weight_decay=train.weight_decay,
                   max_grad_norm=train.max_grad_norm, seed=train.seed, log_every=log_every,
                   eval_every=train.eval_every, patience=train.early_stopping_patience,
                   patience_start=train.early_stopping_start, save_every=train.save_every,
                   max_steps=train.max_steps, max_minutes=train.max_minutes,
                   average_top_k=train.average_top_k, average_keep=train.average_keep)


@dataclass
class TrainResult:
    """What training did.

    Attributes:
        steps: Optimiser steps taken (fewer than planned if stopped early).
        planned_steps: Steps the schedule was built for (epochs, capped by ``max_steps``): decided by the data and
            the config alone.
        budget_steps: Steps the opt-in ``max_minutes`` time cap cut the plan to, or ``None`` if it did not cut it.
        time_capped: True if the time cap ended the run before ``planned_steps`` ("stopped by the time cap at step
            N of M"): the step count then depends on how busy the machine was.
        estimate: The estimate logged after the first steps (:func:`workbench.training.budget.estimate_run`).
        learning_check: Whether the model learnt anything (:class:`workbench.training.verdict.LearningCheck`,
            as a dict).
        warnings: Sentences for the user: a step cap under two epochs, the time cap, a model that learnt nothing.
        seconds: Wall time of the loop in this process, in seconds (validation included).
        loss_history: Mean training loss per logging window, ``[(step, loss), ...]``.
        val_metric: Name of the validation score (``accuracy``, ``spearman`` or ``loss``).
        val_history: Validation score after each evaluation, ``[(step, score), ...]``.
        val_seconds: Training-loop wall time at each evaluation, in seconds, aligned with ``val_history``
            (the evaluation itself included; a resumed run continues from the checkpoint's figure).
        validation_seconds: Of ``seconds``, the time spent scoring the validation split in this process.
        best_step: Step whose trainable weights were kept.
        best_val_score: Validation score at ``best_step`` (the best one: highest, or lowest for a loss).
        stopped_early: True if early stopping ended the loop.
        resumed_from_step: Checkpoint step this process resumed from, or ``None``.
        trainable_parameters: Parameters updated by the optimiser.
        tokens_seen: Tokens processed in training forward passes (padding excluded).
        trained_tokens: Of those, tokens that carry a loss (chat SFT: assistant tokens; 0 for sequence tasks,
            whose loss is on the pooled prompt).
        averaged: True if the kept weights are the average of the best evaluations (``train.average_top_k``).
        averaged_steps: Steps of the evaluations that were averaged (empty if none were).
        averaged_val_score: Validation score of that average (kept or not), or ``None``.
        average_skipped: True if averaging was on but no other kept evaluation scored within two standard errors
            of the best (:func:`~workbench.training.averaging.near_best`), so the best single one was kept.
    """

    steps: int = 0
    planned_steps: int = 0
    budget_steps: int | None = None
    time_capped: bool = False
    estimate: dict | None = None
    learning_check: dict | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    val_metric: str = "accuracy"
    val_history: list[tuple[int, float]] = field(default_factory=list)
    val_seconds: list[float] = field(default_factory=list)
    validation_seconds: float = 0.0
    best_step: int = 0
    best_val_score: float = float("nan")
    stopped_early: bool = False
    resumed_from_step: int | None = None
    trainable_parameters: int = 0
    tokens_seen: int = 0
    trained_tokens: int = 0
    averaged: bool = False
    averaged_steps: list[int] = field(default_factory=list)
    averaged_val_score: float | None = None
    average_skipped: bool = False


def schedule_steps(n_train: int, batch_size: int, epochs: float) -> tuple[int, int]:
    """Returns ``(steps_per_epoch, total_steps)`` for a training split of ``n_train`` prompts."""
    steps_per_epoch = math.ceil(n_train / batch_size)
    return steps_per_epoch, max(1, math.ceil(epochs * steps_per_epoch))
