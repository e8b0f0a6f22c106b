"""The training loop (workbench.training.loop): evaluation cadence, early stopping, best weights, resume."""

import random

import pytest
import torch

from workbench.models.heads import LabelScorer, label_token_ids, predict_proba
from workbench.models.lora import LoRASpec, load_lora_model
from workbench.training.objective import TrainOptions, schedule_steps
from workbench.tasks.sequence import prompt_objective
from workbench.training.loop import train as train_objective

WORDS = ["donor", "acceptor", "neither"]


def _scorer(model_dir, dropout=0.0, modules=("q_proj", "v_proj")):
    model, tok = load_lora_model(str(model_dir), LoRASpec(4, 8, dropout, list(modules)), "peft", seed=0)
    return LabelScorer(model, label_token_ids(tok, WORDS)), tok


def _data(n, seed=0):
    rng = random.Random(seed)
    seqs = ["".join(rng.choice("ACGT") for _ in range(12)) for _ in range(n)]
    prompts = ["DNA : " + " ".join(s) + " Class :" for s in seqs]
    return prompts, torch.tensor([s.count("G") % 3 for s in seqs])


def train(scorer, tok, prompts, y, loss_fn, validate, opts, **kwargs):
    """The loop on a sequence task's objective (what the classification task hands it)."""
    return train_objective(prompt_objective(scorer, tok, prompts, y, loss_fn, validate), opts, **kwargs)


def _weights(scorer):
    return {n: p.detach().clone() for n, p in scorer.named_parameters() if p.requires_grad}


def test_schedule_steps():
    assert schedule_steps(64, 8, 1.0) == (8, 8)
    assert schedule_steps(65, 8, 0.5) == (9, 5)
    assert schedule_steps(10, 32, 0.01) == (1, 1)


def test_early_stopping_keeps_the_best_evaluation(tiny_model_dir):
    scorer, tok = _scorer(tiny_model_dir)
    prompts, y = _data(64)
    scores, snapshots = iter([0.5, 0.7, 0.6, 0.65, 0.9]), []

    def validate():
        snapshots.append(_weights(scorer))
        return next(scores)

    opts = TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, eval_every=1, patience=2)
    result = train(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, validate, opts, progress=False)
    assert result.stopped_early and result.steps == 4 and result.planned_steps == 8
    assert result.val_history == [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.65)]  # no extra evaluation after stopping
    assert len(result.val_seconds) == 4 and result.val_seconds == sorted(result.val_seconds)  # loop clock per eval
    assert 0 < result.val_seconds[-1] <= result.seconds
    assert result.best_step == 2 and result.best_val_score == 0.7
    for name, value in _weights(scorer).items():
        assert torch.equal(value, snapshots[1][name]), name
    assert not torch.equal(snapshots[1][name], snapshots[3][name])  # the weights did move after step 2


@pytest.mark.parametrize("start, stopped_at", [(0.0, 3), (0.5, 7)])
def test_early_stopping_start_ignores_a_plateau_before_it(tiny_model_dir, start, stopped_at):
    """A start that sits on a plateau (0.5 for three evaluations) and then learns: patience 2 stops it on the
    plateau, unless early stopping is not considered in the first half of the 8 planned steps."""
    scorer, tok = _scorer(tiny_model_dir)
    prompts, y = _data(64)
    scores = iter([0.5, 0.5, 0.5, 0.5, 0.8, 0.7, 0.7, 0.9])
    opts = TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, eval_every=1, patience=2, patience_start=start)
    result = train(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, lambda: next(scores), opts,
                   progress=False)
    assert result.stopped_early and result.steps == stopped_at and result.planned_steps == 8
    assert result.best_val_score == (0.5 if start == 0 else 0.8)


def test_eval_every_zero_means_once_per_epoch_and_nan_is_worst(tiny_model_dir):
    scorer, tok = _scorer(tiny_model_dir)
    prompts, y = _data(64)
    scores = iter([float("nan"), 0.1])
    opts = TrainOptions(epochs=2, learning_rate=1e-2, batch_size=8)
    result = train(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, lambda: next(scores), opts,
                   progress=False)
    assert [s for s, _ in result.val_history] == [8, 16] and result.best_step == 16 and not result.stopped_early


def _accuracy(scorer, tok, prompts, y):
    return lambda: (predict_proba(scorer, tok, prompts).argmax(-1) == y).float().mean().item()


def test_resume_after_interruption_gives_the_uninterrupted_weights(tiny_model_dir, tmp_path):
    prompts, y = _data(96)
    val_prompts, val_y = _data(24, seed=1)
    opts = dict(epochs=1.5, learning_rate=1e-2, batch_size=8, eval_every=4, seed=3)  # 18 steps

    ref, tok = _scorer(tiny_model_dir, dropout=0.1)  # dropout consumes the global RNG: its state must be restored
    full = train(ref, tok, prompts, y, torch.nn.functional.cross_entropy, _accuracy(ref, tok, val_prompts, val_y),
                 TrainOptions(**opts), progress=False)

    first, tok = _scorer(tiny_model_dir, dropout=0.1)
    calls = {"n": 0}

    def interrupted_loss(logits, target):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt("simulated interruption at step 12")
        return torch.nn.functional.cross_entropy(logits, target)

    with pytest.raises(KeyboardInterrupt):
        train(first, tok, prompts, y, interrupted_loss, _accuracy(first, tok, val_prompts, val_y),
              TrainOptions(**opts, save_every=5), checkpoint_dir=tmp_path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000010"]

    second, tok = _scorer(tiny_model_dir, dropout=0.1)
    resumed = train(second, tok, prompts, y, torch.nn.functional.cross_entropy,
                    _accuracy(second, tok, val_prompts, val_y), TrainOptions(**opts, save_every=5),
                    checkpoint_dir=tmp_path, resume=True, progress=False)
    assert resumed.resumed_from_step == 10 and resumed.steps == full.steps == 18
    assert resumed.val_history == full.val_history and resumed.best_step == full.best_step
    assert resumed.loss_history == full.loss_history and resumed.tokens_seen == full.tokens_seen
    # Same float32 CPU kernels on the same inputs in the same order: bit-identical is expected.
    for name, value in _weights(ref).items():
        assert torch.equal(_weights(second)[name], value), name


def test_checkpoint_of_another_model_is_refused(tiny_model_dir, tmp_path):
    prompts, y = _data(32)
    scorer, tok = _scorer(tiny_model_dir)
    train(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, None,
          TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, save_every=2), checkpoint_dir=tmp_path,
          progress=False)
    other, tok = _scorer(tiny_model_dir, modules=("q_proj", "k_proj"))
    with pytest.raises(ValueError, match="does not fit this model"):
        train(other, tok, prompts, y, torch.nn.functional.cross_entropy, None,
              TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8), checkpoint_dir=tmp_path, resume=True,
              progress=False)
    with pytest.raises(ValueError, match="checkpoint directory"):
        train(other, tok, prompts, y, torch.nn.functional.cross_entropy, None,
              TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, save_every=2), progress=False)


def test_a_minimised_score_keeps_the_lowest_evaluation(tiny_model_dir):
    """Chat SFT's objective minimises the validation loss: the loop keeps the weights of the lowest score."""
    scorer, tok = _scorer(tiny_model_dir)
    prompts, y = _data(32)
    scores, snapshots = iter([2.0, 1.0, 1.5, 3.0]), []

    def validate():
        snapshots.append(_weights(scorer))
        return next(scores)

    objective = prompt_objective(scorer, tok, prompts, y, torch.nn.functional.cross_entropy, validate, "loss")
    objective.maximize = False
    result = train_objective(objective, TrainOptions(epochs=1, learning_rate=1e-2, batch_size=8, eval_every=1),
                             progress=False)
    assert result.val_history == [(1, 2.0), (2, 1.0), (3, 1.5), (4, 3.0)]
    assert result.best_step == 2 and result.best_val_score == 1.0 and result.val_metric == "loss"
    for name, value in _weights(scorer).items():
        assert torch.equal(value, snapshots[1][name]), name
