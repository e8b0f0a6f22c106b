"""Padding-free packing in chat SFT (workbench.tasks.chat_loss, the SFT task's objective in the shared loop,
workbench.models.chat_template.pack_batch), tiny chat Llama."""

from types import SimpleNamespace

import pytest
import torch

from tests.conftest import EXPECTED_BACKEND, UNSLOTH_INSTALLED, build_tiny_chat_tokenizer, tiny_sft_config
from workbench.config import validate_config
from workbench.tasks import chat_loss as sft_train
from workbench.models.chat_template import IGNORE, encode_chat, pack_batch, pad_batch
from workbench.data.conversations import to_conversation
from workbench.models.lora import LoRASpec, load_lora_model
from workbench.tasks import Prepared, SFTTask
from workbench.training import TrainOptions, train

PAIRS = [("How many leave days ?", "28 days"), ("What is the VPN ?", "WireGuard"),
         ("And the Wi-Fi ?", "Kestrel-Guest"), ("Who approves leave ?", "your manager approves leave days"),
         ("Where is the VPN guide ?", "the IT wiki"), ("How many leave days carry over ?", "5 days")]


@pytest.fixture(scope="module")
def examples():
    tok = build_tiny_chat_tokenizer([w for pair in PAIRS for w in pair] + ["Be brief ."])
    return [encode_chat(tok, to_conversation(q, a, system_prompt="Be brief ."))[:2] for q, a in PAIRS]


def lora_model(tiny_chat_model_dir, backend="peft"):
    spec = LoRASpec(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"])
    model, _ = load_lora_model(str(tiny_chat_model_dir), spec, backend, seed=0)
    for name, p in model.named_parameters():  # LoRA B starts at zero; move it so the adapter changes the output
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    return model


def test_pack_batch_restarts_positions_and_never_predicts_across_examples(examples):
    packed = pack_batch(examples[:3])
    lengths = [len(ids) for ids, _ in examples[:3]]
    assert packed["input_ids"].shape == packed["position_ids"].shape == packed["labels"].shape == (1, sum(lengths))
    starts = [0, lengths[0], lengths[0] + lengths[1]]
    assert [int(packed["position_ids"][0, s]) for s in starts] == [0, 0, 0]
    assert int(packed["position_ids"][0, -1]) == lengths[2] - 1
    assert all(int(packed["labels"][0, s]) == IGNORE for s in starts)
    padded = pad_batch(examples[:3], pad_id=0)
    assert int((packed["labels"][:, 1:] != IGNORE).sum()) == int((padded["labels"][:, 1:] != IGNORE).sum())
    with pytest.raises(ValueError, match="at least one example"):
        pack_batch([])


@pytest.mark.parametrize("backend", ["peft", pytest.param("unsloth", marks=pytest.mark.skipif(
    not UNSLOTH_INSTALLED, reason="Unsloth is not installed (WORKBENCH_UNSLOTH=0)"))])
def test_packed_loss_and_gradients_equal_padded(tiny_chat_model_dir, examples, backend):
    model = lora_model(tiny_chat_model_dir, backend)
    results = {}
    for name, batch in (("packed", pack_batch(examples)), ("padded", pad_batch(examples, pad_id=0))):
        model.zero_grad(set_to_none=True)
        nll, n = sft_train.response_nll(model, batch)
        nll.backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
        results[name] = (nll.item(), n, grads)
    assert results["packed"][1] == results["padded"][1]
    assert results["packed"][0] == pytest.approx(results["padded"][0], rel=1e-5)
    for k, g in results["padded"][2].items():
        torch.testing.assert_close(results["packed"][2][k], g, rtol=1e-4, atol=1e-6)
    check = sft_train.check_packing(model, examples, pad_id=0)
    assert check["packed"] == pytest.approx(check["padded"], abs=1e-5)


def test_check_packing_stops_a_batch_whose_examples_see_each_other(tiny_chat_model_dir, examples, monkeypatch):
    model = lora_model(tiny_chat_model_dir)

    def leaking_pack(batch):  # positions that never restart: the mask cannot tell the examples apart
        packed = pack_batch(batch)
        packed["position_ids"] = torch.arange(packed["input_ids"].shape[1])[None]
        return packed

    monkeypatch.setattr(sft_train, "pack_batch", leaking_pack)
    with pytest.raises(RuntimeError, match=r"packing changes the loss.*train.packing: false"):
        sft_train.check_packing(model, examples, pad_id=0)


def test_training_with_packing_matches_padded_training(tiny_chat_model_dir, examples):
    runs = {}
    for packing in (True, False):
        model = lora_model(tiny_chat_model_dir, EXPECTED_BACKEND)
        config = validate_config(tiny_sft_config(tiny_chat_model_dir, "unused", packing=packing))
        task = SFTTask(config)
        data = Prepared(None, "", {}, {"train": examples, "validation": examples[:2], "test": []})
        objective = task.objective(data, model, SimpleNamespace(pad_token_id=0), None, "cpu")
        result = train(objective, TrainOptions(epochs=3, learning_rate=1e-2, batch_size=3, seed=0, log_every=1),
                       progress=False)
        weights = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
        runs[packing] = (result, weights, task.packing_check)
    packed, padded = runs[True][0], runs[False][0]
    assert set(runs[True][2]) == {"packed", "padded"} and runs[False][2] == {}
    assert packed.val_metric == "loss" and packed.best_step == 6
    assert packed.steps == padded.steps == 6 and packed.trained_tokens == padded.trained_tokens
    assert packed.tokens_seen == padded.tokens_seen == 3 * sum(len(ids) for ids, _ in examples)
    assert [s for s, _ in packed.loss_history] == [s for s, _ in padded.loss_history]
    assert [v for _, v in packed.loss_history] == pytest.approx([v for _, v in padded.loss_history], rel=1e-4)
    assert padded.loss_history[-1][1] < padded.loss_history[0][1]
    for k, w in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][k], w, rtol=1e-3, atol=1e-5)
