"""Dry-run sizing (workbench.training.dryrun): counts, one measured step, nothing changed."""

import pytest
import torch

from workbench.tasks.sequence import prompt_objective
from workbench.training.dryrun import estimate
from workbench.models.heads import LabelScorer, label_token_ids
from workbench.models.lora import LoRASpec, load_lora_model


def test_estimate_counts_measures_and_leaves_weights_alone(tiny_model_dir):
    model, tok = load_lora_model(str(tiny_model_dir), LoRASpec(4, 8, 0.0, ["q_proj", "v_proj"]), "peft", seed=0)
    scorer = LabelScorer(model, label_token_ids(tok, ["donor", "acceptor", "neither"]))
    prompts = {"train": ["DNA : A C G Class :"] * 30 + ["DNA : A C G T T T T Class :"] * 10,
               "validation": ["DNA : A Class :"] * 5, "test": ["DNA : G G Class :"] * 7}
    before = {n: p.detach().clone() for n, p in scorer.named_parameters() if p.requires_grad}
    objective = prompt_objective(scorer, tok, prompts["train"], torch.zeros(40, dtype=torch.long),
                                 torch.nn.functional.cross_entropy, all_prompts=prompts)
    report = estimate(objective, batch_size=16, epochs=2.5, eval_every=3)
    assert report.rows == {"train": 40, "validation": 5, "test": 7}
    assert report.tokens == {"train": 30 * 7 + 10 * 11, "validation": 5 * 5, "test": 7 * 6}  # word-level tokens
    assert (report.steps_per_epoch, report.total_steps, report.evaluations) == (3, 8, 3)  # evals at 3, 6, 8
    assert report.batch_shape == (16, 11)  # the longest prompts are measured
    assert report.trainable_parameters == sum(v.numel() for v in before.values())
    assert report.optimizer_state_bytes == 8 * report.trainable_parameters
    assert report.measured_peak_bytes > 10 * 2**20 and report.memory_kind == "cpu-peak-rss"
    assert report.step_seconds > 0 and report.estimated_train_seconds == report.step_seconds * 8
    assert "trainable parameters" in report.text() and "nothing written" in report.text()
    # the same estimate sentence a run logs after its first steps, here from the one timed step
    assert report.estimate_text.startswith("about 8 steps, about ") and "(measured from one timed step" in report.text()
    capped = estimate(objective, batch_size=16, epochs=2.5, eval_every=3, max_steps=5)  # train.max_steps applies
    assert (capped.total_steps, capped.evaluations) == (5, 2) and capped.estimate_text.startswith("about 5 steps")
    for n, p in scorer.named_parameters():
        if p.requires_grad:
            assert torch.equal(p, before[n]) and p.grad is None


def test_estimate_prices_both_strands_of_validation(tiny_model_dir):
    """With test-time reverse-complement averaging a validation pass scores every row twice: 100 rows, 2 passes
    -> 4 batches of 64 per evaluation (1 pass: 2 batches)."""
    model, tok = load_lora_model(str(tiny_model_dir), LoRASpec(4, 8, 0.0, ["q_proj", "v_proj"]), "peft", seed=0)
    scorer = LabelScorer(model, label_token_ids(tok, ["donor", "acceptor"]))
    prompts = {"train": ["DNA : A C G Class :"] * 16, "validation": ["DNA : A Class :"] * 100, "test": []}
    batches = {}
    for passes in (1, 2):
        objective = prompt_objective(scorer, tok, prompts["train"], torch.zeros(16, dtype=torch.long),
                                     torch.nn.functional.cross_entropy, lambda: 0.5, all_prompts=prompts,
                                     val_passes=passes)
        report = estimate(objective, batch_size=16, epochs=2)
        assert report.evaluations == 2
        batches[passes] = report.estimated_eval_seconds / (report.eval_batch_seconds * report.evaluations)
    assert batches == pytest.approx({1: 2, 2: 4})
