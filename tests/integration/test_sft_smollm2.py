"""Chat SFT with the real bundled base model, SmolLM2-135M-Instruct (a few steps; its own chat template)."""

import json

import pytest

from tests.conftest import EXPECTED_BACKEND, HANDBOOK_JSONL
from tests.integration.test_smollm2 import GGUF, requires_smollm2
from workbench.models.base_model import resolve_base_model, sha256_file
from workbench.models.chat_template import IGNORE, encode_chat, end_of_turn_ids, ensure_chat_template
from workbench.data.conversations import to_conversation
from workbench import setup
from workbench.config import validate_sft_config

pytestmark = pytest.mark.integration


@requires_smollm2
def test_smollm2_chat_template_masks_all_but_the_answer():
    from transformers import AutoTokenizer

    base = resolve_base_model()
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    assert ensure_chat_template(tokenizer, None, base.source) == "tokenizer"
    conv = to_conversation("What is the IT helpdesk extension?", "4357", system_prompt="Be brief.")
    ids, labels, prompt_length = encode_chat(tokenizer, conv)
    trained = tokenizer.decode([t for t, y in zip(ids, labels) if y != IGNORE])
    assert trained == "4357<|im_end|>\n"
    assert tokenizer.decode(ids[:prompt_length]) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is the IT helpdesk extension?<|im_end|>\n"
        "<|im_start|>assistant\n")
    assert tokenizer.convert_ids_to_tokens(end_of_turn_ids(tokenizer)) == ["<|im_end|>"]
    tokenizer.chat_template = None  # the GGUF's metadata carries the same template
    assert ensure_chat_template(tokenizer, None, base.source) == "gguf"
    assert encode_chat(tokenizer, conv) == (ids, labels, prompt_length)


@requires_smollm2
def test_sft_few_steps_with_bundled_model(tmp_path):
    raw = {"name": "smollm2-sft-smoke", "output_dir": str(tmp_path),
           "source": {"kind": "files", "path": str(HANDBOOK_JSONL), "id_column": "id", "limit": 40},
           "columns": {"prompt": "instruction", "response": "response", "kind": "kind"},
           "data": {"max_length": 96},
           "lora": {"r": 4, "lora_alpha": 8, "first_layer": 28},
           "task": {"type": "sft", "system_prompt": "Answer briefly."},
           "train": {"epochs": 0.25, "batch_size": 4, "learning_rate": 1e-3, "threads": 1},
           "eval": {"max_new_tokens": 4, "samples": 2}}
    run = setup(validate_sft_config(raw), progress=False)
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    task = json.loads((run.run_dir / "task.json").read_text())
    assert task["base_model"]["sha256"] == sha256_file(GGUF) and task["base_model"]["name"] == "SmolLM2-135M-Instruct"
    assert metrics["training"]["steps"] == 2 and metrics["training"]["chat_template_from"] == "tokenizer"
    assert metrics["training"]["backend"] == EXPECTED_BACKEND, metrics["training"]["backend_reason"]
    for model in ("base", "tuned"):
        assert 1 < metrics[model]["test"]["perplexity"] < 1e4
        assert metrics[model]["exact_match"]["n"] == metrics["data"]["exact_match_rows"] > 0
    assert (run.run_dir / "adapter" / "adapter_model.safetensors").is_file()
