"""The optimisation loop: AdamW, linear warm-up and decay, clipping, best-on-validation.

The validation split is scored after every epoch (and at the end); the adapter weights
with the best validation accuracy are kept. The test split is never seen here.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import torch

from .engine import LabelScorer, encode_prompts, predict_proba

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What training did.

    Attributes:
        steps: Optimiser steps taken.
        seconds: Wall time of the loop, in seconds (validation included).
        loss_history: Mean training loss per logging window, ``[(step, loss), ...]``.
        val_history: Validation accuracy after each evaluation, ``[(step, accuracy), ...]``.
        best_step: Step whose adapter weights were kept.
        best_val_accuracy: Validation accuracy at ``best_step``.
        trainable_parameters: Parameters updated by the optimiser.
        tokens_seen: Prompt tokens processed in training forward passes (padding excluded).
    """

    steps: int = 0
    seconds: float = 0.0
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    val_history: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0
    best_val_accuracy: float = float("nan")
    trainable_parameters: int = 0
    tokens_seen: int = 0


def train_classifier(scorer: LabelScorer, tokenizer, prompts: list[str], targets: list[int],
                     val_prompts: list[str], val_targets: list[int], *, epochs: float, learning_rate: float,
                     batch_size: int, warmup_ratio: float = 0.05, weight_decay: float = 0.0,
                     max_grad_norm: float = 1.0, seed: int = 0, log_every: int = 10,
                     progress: bool = True) -> TrainResult:
    """Trains the adapter inside ``scorer`` with cross-entropy on the label logits.

    Args:
        scorer: Restricted-head scorer around a PEFT model; only ``requires_grad`` params train.
        tokenizer: The base model's tokenizer.
        prompts: Training prompts, shape ``(n_train,)``.
        targets: Class index per training prompt, shape ``(n_train,)``.
        val_prompts: Validation prompts, used to pick the best weights.
        val_targets: Class index per validation prompt.
        epochs: Passes over the training data; fractions allowed (``0.1`` = a tenth).
        learning_rate: Peak learning rate.
        batch_size: Prompts per step.
        warmup_ratio: Fraction of steps with linear warm-up, then linear decay to 0.
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient-norm clip.
        seed: Seed for the batch order.
        log_every: Steps per loss-history entry.
        progress: Show a tqdm bar.

    Returns:
        A :class:`TrainResult`; ``scorer`` holds the best weights on return.
    """
    from tqdm.auto import tqdm

    params = [p for p in scorer.parameters() if p.requires_grad]
    result = TrainResult(trainable_parameters=sum(p.numel() for p in params))
    steps_per_epoch = math.ceil(len(prompts) / batch_size)
    total = max(1, math.ceil(epochs * steps_per_epoch))
    warmup = int(warmup_ratio * total)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    device = scorer.label_ids.device
    y_all = torch.tensor(targets, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    best_state: dict[str, torch.Tensor] | None = None
    y_val = torch.tensor(val_targets, dtype=torch.long)

    def evaluate(step: int) -> None:
        nonlocal best_state
        if not val_prompts:
            return
        acc = (predict_proba(scorer, tokenizer, val_prompts).argmax(-1) == y_val).float().mean().item()
        result.val_history.append((step, acc))
        log.info("step %d: validation accuracy %.4f", step, acc)
        if best_state is None or acc > result.best_val_accuracy:
            result.best_val_accuracy, result.best_step = acc, step
            best_state = {n: p.detach().clone() for n, p in scorer.named_parameters() if p.requires_grad}

    scorer.train()
    start = time.perf_counter()
    window: list[float] = []
    bar = tqdm(total=total, desc="train", unit="step", disable=not progress)
    step = 0
    while step < total:
        order = torch.randperm(len(prompts), generator=generator)
        for first in range(0, len(prompts), batch_size):
            idx = order[first:first + batch_size]
            batch = encode_prompts(tokenizer, [prompts[i] for i in idx])
            result.tokens_seen += int(batch["attention_mask"].sum())
            logits = scorer(**{k: v.to(device) for k, v in batch.items()})
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx].to(device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{sum(window) / len(window):.3f}")
            if step % log_every == 0 or step == total:
                result.loss_history.append((step, sum(window) / len(window)))
                window = []
            if step % steps_per_epoch == 0 and step < total:
                evaluate(step)
            if step >= total:
                break
    bar.close()
    evaluate(step)
    if best_state is not None:
        with torch.no_grad():
            for name, p in scorer.named_parameters():
                if name in best_state:
                    p.copy_(best_state[name])
    result.steps = step
    result.seconds = time.perf_counter() - start
    return result
