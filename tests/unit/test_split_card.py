"""The model card's split and leakage lines (workbench.runs.split_card), rendered from what metrics.json records."""

from workbench.runs.split_card import leakage_lines, split_lines

RANDOM = {"split": {"sizes": {"train": 2092, "validation": 299, "test": 598}}}


def test_the_default_random_split_keeps_the_line_cards_always_had():
    line = split_lines(RANDOM, {"seed": 0}, "stratified by label")
    assert line == "- split sizes {'train': 2092, 'validation': 299, 'test': 598} (stratified by label, seed 0)"
    assert leakage_lines(RANDOM) == ""  # a run recorded before the report existed


def test_a_group_split_names_its_groups_and_a_test_source_its_lineage():
    groups = {"train": [f"chr{i}" for i in range(1, 30)], "validation": ["chr7"], "test": ["chr8", "chr9"]}
    dr = {"split": {"sizes": {"train": 2000, "validation": 300, "test": 600}, "strategy": "group", "groups": groups},
          "sources": {"test_source": {"lineage": {"kind": "files", "location": "/data/test.csv", "rows": 400,
                                                  "fingerprint": "abc"}}}}
    text = split_lines(dr, {"seed": 3, "group_column": "id", "group_pattern": "chromosome"}, "stratified by label")
    assert "(whole groups of `id` (chromosome), stratified by label where possible, seed 3)" in text
    assert "test chr8, chr9" in text and "and 5 more" in text  # 29 training chromosomes, 24 shown
    assert "- test rows from `test_source`: `files` at `/data/test.csv`, 400 rows read" in text


def test_leakage_is_a_sentence_when_rows_are_shared_and_a_plain_line_when_not():
    pairs = {"train~test": {"exact": 2, "near": {"train": 12, "test": 9}, "examples": [["t1", "r4"]],
                            "sizes": {"train": 100, "test": 90}},
             "validation~test": {"exact": 0, "near": {"validation": 3, "test": 3}, "examples": [],
                                 "sizes": {"validation": 10, "test": 90}}}
    text = leakage_lines({**RANDOM, "leakage": {"k": 20, "pairs": pairs}})
    assert text.startswith("\n- **leakage:** 9 test rows (10.0%) share a stretch of at least 20 nt (either strand)")
    assert "e.g. t1 ~ r4; 2 test sequences are identical to training sequences" in text
    clean = {"train~test": {"exact": 0, "near": {"train": 0, "test": 0}, "examples": [], "sizes": {}}}
    assert "no validation or test row shares a stretch of 20 nt" in leakage_lines({**RANDOM, "leakage": {
        "k": 20, "pairs": clean}})
