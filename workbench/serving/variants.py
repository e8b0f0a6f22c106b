"""Score many variants of one sequence fast, reusing the reference's key/value cache for their shared prefix.

The decoder is causal: a prompt's hidden states up to token ``t`` depend only on tokens ``0..t``. A single-base
variant's prompt shares its tokens with the reference's up to the first token that differs (found by comparing
token ids, so any tokenizer, k-mer or unspaced prompt is handled), and everything before that token, the keys and
values of every layer and the final hidden states, is the reference's. So the reference runs once with the cache
on, and each variant only runs its suffix, attending to the cached prefix. Variants are sorted by where they
differ and batched; a batch restarts at its earliest differing token.

Pooling is finished from both parts: ``last`` reads the suffix's final token; ``mean`` adds the suffix's hidden
states to the reference's prefix sum. The head (restricted LM head, linear or regression) is the scorer's own.
The result equals a full forward pass of each variant up to float rounding (summation order); the tests and
``benchmarks/inference_speed.py`` check it against :func:`workbench.serving.mutagenesis.reference_mutagenesis`.
"""

from __future__ import annotations

import torch

from ..models.regression_head import RegressionScorer


def _decode(scorer, input_ids: torch.Tensor, attention_mask: torch.Tensor, cache=None):
    """The scorer's decoder under its autocast setting: ``(last_hidden_state, cache)``."""
    with torch.autocast(input_ids.device.type, dtype=scorer.autocast_dtype or torch.float32,
                        enabled=scorer.autocast_dtype is not None):
        out = scorer.decoder(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache,
                             use_cache=True)
    return out.last_hidden_state, out.past_key_values


def _head(scorer, pooled: torch.Tensor) -> torch.Tensor:
    """Scorer outputs from pooled states ``(batch, hidden)``: label logits ``(batch, n_labels)`` or ``(batch,)``."""
    if isinstance(scorer, RegressionScorer):
        return scorer.head(pooled).squeeze(-1)
    return scorer.head_logits(pooled)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _prefix_cache(cache, length: int, batch: int):
    """A new cache holding the first ``length`` positions of the reference's ``cache``, repeated ``batch`` times."""
    from transformers import DynamicCache

    # views: the decoder's first cache update concatenates them with the new keys/values (one copy)
    layers = [(layer.keys[:, :, :length].expand(batch, -1, -1, -1),
               layer.values[:, :, :length].expand(batch, -1, -1, -1)) for layer in cache.layers]
    return DynamicCache(layers)


@torch.no_grad()
def score_variants(scorer, tokenizer, reference: str, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """The scorer's outputs for ``prompts``, each a variant of the prompt ``reference``, reusing its prefix.

    Args:
        scorer: A :class:`~workbench.models.heads.LabelScorer` or
            :class:`~workbench.models.regression_head.RegressionScorer` (eval mode).
        tokenizer: The run's tokenizer.
        reference: The reference prompt.
        prompts: Variant prompts, shape ``(n,)``.
        batch_size: Variants per forward pass.

    Returns:
        Float32 tensor on CPU: ``(n + 1, n_labels)`` label logits, or ``(n + 1,)`` standardised values for a
        regression scorer; row 0 is the reference, row ``i + 1`` is ``prompts[i]``.
    """
    device = next(scorer.parameters()).device
    ref_ids = tokenizer(reference, add_special_tokens=False).input_ids
    ids = tokenizer(prompts, add_special_tokens=False).input_ids if prompts else []
    ref = torch.tensor([ref_ids], device=device)
    hidden, cache = _decode(scorer, ref, torch.ones_like(ref))
    hidden = hidden[0].float()  # (T, hidden)
    prefix_sum = torch.cat([hidden.new_zeros(1, hidden.shape[1]), hidden.cumsum(0)])  # (T + 1, hidden)
    pooled_ref = hidden[-1] if scorer.pooling == "last" else prefix_sum[-1] / len(ref_ids)
    outputs = [_head(scorer, pooled_ref[None]).float().cpu()]
    # each variant restarts at its first differing token (at least one token is always recomputed)
    splits = [min(_common_prefix(ref_ids, x), len(x) - 1) for x in ids]
    order = sorted(range(len(ids)), key=lambda i: splits[i])
    results: list[torch.Tensor | None] = [None] * len(ids)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        split = min(splits[i] for i in chunk)
        tails = [ids[i][split:] for i in chunk]
        width = max(len(t) for t in tails)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(chunk), width), pad, dtype=torch.long, device=device)
        mask = torch.zeros((len(chunk), split + width), dtype=torch.long, device=device)
        mask[:, :split] = 1
        for row, tail in enumerate(tails):
            input_ids[row, :len(tail)] = torch.tensor(tail, device=device)
            mask[row, split:split + len(tail)] = 1
        tail_hidden, _ = _decode(scorer, input_ids, mask, _prefix_cache(cache, split, len(chunk)))
        tail_hidden = tail_hidden.float()  # (batch, width, hidden)
        lengths = torch.tensor([len(t) for t in tails], device=device)
        if scorer.pooling == "last":
            pooled = tail_hidden[torch.arange(len(chunk), device=device), lengths - 1]
        else:
            tail_mask = mask[:, split:].unsqueeze(-1).float()
            pooled = (prefix_sum[split] + (tail_hidden * tail_mask).sum(1)) / (split + lengths).unsqueeze(-1)
        scored = _head(scorer, pooled).float().cpu()
        for row, i in enumerate(chunk):
            results[i] = scored[row:row + 1]
    return torch.cat(outputs + results) if results else outputs[0]
