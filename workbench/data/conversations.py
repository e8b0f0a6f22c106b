"""Rows -> conversations for chat SFT, answer normalisation, and the seeded split of conversations.

A conversation is a list of ``{"role", "content"}`` turns (roles system/user/assistant) ending with an
assistant turn; its token ids and loss mask come from :mod:`workbench.models.chat_template`.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter, defaultdict

import numpy as np

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
        workbench.data.splits.SplitError: If fewer than 3 rows remain.
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
