"""Chat formatting for SFT: rows -> conversations -> token ids with the loss on assistant tokens only.

A conversation is rendered with the tokenizer's chat template in segments: everything up to an
assistant turn (including the template's generation prompt, e.g. ``<|im_start|>assistant\\n``)
gets label ``-100``; the assistant's content and its end-of-turn tokens keep their ids as labels.
Segments are tokenised separately and concatenated, so the prompt tokens are exactly those a
generation call sees.

Run as (prints one formatted, masked example with the bundled SmolLM2 tokenizer)::

    python -m workbench.chat_format
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter, defaultdict

import numpy as np

IGNORE = -100
ROLES = ("system", "user", "assistant")


class FormatError(ValueError):
    """Raised when a row cannot become a conversation, or a template cannot render it in segments."""


def to_conversation(prompt: str | None, response: str | None, messages: str | list | None = None,
                    system_prompt: str | None = None) -> list[dict[str, str]]:
    """Builds one conversation from a (prompt, response) pair or a messages value.

    Args:
        prompt: The user's turn (ignored when ``messages`` is given).
        response: The assistant's turn.
        messages: A list of ``{"role", "content"}`` dicts, or its JSON text.
        system_prompt: Put first as a system turn unless the conversation starts with one.

    Returns:
        ``[{"role": ..., "content": ...}, ...]`` ending with an assistant turn.

    Raises:
        FormatError: Unparseable messages, an unknown role, empty content, or no assistant turn.
    """
    if messages is not None:
        if isinstance(messages, str):
            try:
                messages = json.loads(messages)
            except json.JSONDecodeError as exc:
                raise FormatError(f"messages is not JSON ({exc.msg} at {exc.pos})") from None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise FormatError("messages must be a list of {role, content} objects")
        conv = [{"role": str(m.get("role", "")), "content": str(m.get("content") or "").strip()} for m in messages]
    else:
        conv = [{"role": "user", "content": (prompt or "").strip()},
                {"role": "assistant", "content": (response or "").strip()}]
    bad = sorted({m["role"] for m in conv} - set(ROLES))
    if bad:
        raise FormatError(f"unknown role(s) {bad}; use {list(ROLES)}")
    if any(not m["content"] for m in conv):
        raise FormatError("a turn has empty content")
    while conv and conv[-1]["role"] != "assistant":
        conv.pop()
    if not conv:
        raise FormatError("the conversation has no assistant turn")
    if system_prompt and conv[0]["role"] != "system":
        conv.insert(0, {"role": "system", "content": system_prompt})
    return conv


def ensure_chat_template(tokenizer, override: str | None = None, gguf_path: str | None = None) -> str:
    """Makes sure ``tokenizer`` has a chat template and says where it came from.

    Args:
        tokenizer: The base model's tokenizer (modified in place).
        override: ``task.chat_template``; wins when set.
        gguf_path: The GGUF the base model was converted from, whose ``tokenizer.chat_template``
            metadata is used when the tokenizer has none.

    Returns:
        ``"config"``, ``"tokenizer"`` or ``"gguf"``.

    Raises:
        FormatError: If no template is found anywhere.
    """
    if override:
        tokenizer.chat_template = override
        return "config"
    if getattr(tokenizer, "chat_template", None):
        return "tokenizer"
    if gguf_path and str(gguf_path).endswith(".gguf"):
        from gguf import GGUFReader

        field = GGUFReader(gguf_path).fields.get("tokenizer.chat_template")
        if field is not None:
            tokenizer.chat_template = bytes(field.parts[field.data[0]]).decode("utf-8")
            return "gguf"
    raise FormatError("the base model's tokenizer has no chat template (nor its GGUF metadata); set "
                      "task.chat_template to a Jinja chat template")


def render(tokenizer, messages: list[dict], generation_prompt: bool = False) -> str:
    """Renders messages with the tokenizer's chat template as text (no tokenisation)."""
    if not messages:
        return ""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def encode_chat(tokenizer, conversation: list[dict]) -> tuple[list[int], list[int], int]:
    """Tokenises a conversation with the loss on assistant tokens only.

    Args:
        tokenizer: A tokenizer with a chat template.
        conversation: Turns as returned by :func:`to_conversation`.

    Returns:
        ``(input_ids, labels, prompt_length)``: two lists of the same length (labels are ``-100`` outside
        assistant turns), and the number of tokens before the last assistant answer (the generation prompt).

    Raises:
        FormatError: If the template's renderings are not prefixes of each other (cannot be segmented).
    """
    ids: list[int] = []
    labels: list[int] = []
    done, prompt_length = "", 0
    for i, turn in enumerate(conversation):
        if turn["role"] != "assistant":
            continue
        prefix = render(tokenizer, conversation[:i], generation_prompt=True)
        full = render(tokenizer, conversation[: i + 1])
        if not (prefix.startswith(done) and full.startswith(prefix)):
            raise FormatError("the chat template does not render turns as prefixes of each other; set "
                              "task.chat_template to one that does")
        context = _ids(tokenizer, prefix[len(done):])
        answer = _ids(tokenizer, full[len(prefix):])
        ids += context
        labels += [IGNORE] * len(context)
        prompt_length = len(ids)
        ids += answer
        labels += answer
        done = full
    return ids, labels, prompt_length


def end_of_turn_ids(tokenizer) -> list[int]:
    """Token ids that end an assistant turn: ``eos`` plus the first special token after an answer.

    Found by rendering a one-turn dummy chat, so it works for ChatML (``<|im_end|>``), Llama 3
    (``<|eot_id|>``) and other templates without naming them.
    """
    out = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    tail = _ids(tokenizer, render(tokenizer, conv)[len(render(tokenizer, conv[:1], True)):])
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    first = next((t for t in tail if t in special), None)
    if first is not None and first not in out:
        out.append(first)
    return out


def pad_batch(examples: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-pads ``(input_ids, labels)`` pairs into tensors.

    Returns:
        ``{"input_ids", "attention_mask", "labels"}`` long tensors of shape ``(batch, longest)``; padding has
        attention 0 and label ``-100``.
    """
    import torch

    width = max(len(ids) for ids, _ in examples)
    out = {"input_ids": torch.full((len(examples), width), pad_id, dtype=torch.long),
           "attention_mask": torch.zeros((len(examples), width), dtype=torch.long),
           "labels": torch.full((len(examples), width), IGNORE, dtype=torch.long)}
    for i, (ids, labels) in enumerate(examples):
        out["input_ids"][i, : len(ids)] = torch.tensor(ids)
        out["attention_mask"][i, : len(ids)] = 1
        out["labels"][i, : len(labels)] = torch.tensor(labels)
    return out


def pack_batch(examples: list[tuple[list[int], list[int]]]):
    """Concatenates ``(input_ids, labels)`` pairs into one padding-free row (packing).

    Position ids restart at 0 at each example, which transformers' attention masking reads as sequence
    boundaries (each token attends only within its own example). The first label of every example is set to
    ``-100``, so no token is predicted across a boundary; with next-token targets ``labels[:, 1:]`` the scored
    tokens are exactly those of :func:`pad_batch` on the same examples.

    Returns:
        ``{"input_ids", "position_ids", "labels"}`` long tensors of shape ``(1, total_tokens)``.

    Raises:
        ValueError: ``examples`` is empty or holds an empty example.
    """
    import torch

    if not examples or any(not ids for ids, _ in examples):
        raise ValueError("pack_batch needs at least one example, each with at least one token")
    ids = [t for example, _ in examples for t in example]
    positions = [i for example, _ in examples for i in range(len(example))]
    labels = [IGNORE if i == 0 else t for _, lab in examples for i, t in enumerate(lab)]
    return {"input_ids": torch.tensor([ids]), "position_ids": torch.tensor([positions]),
            "labels": torch.tensor([labels])}


def normalize_answer(text: str) -> str:
    """SQuAD-style normalisation: NFKC, lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def split_conversations(keys: list[str], kinds: list[str] | None, policy: str, val_fraction: float,
                        test_fraction: float, seed: int) -> tuple[dict[str, list[int]], dict]:
    """Seeded train/validation/test split of rows, stratified by kind, with duplicate-prompt control.

    Args:
        keys: Normalised prompt text per row (duplicates are rows with equal keys), shape ``(rows,)``.
        kinds: Stratum per row (e.g. ``qa``/``howto``), or ``None`` for one stratum.
        policy: ``"drop"`` keeps the first row per key before splitting; ``"report"`` keeps all.
        val_fraction: Fraction of each stratum in validation.
        test_fraction: Fraction of each stratum in test.
        seed: ``numpy.random.default_rng`` seed; same inputs and seed give the same split.

    Returns:
        ``(splits, report)``: sorted row indices per split, and counts (``duplicate_rows_dropped``,
        ``cross_split_duplicates``, ``sizes``, ``kind_counts``).

    Raises:
        workbench.splits.SplitError: If fewer than 3 rows remain.
    """
    from .splits import SplitError

    kinds = kinds or ["all"] * len(keys)
    candidates, seen, dropped = [], set(), 0
    for i, key in enumerate(keys):
        if policy == "drop" and key in seen:
            dropped += 1
            continue
        seen.add(key)
        candidates.append(i)
    if len(candidates) < 3:
        raise SplitError(f"only {len(candidates)} usable row(s); a train/validation/test split needs at least 3.")
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i in candidates:
        by_kind[kinds[i]].append(i)
    rng = np.random.default_rng(seed)
    splits: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for kind in sorted(by_kind):
        idx = np.array(by_kind[kind])
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction) if len(idx) >= 3 else 0
        n_val = round(len(idx) * val_fraction) if len(idx) >= 3 else 0
        splits["test"] += idx[:n_test].tolist()
        splits["validation"] += idx[n_test:n_test + n_val].tolist()
        splits["train"] += idx[n_test + n_val:].tolist()
    splits = {k: sorted(v) for k, v in splits.items()}
    owners: dict[str, set[str]] = defaultdict(set)
    for name, ix in splits.items():
        for i in ix:
            owners[keys[i]].add(name)
    report = {"policy": policy, "duplicate_rows_dropped": dropped,
              "cross_split_duplicates": sum(1 for v in owners.values() if len(v) > 1),
              "sizes": {k: len(v) for k, v in splits.items()},
              "kind_counts": {k: dict(sorted(Counter(kinds[i] for i in v).items())) for k, v in splits.items()}}
    return splits, report


def main() -> None:
    """Prints one formatted example of the bundled corpus with its masked (prompt) part in brackets."""
    from transformers import AutoTokenizer

    from .base_model import resolve_base_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model().path)
    conv = to_conversation("How do I reach the IT helpdesk?", "Call extension 4357.")
    ids, labels, _ = encode_chat(tokenizer, conv)
    for t, y in zip(ids, labels):
        piece = tokenizer.decode([t])
        print(f"[{piece}]" if y == IGNORE else piece, end="")
    print()


if __name__ == "__main__":
    main()
