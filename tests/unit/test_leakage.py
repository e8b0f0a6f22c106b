"""The leakage report (workbench.data.leakage): overlapping windows of one synthetic genome are found across splits,
on either strand; unrelated rows are not; clusters of near-duplicates are connected."""

import random

import numpy as np
import pytest

from workbench.data.leakage import kmer_codes, kmer_components, leakage_report, leakage_sentences, leaked_rows
from workbench.data.strand import reverse_complement


def _genome(n=30_000, seed=0):
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def _windows():
    """Training windows tiling genome[0:10000]; test windows shifted by 50 nt over the first 2,000 nt (overlapping
    two training windows each), one reverse-complemented copy, and windows of an unrelated stretch."""
    genome = _genome()
    train = [genome[i:i + 100] for i in range(0, 10_000, 100)]
    overlapping = [genome[i + 50:i + 150] for i in range(0, 2_000, 100)]
    minus_strand = [reverse_complement(genome[5_000:5_100])]
    unrelated = [genome[i:i + 100] for i in range(20_000, 21_000, 100)]
    return train, overlapping + minus_strand + unrelated


def test_overlapping_windows_are_found_on_both_strands_and_unrelated_ones_are_not():
    train, test = _windows()
    ids = {"train": [f"tr{i}" for i in range(len(train))], "test": [f"te{i}" for i in range(len(test))]}
    report = leakage_report({"train": train, "test": test}, k=20, ids=ids, examples=5)
    pair = report.pairs["train~test"]
    assert pair["near"]["test"] == 21  # the 20 shifted windows and the reverse complement; none of the 10 unrelated
    assert pair["near"]["train"] == 22  # windows 0..20 (the shifted ones straddle 0/1 .. 19/20) and window 50
    assert pair["exact"] == 0 and pair["sizes"] == {"train": 100, "test": 31}
    assert pair["examples"][0] == ["te0", "tr0"] and len(pair["examples"]) == 5
    assert leaked_rows(report) == 21 and leaked_rows(report, "validation") == 0


def test_a_shared_stretch_shorter_than_k_is_not_a_near_duplicate():
    genome = _genome()
    train, test = [genome[0:100]], [genome[81:181]]  # 19 nt in common
    assert leakage_report({"train": train, "test": test}, k=20).pairs["train~test"]["near"] == {"train": 0, "test": 0}
    assert leakage_report({"train": train, "test": test}, k=19).pairs["train~test"]["near"] == {"train": 1, "test": 1}


def test_exact_duplicates_and_every_pair_of_splits_are_counted():
    train, test = _windows()
    splits = {"train": train, "validation": train[:3] + test[-2:], "test": test}
    report = leakage_report(splits, k=20)
    assert set(report.pairs) == {"train~validation", "train~test", "validation~test"}
    assert report.pairs["train~validation"]["exact"] == 3
    assert report.pairs["validation~test"]["exact"] == 2


def test_canonical_codes_do_not_depend_on_the_strand_and_skip_ambiguity_codes():
    seq = "ACGTTGCAAGGCTTACGATCGGATC"
    forward, owners = kmer_codes([seq], 8)
    reverse, _ = kmer_codes([reverse_complement(seq)], 8)
    assert sorted(forward.tolist()) == sorted(reverse.tolist()) and set(owners.tolist()) == {0}
    assert len(kmer_codes(["ACGTNACGTACGT"], 5)[0]) == 4  # only the 4 windows after the N; none holds it
    with pytest.raises(ValueError, match="outside 1..32"):
        kmer_codes([seq], 33)


def test_clusters_join_rows_linked_through_shared_kmers():
    genome = _genome()
    chain = [genome[i:i + 100] for i in range(0, 400, 60)]  # each overlaps the next by 40 nt
    alone = [genome[20_000:20_100], genome[25_000:25_100]]
    components = kmer_components(chain + alone, k=20)
    assert len(set(components[:len(chain)].tolist())) == 1
    assert len(set(components.tolist())) == 3


def test_the_sentences_name_the_count_and_an_example_only_when_there_is_leakage():
    train, test = _windows()
    report = leakage_report({"train": train, "test": test}, k=20).to_dict()
    said = leakage_sentences(report)
    assert len(said) == 1 and said[0].startswith("21 test rows (67.7%) share a stretch of at least 20 nt")
    assert "data.split: group" in said[0] and "row 1 ~ row 1" in said[0]
    assert "data.split: cluster" in leakage_sentences(report, strategy="group")[0]
    clean = leakage_report({"train": train[:10], "test": test[-5:]}, k=20).to_dict()
    assert leakage_sentences(clean) == []


def test_the_index_handles_100k_rows_quickly_enough_for_every_run():
    """Not a timing test (benchmarks/leakage_index.py measures it): the index is vectorised, so 20k rows of 200 nt
    (4 M k-mers) complete well inside a unit test and no random 20-mer is reported as shared."""
    rng = np.random.default_rng(0)
    rows = ["".join(r) for r in rng.choice(list("ACGT"), size=(20_000, 200))]
    report = leakage_report({"train": rows[:16_000], "test": rows[16_000:]}, k=24)
    assert report.pairs["train~test"]["near"]["test"] == 0
