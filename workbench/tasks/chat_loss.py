"""The chat SFT loss: next-token negative log-likelihood on assistant tokens only, held-out loss, packing check.

Logits are computed only at positions whose next token is trained (``labels != -100``), so the
large LM head is not applied to prompt or padding positions. Perplexity is ``exp`` of the mean
negative log-likelihood per trained token. The optimisation itself is the shared loop
(:mod:`workbench.training.loop`), driven by :class:`workbench.tasks.sft.SFTTask`.
"""

from __future__ import annotations

import contextlib
import math

import torch

from ..models.chat_template import IGNORE, pack_batch, pad_batch

Example = tuple[list[int], list[int]]  # (input_ids, labels)


def _autocast(device_type: str, dtype: torch.dtype | None):
    return torch.autocast(device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def response_nll(model, batch: dict[str, torch.Tensor], autocast_dtype: torch.dtype | None = None):
    """Summed next-token negative log-likelihood over the labelled tokens of a batch.

    Args:
        model: A (PEFT-wrapped) causal LM.
        batch: ``input_ids``, ``labels`` and ``attention_mask`` (padded, :func:`~workbench.models.chat_template.pad_batch`)
            or ``position_ids`` (packed, :func:`~workbench.models.chat_template.pack_batch`), each ``(batch, seq_len)``,
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
