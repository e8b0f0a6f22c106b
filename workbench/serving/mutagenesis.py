"""In-silico saturation mutagenesis: how much each single-base change moves the model's prediction.

For a sequence of length L, every one of the 3·L single-base variants (4 at an ambiguity code such as N) is
scored in batches through the run's :class:`~workbench.serving.predictor.Predictor`, together with the
unchanged sequence. The result is a (4, L) array, bases A C G T × positions, of the change in the chosen class's
probability (or, for a regression run, the predicted value); the reference base's cell is 0. Drawn as a heat map
(:func:`workbench.serving.plots.mutagenesis_figure`), it is the field's standard picture of what a sequence
model looked at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..data.sequences import check_sequence

BASE_ORDER = "ACGT"


@dataclass
class Mutagenesis:
    """The result of :func:`saturation_mutagenesis`.

    Attributes:
        sequence: The normalised reference sequence, length L.
        target: The class whose probability is tracked, or the regression target's name.
        reference: The reference sequence's score (probability of ``target``, or the predicted value).
        delta: Shape ``(4, L)``: score of the variant with base ``BASE_ORDER[b]`` at position ``i`` minus
            ``reference``; 0 where ``BASE_ORDER[b]`` is the reference base.
        variants: Number of variants scored.
        seconds: Wall time of the scoring.
    """

    sequence: str
    target: str
    reference: float
    delta: np.ndarray
    variants: int
    seconds: float

    def top(self, k: int = 5) -> list[tuple[int, str, str, float]]:
        """The ``k`` variants with the largest absolute change: ``(1-based position, ref base, new base, delta)``."""
        flat = np.argsort(-np.abs(self.delta), axis=None)[:k]
        out = []
        for idx in flat:
            b, i = np.unravel_index(idx, self.delta.shape)
            out.append((int(i) + 1, self.sequence[i], BASE_ORDER[b], float(self.delta[b, i])))
        return out


def variants(sequence: str) -> list[tuple[int, int, str]]:
    """Every single-base variant of ``sequence``: ``(position, base index in BASE_ORDER, variant sequence)``.

    A position holding A, C, G or T yields 3 variants; any other (IUPAC ambiguity) code yields 4.
    """
    out = []
    for i, ref in enumerate(sequence):
        for b, base in enumerate(BASE_ORDER):
            if base != ref:
                out.append((i, b, sequence[:i] + base + sequence[i + 1:]))
    return out


def saturation_mutagenesis(predictor, sequence: str, target: str | None = None, batch_size: int = 64) -> Mutagenesis:
    """Scores every single-base variant of ``sequence`` and returns the change of the prediction.

    The variants share the reference's prompt up to the changed base, so only their suffixes run through the model
    (:func:`workbench.serving.variants.score_variants`, the reference's key/value cache reused). The values equal
    :func:`reference_mutagenesis` (a full forward pass per variant) up to float rounding; see
    ``benchmarks/inference_speed.py`` for the speed-up.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor` (classification or regression).
        sequence: One DNA sequence (validated with :func:`workbench.data.sequences.check_sequence`).
        target: Classification: the class code whose probability is tracked (default: the predicted class of
            the reference). Ignored for regression.
        batch_size: Variants per forward pass.

    Returns:
        A :class:`Mutagenesis` with ``delta`` of shape ``(4, L)``.

    Raises:
        workbench.data.sequences.SequenceError: If the sequence is empty, too long or has invalid letters.
        ValueError: If ``target`` is not one of the run's classes.
    """
    import torch

    from ..data.sequences import task_prompt
    from ..data.strand import reverse_complement
    from ..models.regression_head import TargetScaler
    from .variants import score_variants

    seq = check_sequence(sequence, predictor.task["max_length"])
    start = time.perf_counter()
    muts = variants(seq)
    was_training = predictor.scorer.training
    predictor.scorer.eval()
    try:
        def scores(strand) -> torch.Tensor:  # (1 + variants, ...) for the reference and each variant
            return score_variants(predictor.scorer, predictor.tokenizer, task_prompt(strand(seq), predictor.task),
                                  [task_prompt(strand(m[2]), predictor.task) for m in muts], batch_size)

        if predictor.task_type == "regression":
            values = TargetScaler(**predictor.task["scaler"]).invert(scores(lambda s: s)).numpy()
            return _result(predictor, seq, None, muts, values, start)
        proba = torch.softmax(scores(lambda s: s), dim=-1)
        if predictor.task.get("reverse_complement"):  # trained strand-symmetric: average both orientations
            proba = (proba + torch.softmax(scores(reverse_complement), dim=-1)) / 2
    finally:
        predictor.scorer.train(was_training)
    return _result(predictor, seq, target, muts, proba.numpy(), start)


def reference_mutagenesis(predictor, sequence: str, target: str | None = None, batch_size: int = 64) -> Mutagenesis:
    """:func:`saturation_mutagenesis` as it was first built: every variant through :meth:`Predictor.predict`
    (a full forward pass each). Kept as the reference the fast path is checked and timed against."""
    seq = check_sequence(sequence, predictor.task["max_length"])
    start = time.perf_counter()
    muts = variants(seq)
    preds = predictor.predict([seq] + [m[2] for m in muts], batch_size=batch_size)
    if predictor.task_type == "regression":
        return _result(predictor, seq, None, muts, np.array([p.value for p in preds]), start)
    proba = np.array([[p.probabilities[c] for c in predictor.labels] for p in preds])
    return _result(predictor, seq, target, muts, proba, start)


def _result(predictor, seq: str, target: str | None, muts: list, scores: np.ndarray, start: float) -> Mutagenesis:
    """Builds the :class:`Mutagenesis` from the reference's and each variant's scores.

    Args:
        scores: Values ``(1 + variants,)`` (regression) or class probabilities ``(1 + variants, n_labels)``.
    """
    if predictor.task_type == "regression":
        target = predictor.target or "value"
    else:
        target = target or predictor.labels[int(scores[0].argmax())]
        if target not in predictor.labels:
            raise ValueError(f"class {target!r} is not one of this run's classes {predictor.labels}.")
        scores = scores[:, predictor.labels.index(target)]
    delta = np.zeros((len(BASE_ORDER), len(seq)))
    for (i, b, _), score in zip(muts, scores[1:]):
        delta[b, i] = score - scores[0]
    return Mutagenesis(seq, target, float(scores[0]), delta, len(muts), time.perf_counter() - start)
