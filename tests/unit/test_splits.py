"""Splitting and duplicate control (workbench.splits)."""

from collections import Counter

import pytest

from workbench.data.splits import SplitError, split_rows, stratified_split


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


def _regression_data(n=400, seed=3):
    import random

    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACGT") for _ in range(20)) for _ in range(n)]
    return seqs, [rng.gauss(0.0, 1.0) for _ in range(n)]


def test_regression_split_is_seeded_disjoint_and_quantile_stratified():
    from workbench.data.splits import quantile_bins, split_regression

    seqs, ys = _regression_data()
    a, report = split_regression(seqs, ys, "drop", 0.1, 0.2, seed=4, bins=5)
    b, _ = split_regression(seqs, ys, "drop", 0.1, 0.2, seed=4, bins=5)
    c, _ = split_regression(seqs, ys, "drop", 0.1, 0.2, seed=5, bins=5)
    assert a == b and a != c
    assert sorted(a["train"] + a["validation"] + a["test"]) == list(range(len(seqs)))
    assert report.sizes == {"train": 280, "validation": 40, "test": 80}
    # every split holds the same share of each target quintile (80 rows per quintile)
    assert report.class_counts["test"] == {f"q{k}": 16 for k in range(5)}
    assert report.class_counts["validation"] == {f"q{k}": 8 for k in range(5)}
    assert set(report.target_stats) == {"train", "validation", "test"}
    assert Counter(quantile_bins([3.0, 1.0, 2.0, 2.0], 2)) == Counter({"q0": 2, "q1": 2})
    assert quantile_bins([3.0, 1.0, 2.0, 4.0], 2) == ["q1", "q0", "q0", "q1"]


def test_regression_plain_shuffle_without_bins():
    from workbench.data.splits import split_regression

    seqs, ys = _regression_data(100)
    splits, report = split_regression(seqs, ys, "drop", 0.1, 0.2, seed=0, bins=0)
    assert report.sizes == {"train": 70, "validation": 10, "test": 20} and report.class_counts == {}


def test_regression_duplicates_handled_as_for_classification():
    from workbench.data.splits import split_regression

    seqs, ys = _regression_data(60)
    seqs += [seqs[0], seqs[1]]      # exact repeat of row 0; row 1 repeated with another value
    ys += [ys[0], ys[1] + 1.0]
    splits, report = split_regression(seqs, ys, "drop", 0.1, 0.2, seed=0, bins=3)
    used = [i for ix in splits.values() for i in ix]
    assert report.duplicate_rows_dropped == 1 and report.conflicting_sequences_dropped == 1
    assert 1 not in used and 61 not in used and 60 not in used and report.cross_split_duplicates == 0
    _, kept = split_regression(seqs, ys, "report", 0.1, 0.2, seed=0, bins=3)
    assert kept.duplicate_rows_dropped == 0 and sum(kept.sizes.values()) == 62


def test_regression_too_few_rows_says_what_to_do():
    from workbench.data.splits import split_regression

    seqs, ys = _regression_data(12)
    with pytest.raises(SplitError, match="quantile_bins"):
        split_regression(seqs, ys, "drop", 0.1, 0.2, seed=0, bins=5)
