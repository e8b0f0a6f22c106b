"""Strand symmetry: reverse complements, and the probe that decides ``task.reverse_complement: auto``.

Double-stranded DNA carries the same information on both strands. For tasks where the label does not depend on
which strand was read (enhancer vs non-enhancer, most binding-site tasks), training on both orientations
(reverse-complement augmentation) and averaging the predictions of a sequence and its reverse complement
(test-time augmentation) are standard (e.g. Shrikumar, Greenside & Kundaje 2017, "Reverse-complement parameter
sharing improves deep learning models for genomics", bioRxiv 103663; Cao & Zhang 2019, Bioinformatics 35:1837).
Where strand matters (splice junctions: a donor read backwards is not a donor), both hurt.

``auto`` lets the data decide, from the training and validation splits only (never the test split): the two
logistic-regression baselines (k-mer and one-hot, at their default ``C``) are fitted on the training split; the
one that scores better on validation is refitted on the training split plus its reverse complements. If that
augmented fit scores at least as well on validation (within :data:`TOLERANCE`), the task is treated as
strand-symmetric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TOLERANCE = 0.01
"""Largest drop of validation accuracy (0-1) under augmentation that still counts as strand-symmetric."""

PROBE_BASELINES = ("kmer_logreg", "onehot_logreg")
"""The baselines the probe fits, at their default ``C`` (fast; the probe's verdicts were measured with these)."""


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA sequence (IUPAC codes complemented too; Biopython's table).

    Args:
        sequence: Normalised upper-case DNA, e.g. ``"AACG"``.

    Returns:
        The reverse complement, e.g. ``"CGTT"``; same length.
    """
    from Bio.Seq import reverse_complement as rc

    return rc(sequence)


@dataclass
class StrandProbe:
    """What :func:`probe_strand_symmetry` measured (validation accuracies, 0-1)."""

    baseline: str
    plain_val_accuracy: float
    augmented_val_accuracy: float
    symmetric: bool

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return asdict(self)


def probe_strand_symmetry(train_seqs: list[str], train_y: list[int], val_seqs: list[str],
                          val_y: list[int]) -> StrandProbe:
    """Decides whether reverse-complement augmentation suits a classification task (see the module docstring).

    Args:
        train_seqs: Training sequences, shape ``(n_train,)``.
        train_y: Training class indices, shape ``(n_train,)``.
        val_seqs: Validation sequences, shape ``(n_val,)``; must not be empty.
        val_y: Validation class indices, shape ``(n_val,)``.

    Returns:
        The probe's figures and verdict.

    Raises:
        ValueError: If the validation split is empty (set ``data.val_fraction`` > 0 or
            ``task.reverse_complement`` to ``on``/``off``).
    """
    from ..evaluation.baselines import baseline_models

    if not val_seqs:
        raise ValueError("task.reverse_complement: auto needs a validation split to decide; set data.val_fraction > 0 "
                         "or choose task.reverse_complement: on / off.")
    truth = np.asarray(val_y)
    width = max(len(s) for s in train_seqs + val_seqs)
    models = {name: baseline_models(width)[name] for name in PROBE_BASELINES}
    scores = {}
    for name, b in models.items():
        model = b.make(b.default).fit(b.featurise(train_seqs), train_y)
        scores[name] = float((model.predict(b.featurise(val_seqs)) == truth).mean())
    best = max(scores, key=scores.get)
    b = models[best]
    augmented = b.make(b.default).fit(b.featurise(train_seqs + [reverse_complement(s) for s in train_seqs]),
                                      list(train_y) * 2)
    aug_score = float((augmented.predict(b.featurise(val_seqs)) == truth).mean())
    return StrandProbe(best, scores[best], aug_score, aug_score >= scores[best] - TOLERANCE)
