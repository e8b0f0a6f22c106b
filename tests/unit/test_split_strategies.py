"""The split strategies (workbench.data.strategies, workbench.data.groups): a split column, whole groups
(chromosomes), clusters of near-duplicates, a source per split, and the messages for bad input."""

import random
from collections import Counter

import pytest

from workbench.config.sequence import DataConfig
from workbench.data.groups import chromosome, group_keys
from workbench.data.splits import SplitError, split_rows
from workbench.data.strategies import RowInfo, split_sequences


def _rows(n=600, seed=1):
    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACGT") for _ in range(40)) for _ in range(n)]
    labels = ["a" if i % 3 == 0 else "b" for i in range(n)]
    chroms = [f"CHR{1 + i % 11}_{1000 * i}_{1000 * i + 200}" for i in range(n)]  # each holds both labels
    return seqs, labels, chroms


def test_the_default_random_split_is_exactly_the_seeded_stratified_split():
    seqs, labels, _ = _rows()
    data = DataConfig()
    got, report = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs)))
    want, _ = split_rows(seqs, labels, "drop", 0.1, 0.2, 0)
    assert got == want and report.strategy == "random"


@pytest.mark.parametrize("value,name", [("CHR13_99137199_99137399", "chr13"), ("chrX:100-300", "chrX"),
                                        ("chr08", "chr8"), ("NC_000007 chromosome 7", "chr7"), ("plasmid_7", None), ("chr7_KI270803v1", "chr7"),
                                        ("hg38_chrM", "chrM"), ("chr1", "chr1"), ("chr22", "chr22")])
def test_chromosome_names_are_parsed_from_headers_and_intervals(value, name):
    assert chromosome(value) == name


def test_a_group_split_keeps_every_chromosome_in_one_split_and_names_them():
    seqs, labels, chroms = _rows()
    data = DataConfig(split="group", group_column="id", group_pattern="chromosome")
    splits, report = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), groups=chroms))
    owner = {}
    for name, ix in splits.items():
        for i in ix:
            owner.setdefault(chromosome(chroms[i]), set()).add(name)
    assert all(len(v) == 1 for v in owner.values()) and len(owner) == 11
    assert sorted(g for gs in report.groups.values() for g in gs) == sorted(owner)
    assert all(set(Counter(labels[i] for i in ix)) == {"a", "b"} for ix in splits.values())
    again, _ = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), groups=chroms))
    assert again == splits


def test_pinned_test_groups_hold_the_test_split():
    seqs, labels, chroms = _rows()
    data = DataConfig(split="group", group_column="id", group_pattern="chromosome", test_groups=["chr8", "CHR9"],
                      validation_groups=["chr1"])
    splits, report = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), groups=chroms))
    assert report.groups["test"] == ["chr8", "chr9"] and report.groups["validation"] == ["chr1"]
    assert {chromosome(chroms[i]) for i in splits["train"]}.isdisjoint({"chr1", "chr8", "chr9"})


def test_pinned_groups_that_do_not_exist_are_named_with_the_groups_found():
    seqs, labels, chroms = _rows()
    data = DataConfig(split="group", group_column="id", group_pattern="chromosome", test_groups=["chr8", "chr23"])
    with pytest.raises(SplitError, match=r"data.test_groups names group\(s\) \['chr23'\].*chr1, chr2, chr3"):
        split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), groups=chroms))


def test_a_group_that_leaves_a_class_missing_from_a_split_is_refused():
    seqs, labels, chroms = _rows()
    labels = ["a" if chromosome(c) == "chr5" else "b" for c in chroms]  # class a lives on chr5 only
    data = DataConfig(split="group", group_column="id", group_pattern="chromosome", test_groups=["chr5"])
    with pytest.raises(SplitError, match=r"the train split has no row of class\(es\) \['a'\]"):
        split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), groups=chroms))


def test_values_that_give_no_group_are_named():
    with pytest.raises(SplitError, match=r"1 of 2 rows have no group.*'plasmid_7'"):
        group_keys(["chr1_5_10", "plasmid_7"], "chromosome", "id")
    assert group_keys(["HUMA1ATP-DONOR-1972", "HUMA1ATP-NEG-1"], r"^(.+?)-(?:DONOR|NEG)", "Donor") == ["HUMA1ATP"] * 2


def test_a_split_column_with_train_and_test_carves_validation_from_train():
    seqs, labels, _ = _rows()
    column = ["test" if i % 5 == 0 else "TRAIN" for i in range(len(seqs))]
    data = DataConfig(split="column", split_column="fold", val_fraction=0.1)
    splits, report = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs), column=column))
    assert splits["test"] == [i for i in range(len(seqs)) if i % 5 == 0]
    assert report.carved == ["validation"] and len(splits["validation"]) == 48  # 10 % of 480 train rows
    assert not set(splits["validation"]) & set(splits["test"])


def test_a_split_column_with_unknown_values_names_them_and_the_mapping_to_use():
    seqs, labels, _ = _rows(10)
    column = ["train"] * 6 + ["dev", "dev", "holdout", "test"]
    data = DataConfig(split="column", split_column="fold")
    with pytest.raises(SplitError, match=r"'dev' \(2 rows\), 'holdout' \(1 rows\).*data.split_values"):
        split_sequences(seqs, labels, data, RowInfo(["source"] * 10, column=column))
    mapped = DataConfig(split="column", split_column="fold", split_values={"dev": "validation", "holdout": "test"})
    seqs, labels, _ = _rows(300)
    column = (["train"] * 6 + ["dev", "dev", "holdout", "test"]) * 30
    splits, _ = split_sequences(seqs, labels, mapped, RowInfo(["source"] * 300, column=column))
    assert len(splits["validation"]) == 60 and len(splits["test"]) == 60


def test_a_test_source_gives_the_test_split_whole_and_its_repeats_leave_training():
    seqs, labels, _ = _rows(700)
    origin = ["source"] * 600 + ["test_source"] * 100
    seqs[:5] = seqs[600:605]  # five training rows repeat test rows: dropped from training, not from test
    labels[:5] = labels[600:605]
    splits, report = split_sequences(seqs, labels, DataConfig(), RowInfo(origin))
    assert splits["test"] == list(range(600, 700))
    assert report.carved == ["validation"] and report.cross_split_duplicates == 0
    assert not set(range(5)) & set(splits["train"] + splits["validation"])
    assert report.origins["test"] == {"test_source": 100} and report.duplicate_rows_dropped == 5


def test_a_cluster_split_keeps_overlapping_windows_together():
    rng = random.Random(3)
    genome = "".join(rng.choice("ACGT") for _ in range(40_000))
    seqs = [genome[i:i + 80] for i in range(0, 39_900, 60)]  # consecutive windows overlap by 20 nt
    seqs = [s for j, s in enumerate(seqs) if j % 6 != 5]  # every 6th window left out: chains of 5 windows
    labels = ["a" if (i // 5) % 2 else "b" for i in range(len(seqs))]
    data = DataConfig(split="cluster")
    splits, report = split_sequences(seqs, labels, data, RowInfo(["source"] * len(seqs)))
    where = {i: name for name, ix in splits.items() for i in ix}
    assert all(len({where[c * 5 + j] for j in range(5)}) == 1 for c in range(len(seqs) // 5))
    assert sum(report.groups.values()) == len(seqs) // 5


def test_a_source_per_split_and_pinned_groups_for_the_same_split_are_refused():
    from workbench.config import ConfigError, validate_config

    raw = {"name": "x", "source": {"kind": "files", "path": "a.csv"}, "test_source": {"kind": "files", "path": "b.csv"},
           "data": {"split": "group", "group_column": "id", "test_groups": ["chr8"]}}
    with pytest.raises(ConfigError, match="test_source and data.test_groups both give the test rows"):
        validate_config(raw)
    with pytest.raises(ConfigError, match="data.split: group needs data.group_column"):
        validate_config({**raw, "test_source": None, "data": {"split": "group"}})
    with pytest.raises(ConfigError, match="data.test_groups only apply to another data.split"):
        validate_config({**raw, "test_source": None, "data": {"test_groups": ["chr8"]}})
