"""Gradient attribution: a one-pass map of which bases the prediction leans on (an approximation).

Input × gradient (Captum's ``InputXGradient``, https://captum.ai/api/input_x_gradient.html): one forward and one
backward pass give, for every prompt token, the gradient of the tracked score (a class probability, or the
regression value) with respect to the token's input embedding, times that embedding, summed over the hidden
dimension. Each token's value is shared out over the bases it covers. It is a first-order, local approximation of
what in-silico mutagenesis (:mod:`.mutagenesis`) measures exactly: cheap (one pass instead of 3 L + 1), but it can
miss effects that only a changed base shows, and its sign and scale are not a change of probability. The demo and
the API say so wherever it is shown.

Run as (from a notebook)::

    from workbench.serving.attribution import input_x_gradient
    input_x_gradient(predictor, "ACGT...", target="EI").scores     # shape (L,)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..data.sequences import DEFAULT_PROMPT, check_sequence, task_prompt

METHOD = "input × gradient (Captum InputXGradient): a one-pass approximation, not a measured change"


@dataclass
class Attribution:
    """The result of :func:`input_x_gradient`.

    Attributes:
        sequence: The normalised sequence, length L.
        target: The class whose probability is explained, or the regression target's name.
        scores: Shape ``(L,)``: each base's share of input × gradient (positive: pushes the score up).
        method: What was computed (says it is an approximation).
        seconds: Wall time.
    """

    sequence: str
    target: str
    scores: np.ndarray
    method: str
    seconds: float


def base_positions(task: dict, length: int) -> list[int]:
    """Character offset in the prompt of each of ``length`` bases (the prompt of :func:`task_prompt`)."""
    template = task.get("prompt", DEFAULT_PROMPT)
    start = len(template.split("{sequence}")[0])
    if not task.get("spaced", True):
        return [start + j for j in range(length)]
    k = task.get("kmer", 1)
    return [start + (j // k) * (k + 1) + j % k for j in range(length)]


def _token_scores(predictor, prompt: str, target_index: int | None):
    """Input × gradient per token of ``prompt``: ``(scores (tokens,), offsets [(start, end)])``."""
    import torch
    from captum.attr import InputXGradient

    from ..models.heads import pool_hidden

    scorer = predictor.scorer
    enc = predictor.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    device = next(scorer.parameters()).device
    ids = torch.tensor([enc["input_ids"]], device=device)
    mask = torch.ones_like(ids)
    embeddings = scorer.decoder.get_input_embeddings()(ids).detach().float()

    def score(embeds):  # (1, tokens, hidden) -> (1,) the tracked probability or value
        hidden = scorer.decoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        pooled = pool_hidden(hidden, mask, scorer.pooling)
        if target_index is None:
            return scorer.head(pooled).squeeze(-1)
        return torch.softmax(scorer.head_logits(pooled), dim=-1)[:, target_index]

    with torch.enable_grad():
        attr = InputXGradient(score).attribute(embeddings.requires_grad_(True))
    return attr[0].sum(-1).detach().cpu().numpy(), enc["offset_mapping"]


def input_x_gradient(predictor, sequence: str, target: str | None = None) -> Attribution:
    """Input × gradient of the tracked score for each base of ``sequence``.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor` (classification or regression).
        sequence: One DNA sequence (validated with :func:`workbench.data.sequences.check_sequence`).
        target: Classification: the class code explained (default: the predicted class). Ignored for regression.

    Returns:
        An :class:`Attribution` with ``scores`` of shape ``(L,)``; a strand-symmetric run averages both
        orientations (the reverse complement's map read backwards).

    Raises:
        workbench.data.sequences.SequenceError: If the sequence is empty, too long or has invalid letters.
        ValueError: If ``target`` is not one of the run's classes.
    """
    from ..data.strand import reverse_complement

    seq = check_sequence(sequence, predictor.task["max_length"])
    start = time.perf_counter()
    if predictor.task_type == "regression":
        target, index = predictor.target or "value", None
    else:
        target = target or predictor.predict([seq])[0].label
        if target not in predictor.labels:
            raise ValueError(f"class {target!r} is not one of this run's classes {predictor.labels}.")
        index = predictor.labels.index(target)
    positions = base_positions(predictor.task, len(seq))

    def per_base(strand_seq: str) -> np.ndarray:
        tokens, offsets = _token_scores(predictor, task_prompt(strand_seq, predictor.task), index)
        owner = {}
        for t, (a, b) in enumerate(offsets):
            for c in range(a, b):
                owner[c] = t
        hits = [owner.get(p) for p in positions]
        counts = {t: hits.count(t) for t in set(hits) if t is not None}
        return np.array([0.0 if t is None else tokens[t] / counts[t] for t in hits])

    scores = per_base(seq)
    if predictor.task_type != "regression" and predictor.task.get("reverse_complement"):
        scores = (scores + per_base(reverse_complement(seq))[::-1]) / 2
    return Attribution(seq, target, scores, METHOD, time.perf_counter() - start)
