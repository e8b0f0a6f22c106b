"""task.reverse_complement end to end on the tiny random Llama: the auto probe on the splice slice, and a run
trained on both strands whose predictor averages both orientations."""

import json
import math

import pytest
import torch

from tests.conftest import tiny_run_config
from workbench import setup, validate_config
from workbench.data.sequences import task_prompt
from workbench.data.strand import reverse_complement
from workbench.models.heads import predict_proba
from workbench.serving.predictor import Predictor

pytestmark = pytest.mark.integration


def _run(splice_db, tiny_model_dir, out, setting):
    cfg = tiny_run_config(splice_db, tiny_model_dir, out, epochs=0.1)
    cfg["task"]["reverse_complement"] = setting
    return setup(validate_config(cfg), progress=False)


def test_auto_keeps_splice_on_the_forward_strand(splice_db, tiny_model_dir, tmp_path):
    run = _run(splice_db, tiny_model_dir, tmp_path, "auto")
    strand = json.loads((run.run_dir / "metrics.json").read_text())["data"]["strand"]
    assert strand["setting"] == "auto" and strand["on"] is False
    probe = strand["probe"]
    assert probe["baseline"] == "onehot_logreg" and probe["augmented_val_accuracy"] < probe["plain_val_accuracy"]
    assert json.loads((run.run_dir / "task.json").read_text())["reverse_complement"] is False
    card = (run.run_dir / "README.md").read_text()
    assert "forward strand only" in card and "task.reverse_complement: auto" in card


def test_on_trains_both_strands_and_the_predictor_averages_them(splice_db, tiny_model_dir, tmp_path):
    run = _run(splice_db, tiny_model_dir, tmp_path, "on")
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    n_train = metrics["data"]["split"]["sizes"]["train"]
    assert metrics["training"]["planned_steps"] == math.ceil(0.1 * math.ceil(2 * n_train / 32))  # epoch = both strands
    task = json.loads((run.run_dir / "task.json").read_text())
    assert task["reverse_complement"] is True
    assert "reverse-complement augmentation and test-time averaging" in (run.run_dir / "README.md").read_text()
    predictor = Predictor.load(run.run_dir, precision="fp32")
    seqs = ["ACGTACGTTTGACAGGTAAGCCCTAG", "GGGAAACCCTTTGGGAAACCCTTTAA"]
    got = torch.tensor([[p.probabilities[y] for y in predictor.labels] for p in predictor.predict(seqs)])
    fwd = [task_prompt(s, task) for s in seqs]
    rev = [task_prompt(reverse_complement(s), task) for s in seqs]
    expected = (predict_proba(predictor.scorer, predictor.tokenizer, fwd)
                + predict_proba(predictor.scorer, predictor.tokenizer, rev)) / 2
    assert torch.allclose(got, expected, atol=1e-5)
    alone = predict_proba(predictor.scorer, predictor.tokenizer, fwd)
    assert not torch.allclose(got, alone, atol=1e-7)  # the reverse strand really changed the answer
