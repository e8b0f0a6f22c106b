"""The restricted LM head and backend selection (workbench.engine), on a tiny random Llama."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import UNSLOTH_INSTALLED
from workbench.models.heads import LabelScorer, encode_prompts, label_token_ids
from workbench.models.lora import LoRASpec, load_lora_model
from workbench.models.backends import select_backend


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_restricted_head_equals_full_lm_head_at_label_tokens(tiny):
    model, tok = tiny
    ids = label_token_ids(tok, ["donor", "acceptor", "neither"])
    scorer = LabelScorer(model, ids)
    prompts = ["DNA : A C G T Class :", "DNA : G G Class :"]  # different lengths -> right padding
    batch = encode_prompts(tok, prompts)
    got = scorer(**batch)
    assert got.shape == (2, 3)
    for i, p in enumerate(prompts):
        single = tok(p, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            full = model(input_ids=single).logits[0, -1, ids]
        torch.testing.assert_close(got[i].detach(), full, rtol=1e-4, atol=1e-5)


def test_label_words_must_start_with_distinct_tokens(tiny):
    _, tok = tiny
    with pytest.raises(ValueError, match="distinct"):
        label_token_ids(tok, ["donor", "donor"])


def test_lora_first_layer_limits_adapted_layers(tiny_model_dir):
    spec = LoRASpec(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], first_layer=1)
    model, _ = load_lora_model(str(tiny_model_dir), spec, "peft", seed=0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.1." in n for n in trainable)
    with pytest.raises(ValueError, match="only 2 layers"):
        load_lora_model(str(tiny_model_dir), LoRASpec(4, 8, 0.0, ["q_proj"], first_layer=5), "peft", seed=0)


def test_backend_selection_reports_reason():
    backend, reason = select_backend("peft")
    assert backend == "peft" and "requested" in reason
    backend, reason = select_backend("auto")
    assert backend == ("unsloth" if UNSLOTH_INSTALLED else "peft") and reason


def test_unsloth_path_matches_peft_path_on_cpu(tiny_model_dir):
    """Where Unsloth imports on CPU: float32 weights, the same adapter init and the same label logits as PEFT."""
    if not UNSLOTH_INSTALLED:
        pytest.skip("Unsloth is not installed (scripts/setup.sh --dev installs its CPU backend)")
    backend, reason = select_backend("auto")
    assert backend == "unsloth", f"Unsloth is installed but unusable: {reason}"
    if torch.cuda.is_available():
        pytest.skip("checks the CPU path")
    spec = LoRASpec(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], first_layer=1)
    fast, tok = load_lora_model(str(tiny_model_dir), spec, "unsloth", seed=0)
    plain, _ = load_lora_model(str(tiny_model_dir), spec, "peft", seed=0)
    assert fast.get_base_model().get_input_embeddings().weight.dtype == torch.float32
    fast_lora = {n: p for n, p in fast.named_parameters() if p.requires_grad}
    plain_lora = {n: p for n, p in plain.named_parameters() if p.requires_grad}
    assert fast_lora.keys() == plain_lora.keys() and all(".layers.1." in n for n in fast_lora)
    for name, param in fast_lora.items():
        torch.testing.assert_close(param, plain_lora[name], rtol=0, atol=0)
    ids = label_token_ids(tok, ["donor", "acceptor", "neither"])
    batch = encode_prompts(tok, ["DNA : A C G T Class :", "DNA : G G Class :"])
    torch.testing.assert_close(LabelScorer(fast, ids)(**batch), LabelScorer(plain, ids)(**batch), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="only 2 layers"):
        load_lora_model(str(tiny_model_dir), LoRASpec(4, 8, 0.0, ["q_proj"], first_layer=5), "unsloth", seed=0)


def test_qlora_is_refused_on_cpu_with_what_to_do(tiny_model_dir):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU refusal")
    spec = LoRASpec(4, 8, 0.0, ["q_proj"], load_in_4bit=True)
    with pytest.raises(ValueError, match="needs a CUDA GPU.*load_in_4bit: false"):
        load_lora_model(str(tiny_model_dir), spec, "peft", seed=0)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_model_dir):
    """Recomputing activations in the backward pass changes memory, not the maths (same backend, same seed)."""
    backend, _ = select_backend("auto")
    prompts = ["DNA : A C G T Class :", "DNA : G G C A T T Class :"]
    results = []
    for checkpointing in (False, True):
        spec = LoRASpec(4, 8, 0.0, ["q_proj", "v_proj", "down_proj"], gradient_checkpointing=checkpointing)
        model, tok = load_lora_model(str(tiny_model_dir), spec, backend, seed=0)
        with torch.no_grad():  # LoRA B starts at zero; give it values so its gradients flow through A
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
        scorer = LabelScorer(model, label_token_ids(tok, ["donor", "acceptor", "neither"]))
        scorer.train()
        loss = torch.nn.functional.cross_entropy(scorer(**encode_prompts(tok, prompts)), torch.tensor([0, 2]))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        assert grads and all(g.abs().sum() > 0 for g in grads.values())
        results.append((loss.detach(), grads))
    torch.testing.assert_close(results[0][0], results[1][0])
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], rtol=1e-4, atol=1e-6)


def test_truncate_layers_keeps_the_first_layers_and_their_hidden_state(tiny_model_dir):
    from workbench.models.lora import truncate_layers

    full = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    short = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert truncate_layers(short, 0) == 2 and len(short.model.layers) == 2  # 0 keeps all
    assert truncate_layers(short, 1) == 1
    assert len(short.model.layers) == 1 and short.config.num_hidden_layers == 1
    ids = torch.tensor([[4, 5, 7, 8, 9, 10, 6, 5]])
    with torch.no_grad():
        after_first = full.model(input_ids=ids, output_hidden_states=True).hidden_states[1]
        expected = full.model.norm(after_first)  # what the final norm sees after layer 0
        got = short.model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    whole = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert truncate_layers(whole, 3) == 2 and whole.config.num_hidden_layers == 2  # "at most": a shorter model stays
    with pytest.raises(ValueError, match=">= 0"):
        truncate_layers(whole, -1)


@pytest.mark.parametrize("backend", ["peft", "auto"])
def test_num_layers_truncates_before_lora(tiny_model_dir, backend):
    spec = LoRASpec(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model, _ = load_lora_model(str(tiny_model_dir), spec, select_backend(backend)[0], seed=0, num_layers=1)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.0." in n for n in trainable)
    assert model.get_base_model().config.num_hidden_layers == 1


def test_mean_pooling_ignores_padding():
    from workbench.models.heads import pool_hidden

    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)  # (batch=2, seq_len=3, hidden=2)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    torch.testing.assert_close(pool_hidden(hidden, mask, "mean"), torch.stack([hidden[0].mean(0), hidden[1, :2].mean(0)]))
    torch.testing.assert_close(pool_hidden(hidden, mask, "last"), torch.stack([hidden[0, 2], hidden[1, 1]]))
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_hidden(hidden, mask, "max")


def test_linear_classifier_head_trains_and_round_trips(tiny, tmp_path):
    model, tok = tiny
    ids = label_token_ids(tok, ["donor", "acceptor", "neither"])
    torch.manual_seed(0)
    scorer = LabelScorer(model, ids, classifier="linear", pooling="mean")
    batch = encode_prompts(tok, ["DNA : A C G T Class :", "DNA : G G Class :"])
    logits = scorer(**batch)
    assert logits.shape == (2, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    assert scorer.score.weight.grad is not None and scorer.score.weight.grad.abs().sum() > 0
    scorer.save_head(tmp_path / "head.safetensors")
    other = LabelScorer(model, ids, classifier="linear", pooling="mean")
    other.load_head(tmp_path / "head.safetensors")
    torch.testing.assert_close(other(**batch), logits.detach())
    wrong = LabelScorer(model, ids[:2], classifier="linear")
    with pytest.raises(ValueError, match="shape"):
        wrong.load_head(tmp_path / "head.safetensors")
