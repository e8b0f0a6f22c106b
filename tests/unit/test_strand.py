"""Strand symmetry (workbench.data.strand) and reverse-complement test-time averaging (predict_proba)."""

import random

import pytest
import torch

from workbench.data.strand import TOLERANCE, probe_strand_symmetry, reverse_complement
from workbench.models.heads import LabelScorer, label_token_ids, predict_proba
from workbench.models.lora import LoRASpec, load_lora_model


def test_reverse_complement_including_iupac_codes():
    assert reverse_complement("AACGT") == "ACGTT"
    assert reverse_complement("GATTACA") == "TGTAATC"
    assert reverse_complement("NRY") == "RYN"  # N -> N, R (A/G) <-> Y (C/T)


def _motif_rows(n, seed, positional):
    """Class 1 carries a motif; positional: GGTAAG at a fixed place (one strand only), else TTGACA or its reverse
    complement anywhere (either strand)."""
    rng = random.Random(seed)
    seqs, labels = [], []
    for i in range(n):
        s = [rng.choice("ACGT") for _ in range(40)]
        y = i % 2
        if y:
            motif = "GGTAAG" if positional else rng.choice(["TTGACA", reverse_complement("TTGACA")])
            at = 17 if positional else rng.randrange(0, 34)
            s[at:at + 6] = motif
        seqs.append("".join(s))
        labels.append(y)
    return seqs, labels


def test_probe_says_symmetric_for_an_either_strand_motif_and_not_for_a_positional_one():
    sym = probe_strand_symmetry(*_motif_rows(400, 0, False), *_motif_rows(200, 1, False))
    assert sym.symmetric and sym.augmented_val_accuracy >= sym.plain_val_accuracy - TOLERANCE
    pos = probe_strand_symmetry(*_motif_rows(400, 0, True), *_motif_rows(200, 1, True))
    assert pos.baseline == "onehot_logreg" and not pos.symmetric
    assert pos.augmented_val_accuracy < pos.plain_val_accuracy - TOLERANCE


def test_probe_without_validation_rows_says_what_to_do():
    with pytest.raises(ValueError, match="val_fraction"):
        probe_strand_symmetry(["ACGT"], [0], [], [])


def test_predict_proba_averages_both_orientations(tiny_model_dir):
    model, tok = load_lora_model(str(tiny_model_dir), LoRASpec(4, 8, 0.0, ["q_proj"]), "peft", seed=0)
    scorer = LabelScorer(model, label_token_ids(tok, ["donor", "acceptor"]))
    fwd, rev = ["DNA : A C G T Class :", "DNA : G G A T Class :"], ["DNA : A C G T Class :", "DNA : A T C C Class :"]
    both = predict_proba(scorer, tok, fwd, reverse_prompts=rev)
    expected = (predict_proba(scorer, tok, fwd) + predict_proba(scorer, tok, rev)) / 2
    assert torch.allclose(both, expected, atol=1e-6) and torch.allclose(both.sum(-1), torch.ones(2))
    with pytest.raises(ValueError, match="reverse_prompts"):
        predict_proba(scorer, tok, fwd, reverse_prompts=rev[:1])
