"""Runs with the other split strategies, end to end on the tiny random Llama: the enhancer preset with whole
chromosomes held out (configs/enhancers_by_chromosome.yaml), and a run whose test rows come from a test_source."""

import json
import os

import pytest

from tests.conftest import REPO, tiny_run_config
from workbench import load_config, setup, validate_config
from workbench.data.groups import chromosome

pytestmark = pytest.mark.integration
ENHANCERS = REPO.parent / "shared" / "data" / "enhancers"


@pytest.mark.skipif(not (ENHANCERS / "enhancer.cv.fa").is_file(), reason=f"the enhancer benchmark is not at {ENHANCERS}")
def test_the_enhancer_preset_with_a_chromosome_split_runs_end_to_end(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ENHANCER_DIR", str(ENHANCERS))
    cfg = load_config(REPO / "configs" / "enhancers_by_chromosome.yaml", {
        "output_dir": str(tmp_path), "model.base_model": str(tiny_model_dir), "model.num_layers": 0,
        "source.sample": {"n": 600, "seed": 0}, "lora.r": 8, "lora.lora_alpha": 16,
        "task.label_words": {"enhancer": "pos", "other": "neg"},  # words of the tiny model's vocabulary
        "train.epochs": 0.05, "train.batch_size": 32, "train.precision": "fp32", "train.max_steps": 0,
        "train.early_stopping_patience": 0, "train.average_top_k": 0, "registry.track": False})
    result = setup(cfg, progress=False)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    split = metrics["data"]["split"]
    assert split["strategy"] == "group" and sum(split["sizes"].values()) == 600
    chromosomes = {name: set(groups) for name, groups in split["groups"].items()}
    assert all(g.startswith("chr") for gs in chromosomes.values() for g in gs)
    assert not (chromosomes["train"] & chromosomes["test"] or chromosomes["train"] & chromosomes["validation"]
                or chromosomes["validation"] & chromosomes["test"])
    predictions = (result.run_dir / "predictions.csv").read_text()
    assert metrics["test"]["n"] == split["sizes"]["test"] == len(predictions.splitlines()) - 1
    card = (result.run_dir / "README.md").read_text()
    assert "whole groups of `id` (chromosome)" in card and f"test {', '.join(split['groups']['test'][:3])}" in card
    assert set(metrics["data"]["leakage"]["pairs"]) == {"train~validation", "train~test", "validation~test"}
    assert chromosome("CHR13_99137199_99137399") == "chr13"


def test_a_test_source_gives_the_whole_test_split_and_the_card_names_it(splice_db, tiny_model_dir, tmp_path):
    import sqlite3

    with sqlite3.connect(splice_db) as conn:
        rows = conn.execute("SELECT Sequence, Class FROM splice WHERE id % 7 = 0 ORDER BY id").fetchall()
    test_file = tmp_path / "independent.csv"
    test_file.write_text("Sequence,Class\n" + "".join(f"{s},{y}\n" for s, y in rows))
    raw = tiny_run_config(splice_db, tiny_model_dir, tmp_path / "runs", epochs=0.05)
    raw["source"]["query"] = "SELECT Sequence, Class FROM splice WHERE id % 7 != 0 ORDER BY id"
    raw["test_source"] = {"kind": "files", "path": str(test_file)}
    raw["registry"] = {"track": False}
    result = setup(validate_config(raw), progress=False)
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    split = metrics["data"]["split"]
    usable = {s for s, _ in rows if set(s) <= set("ACGT")}
    assert split["origins"]["test"] == {"test_source": len(usable)} and split["carved"] == ["validation"]
    assert metrics["data"]["sources"]["test_source"]["lineage"]["location"] == str(test_file)
    card = (result.run_dir / "README.md").read_text()
    assert f"test rows from `test_source`: `files` at `{test_file}`" in card
    assert os.path.getsize(result.run_dir / "predictions.csv") > 0
