"""Splitting and duplicate control (workbench.splits)."""

from collections import Counter

import pytest

from workbench.splits import SplitError, split_rows, stratified_split


def _data(n=300):
    import random

    rng = random.Random(1)
    seqs = ["".join(rng.choice("ACGT") for _ in range(20)) for _ in range(n)]
    labels = ["a" if i % 3 == 0 else "b" for i in range(n)]
    return seqs, labels


def test_deterministic_and_disjoint():
    _, labels = _data()
    a = stratified_split(labels, 0.1, 0.2, seed=7)
    b = stratified_split(labels, 0.1, 0.2, seed=7)
    c = stratified_split(labels, 0.1, 0.2, seed=8)
    assert a == b and a != c
    all_idx = a["train"] + a["validation"] + a["test"]
    assert sorted(all_idx) == list(range(len(labels)))


def test_stratified_proportions():
    _, labels = _data(3000)
    split = stratified_split(labels, 0.1, 0.2, seed=0)
    for name, frac in (("test", 0.2), ("validation", 0.1)):
        counts = Counter(labels[i] for i in split[name])
        assert counts["a"] == round(1000 * frac) and counts["b"] == round(2000 * frac)


def test_duplicates_dropped_before_split():
    seqs, labels = _data()
    seqs = seqs + seqs[:50] + [seqs[60]]
    labels = labels + labels[:50] + ["b" if labels[60] == "a" else "a"]  # one conflicting label
    splits, rep = split_rows(seqs, labels, "drop", 0.1, 0.2, 0)
    assert rep.duplicate_rows_dropped == 50 and rep.conflicting_sequences_dropped == 1
    assert rep.cross_split_duplicates == 0
    used = [seqs[i] for ix in splits.values() for i in ix]
    assert len(used) == len(set(used)) == 299


def test_report_mode_counts_cross_split_repeats():
    seqs, labels = _data()
    seqs, labels = seqs + seqs[:100], labels + labels[:100]
    splits, rep = split_rows(seqs, labels, "report", 0.1, 0.2, 0)
    assert rep.duplicate_rows_dropped == 0 and sum(rep.sizes.values()) == 400
    owners = {}
    for name, ix in splits.items():
        for i in ix:
            owners.setdefault(seqs[i], set()).add(name)
    assert rep.cross_split_duplicates == sum(len(v) > 1 for v in owners.values()) > 0


def test_one_class_is_an_error():
    with pytest.raises(SplitError, match="only one label"):
        stratified_split(["x"] * 10, 0.1, 0.2, 0)
    with pytest.raises(SplitError, match="fewer than 3"):
        stratified_split(["x"] * 10 + ["y"] * 2, 0.1, 0.2, 0)
