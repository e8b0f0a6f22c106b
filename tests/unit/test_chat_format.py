"""Chat formatting and masking (workbench.chat_format) with a tiny word-level tokenizer that has a chat template."""

import pytest

from tests.conftest import build_tiny_chat_tokenizer
from workbench.models.chat_template import IGNORE, encode_chat, end_of_turn_ids, ensure_chat_template, pad_batch
from workbench.data.conversations import FormatError, normalize_answer, split_conversations, to_conversation


@pytest.fixture(scope="module")
def tok():
    return build_tiny_chat_tokenizer(["Be brief .", "How many leave days ?", "28 days", "What is the VPN ?",
                                      "WireGuard", "And the Wi-Fi ?", "Kestrel-Guest"])


def words(tok, ids):
    return tok.convert_ids_to_tokens(ids)


def test_prompt_tokens_are_masked_and_answer_tokens_kept(tok):
    conv = to_conversation("How many leave days ?", "28 days", system_prompt="Be brief .")
    ids, labels, prompt_length = encode_chat(tok, conv)
    assert len(ids) == len(labels)
    assert words(tok, ids) == ["<|im_start|>", "system", "Be", "brief", ".", "<|im_end|>",
                               "<|im_start|>", "user", "How", "many", "leave", "days", "?", "<|im_end|>",
                               "<|im_start|>", "assistant", "28", "days", "<|im_end|>"]
    trained = [t for t, y in zip(ids, labels) if y != IGNORE]
    assert words(tok, trained) == ["28", "days", "<|im_end|>"]  # the answer and its end-of-turn, nothing else
    assert all(y == IGNORE for y in labels[:prompt_length]) and labels[prompt_length:] == ids[prompt_length:]
    # the generation prompt is exactly what the template renders with add_generation_prompt
    rendered = tok.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True)
    assert ids[:prompt_length] == tok(rendered, add_special_tokens=False).input_ids


def test_multi_turn_messages_train_every_assistant_turn(tok):
    messages = [{"role": "user", "content": "What is the VPN ?"}, {"role": "assistant", "content": "WireGuard"},
                {"role": "user", "content": "And the Wi-Fi ?"}, {"role": "assistant", "content": "Kestrel-Guest"}]
    import json

    conv = to_conversation(None, None, json.dumps(messages))
    ids, labels, prompt_length = encode_chat(tok, conv)
    trained = words(tok, [t for t, y in zip(ids, labels) if y != IGNORE])
    assert trained == ["WireGuard", "<|im_end|>", "Kestrel", "-", "Guest", "<|im_end|>"]
    assert words(tok, ids[prompt_length - 2:prompt_length]) == ["<|im_start|>", "assistant"]


def test_end_of_turn_found_from_the_template(tok):
    stop = end_of_turn_ids(tok)
    assert words(tok, stop) == ["</s>", "<|im_end|>"]


def test_conversation_errors():
    with pytest.raises(FormatError, match="unknown role"):
        to_conversation(None, None, [{"role": "bot", "content": "x"}])
    with pytest.raises(FormatError, match="not JSON"):
        to_conversation(None, None, "[{oops")
    with pytest.raises(FormatError, match="no assistant turn"):
        to_conversation(None, None, [{"role": "user", "content": "x"}])
    with pytest.raises(FormatError, match="empty content"):
        to_conversation("question", "  ")
    conv = to_conversation(None, None, [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                        {"role": "user", "content": "dangling"}])
    assert [m["role"] for m in conv] == ["user", "assistant"]


def test_missing_template_is_reported(tok):
    bare = build_tiny_chat_tokenizer(["x"])
    bare.chat_template = None
    with pytest.raises(FormatError, match="task.chat_template"):
        ensure_chat_template(bare)
    assert ensure_chat_template(bare, override=tok.chat_template) == "config"
    assert ensure_chat_template(tok) == "tokenizer"


def test_pad_batch_masks_padding():
    batch = pad_batch([([5, 6, 7], [IGNORE, 6, 7]), ([5], [5])], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [5, IGNORE, IGNORE]]


def test_normalize_answer():
    assert normalize_answer("  The  WireGuard client. ") == "wireguard client"
    assert normalize_answer("€1,200") == normalize_answer("€1200")
    assert normalize_answer("28 Days") == normalize_answer("28 days!")


def test_split_is_seeded_stratified_and_drops_repeated_prompts():
    keys = [f"q{i}" for i in range(40)] + ["q0", "q1"]
    kinds = ["qa"] * 30 + ["howto"] * 10 + ["qa", "qa"]
    a, report = split_conversations(keys, kinds, "drop", 0.1, 0.2, seed=3)
    b, _ = split_conversations(keys, kinds, "drop", 0.1, 0.2, seed=3)
    c, _ = split_conversations(keys, kinds, "drop", 0.1, 0.2, seed=4)
    assert a == b and a != c
    assert report["duplicate_rows_dropped"] == 2 and report["cross_split_duplicates"] == 0
    assert report["sizes"] == {"train": 28, "validation": 4, "test": 8}
    assert report["kind_counts"]["test"] == {"howto": 2, "qa": 6}
    assert sorted(sum(a.values(), [])) == list(range(40))
    _, kept = split_conversations(keys, kinds, "report", 0.1, 0.2, seed=3)
    assert kept["duplicate_rows_dropped"] == 0 and sum(kept["sizes"].values()) == 42
