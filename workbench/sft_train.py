"""The SFT loop: next-token loss on assistant tokens only, AdamW, warm-up/decay, best-on-validation.

Logits are computed only at positions whose next token is trained (``labels != -100``), so the
large LM head is not applied to prompt or padding positions. Perplexity is ``exp`` of the mean
negative log-likelihood per trained token.

Run as: called by :func:`workbench.sft.setup` (``workbench run configs/chat_sft.yaml``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

import torch

from .chat_format import IGNORE, pack_batch, pad_batch

log = logging.getLogger(__name__)
Example = tuple[list[int], list[int]]  # (input_ids, labels)


@dataclass
class SFTTrainResult:
    """What SFT training did.

    Attributes:
        steps: Optimiser steps taken.
        seconds: Wall time of the loop, in seconds (validation included).
        loss_history: Mean training loss (nats per trained token) per logging window, ``[(step, loss), ...]``.
        val_history: Validation loss after each epoch, ``[(step, loss), ...]``.
        best_step: Step whose adapter weights were kept (lowest validation loss).
        best_val_loss: Validation loss at ``best_step``.
        trainable_parameters: Parameters updated by the optimiser.
        tokens_seen: Tokens in training forward passes (padding excluded).
        trained_tokens: Of those, tokens with a loss (assistant tokens).
        packing: Whether batches were packed (:func:`workbench.chat_format.pack_batch`).
        packing_check: With packing, the first batch's mean loss packed and padded, ``{"packed", "padded"}``
            (nats per trained token, evaluation mode).
    """

    steps: int = 0
    seconds: float = 0.0
    loss_history: list[tuple[int, float]] = field(default_factory=list)
    val_history: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0
    best_val_loss: float = float("nan")
    trainable_parameters: int = 0
    tokens_seen: int = 0
    trained_tokens: int = 0
    packing: bool = False
    packing_check: dict[str, float] = field(default_factory=dict)


def _autocast(device_type: str, dtype: torch.dtype | None):
    return torch.autocast(device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def response_nll(model, batch: dict[str, torch.Tensor], autocast_dtype: torch.dtype | None = None):
    """Summed next-token negative log-likelihood over the labelled tokens of a batch.

    Args:
        model: A (PEFT-wrapped) causal LM.
        batch: ``input_ids``, ``labels`` and ``attention_mask`` (padded, :func:`~workbench.chat_format.pad_batch`)
            or ``position_ids`` (packed, :func:`~workbench.chat_format.pack_batch`), each ``(batch, seq_len)``,
            on the model's device.
        autocast_dtype: ``torch.bfloat16`` for mixed precision, ``None`` for float32.

    Returns:
        ``(nll_sum, n_tokens)``: a float32 scalar tensor (nats) and the number of scored tokens.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    target = batch["labels"][:, 1:]
    keep = target != IGNORE  # (batch, seq_len - 1)
    with _autocast(batch["input_ids"].device.type, autocast_dtype):
        extra = {k: batch[k] for k in ("attention_mask", "position_ids") if k in batch}
        # no KV cache: transformers reads packed position ids as sequence boundaries only without one
        hidden = base.get_decoder()(input_ids=batch["input_ids"], use_cache=False, **extra).last_hidden_state
        logits = base.get_output_embeddings()(hidden[:, :-1][keep])  # (n_tokens, vocab)
    nll = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="sum")
    return nll, int(keep.sum())


@torch.no_grad()
def evaluate_loss(model, examples: list[Example], pad_id: int, batch_size: int = 16,
                  autocast_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Held-out loss and perplexity over the assistant tokens of ``examples``.

    Returns:
        ``{"loss": nats per token, "perplexity": exp(loss), "tokens": count}`` (NaN loss when empty).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in pad_batch(examples[start:start + batch_size], pad_id).items()}
        nll, n = response_nll(model, batch, autocast_dtype)
        total, count = total + nll.item(), count + n
    model.train(was_training)
    loss = total / count if count else float("nan")
    return {"loss": loss, "perplexity": math.exp(loss) if count else float("nan"), "tokens": count}


@torch.no_grad()
def check_packing(model, examples: list[Example], pad_id: int,
                  autocast_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Compares the mean response loss of ``examples`` packed and padded (evaluation mode).

    Packing is correct only where the attention honours the packed position ids (transformers' mask
    functions do; a backend with its own attention may not), so the loop runs this on its first batch.

    Returns:
        ``{"packed", "padded"}``: mean loss in nats per trained token.

    Raises:
        RuntimeError: The two differ by more than 1e-3 nats (float32) or 2e-2 (bfloat16 autocast); the
            message says to set ``train.packing: false``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = {}
    for name, batch in (("packed", pack_batch(examples)), ("padded", pad_batch(examples, pad_id))):
        nll, n = response_nll(model, {k: v.to(device) for k, v in batch.items()}, autocast_dtype)
        out[name] = nll.item() / max(1, n)
    model.train(was_training)
    tolerance = 2e-2 if autocast_dtype is not None else 1e-3
    if not abs(out["packed"] - out["padded"]) <= tolerance:
        raise RuntimeError(
            f"packing changes the loss on this model and backend ({out['packed']:.5f} packed vs "
            f"{out['padded']:.5f} padded nats per token, tolerance {tolerance}): its attention does not keep "
            "packed conversations apart. Set `train.packing: false` and run again.")
    return out


def train_sft(model, train: list[Example], validation: list[Example], *, pad_id: int, epochs: float,
              learning_rate: float, batch_size: int, warmup_ratio: float = 0.05, weight_decay: float = 0.0,
              max_grad_norm: float = 1.0, seed: int = 0, autocast_dtype: torch.dtype | None = None,
              eval_batch_size: int = 16, log_every: int = 5, progress: bool = True,
              packing: bool = False) -> SFTTrainResult:
    """Trains the LoRA adapter of ``model`` on the assistant tokens of ``train``.

    Args:
        model: PEFT-wrapped causal LM; only ``requires_grad`` parameters train.
        train: ``(input_ids, labels)`` examples, see :func:`workbench.chat_format.encode_chat`.
        validation: Held-out examples; the weights with the lowest loss on them are kept.
        pad_id: Padding token id.
        epochs: Passes over ``train`` (fractions allowed).
        learning_rate: Peak AdamW learning rate.
        batch_size: Conversations per optimiser step.
        warmup_ratio: Fraction of steps with linear warm-up, then linear decay to 0.
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient-norm clip.
        seed: Seed of the batch order.
        autocast_dtype: ``torch.bfloat16`` or ``None`` (float32).
        eval_batch_size: Conversations per validation batch.
        log_every: Steps per ``loss_history`` entry.
        progress: Show a tqdm bar.
        packing: Pack each batch into one padding-free row (same examples per step, same loss); the first
            batch is checked with :func:`check_packing`.

    Returns:
        An :class:`SFTTrainResult`; ``model`` holds the best weights on return.
    """
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    result = SFTTrainResult(trainable_parameters=sum(p.numel() for p in params), packing=packing)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = max(1, math.ceil(epochs * steps_per_epoch))
    warmup = int(warmup_ratio * total)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    best: dict[str, torch.Tensor] | None = None

    def validate(step: int) -> None:
        nonlocal best
        if not validation:
            return
        loss = evaluate_loss(model, validation, pad_id, eval_batch_size, autocast_dtype)["loss"]
        result.val_history.append((step, loss))
        log.info("step %d: validation loss %.4f", step, loss)
        if best is None or loss < result.best_val_loss:
            result.best_val_loss, result.best_step = loss, step
            best = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    model.train()
    start = time.perf_counter()
    window: list[float] = []
    bar = tqdm(total=total, desc="train", unit="step", disable=not progress)
    step = 0
    while step < total:
        order = torch.randperm(len(train), generator=generator).tolist()
        for first in range(0, len(train), batch_size):
            chosen = [train[i] for i in order[first:first + batch_size]]
            if packing and not result.packing_check:
                result.packing_check = check_packing(model, chosen, pad_id, autocast_dtype)
                log.info("packing check: %.5f packed vs %.5f padded nats per token",
                         result.packing_check["packed"], result.packing_check["padded"])
            batch = pack_batch(chosen) if packing else pad_batch(chosen, pad_id)
            result.tokens_seen += sum(len(ids) for ids, _ in chosen)
            nll, n = response_nll(model, {k: v.to(device) for k, v in batch.items()}, autocast_dtype)
            result.trained_tokens += n
            loss = nll / max(1, n)
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
                validate(step)
            if step >= total:
                break
    bar.close()
    validate(step)
    if best is not None:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in best:
                    p.copy_(best[name])
    result.steps, result.seconds = step, time.perf_counter() - start
    return result
