"""Atomic, prunable, resumable checkpoints (workbench.checkpoints)."""

import pytest
import torch

from workbench.training.checkpoints import (latest_checkpoint, list_checkpoints, load_checkpoint, rng_state, save_checkpoint,
                                   set_rng_state)


def test_round_trip_prune_and_ignore_temporaries(tmp_path):
    trainable = {"a.weight": torch.randn(3, 2), "b.bias": torch.randn(4)}
    best = {k: v * 2 for k, v in trainable.items()}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    state = {"optimizer": opt.state_dict(), "loop": {"step": 3, "order": torch.arange(5), "window": [0.5]},
             "rng": rng_state(), "history": [(1, 0.9), (2, 0.8)]}
    first = save_checkpoint(tmp_path, 3, trainable, None, state)
    assert first.name == "step-00000003"
    second = save_checkpoint(tmp_path, 6, trainable, best, state)
    assert list_checkpoints(tmp_path) == [second]  # keep=1 prunes step 3
    (tmp_path / ".step-00000009.abc").mkdir()      # a half-written checkpoint from a crash is ignored
    assert latest_checkpoint(tmp_path) == second
    got, got_best, got_state = load_checkpoint(second)
    torch.testing.assert_close(got["a.weight"], trainable["a.weight"])
    torch.testing.assert_close(got_best["b.bias"], best["b.bias"])
    assert got_state["loop"]["step"] == 3 and got_state["history"] == [(1, 0.9), (2, 0.8)]
    assert load_checkpoint(first if first.exists() else second)[0].keys() == trainable.keys()


def test_rng_state_restores_the_stream():
    saved = rng_state()
    a = torch.rand(3)
    set_rng_state(saved)
    assert torch.equal(torch.rand(3), a)


def test_incomplete_checkpoint_is_refused(tmp_path):
    (tmp_path / "step-00000001").mkdir()
    with pytest.raises(ValueError, match="incomplete"):
        load_checkpoint(tmp_path / "step-00000001")
    assert latest_checkpoint(tmp_path / "missing") is None
