"""Greedy generation from a (PEFT-wrapped) causal LM, cut at the chat template's end of turn.

Used by the chat SFT task's evaluation (base vs tuned answers) and by the chat demo.
"""

from __future__ import annotations

import torch

from .chat_template import encode_chat


@torch.no_grad()
def generate(model, tokenizer, prompts: list[list[int]], stop_ids: list[int], max_new_tokens: int = 48,
             batch_size: int = 16) -> list[str]:
    """Greedy continuations of tokenised prompts, cut at the first end-of-turn token.

    Args:
        model: A (PEFT-wrapped) causal LM.
        tokenizer: Its tokenizer (for the pad id and decoding).
        prompts: Prompt token ids (ending with the generation prompt), shape ``(n, prompt_len_i)``.
        stop_ids: Token ids that end the answer (see :func:`workbench.models.chat_template.end_of_turn_ids`).
        max_new_tokens: Most tokens generated per prompt.
        batch_size: Prompts per ``generate`` call (left-padded).

    Returns:
        One decoded answer per prompt, special tokens removed, stripped.
    """
    from transformers import GenerationConfig

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids,
                              pad_token_id=pad)
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, p in enumerate(chunk):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
        for row in gen[:, width:].tolist():
            cut = next((j for j, t in enumerate(row) if t in stop_ids), len(row))
            out.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    model.train(was_training)
    return out


def prompt_ids(tokenizer, conversation: list[dict]) -> list[int]:
    """Token ids of a conversation up to (and including) the generation prompt of its next assistant turn.

    ``conversation`` must not end with an assistant turn; the ids match those :func:`encode_chat` masks.
    """
    if conversation and conversation[-1]["role"] == "assistant":
        raise ValueError("the conversation already ends with an assistant turn")
    ids, _, prompt_length = encode_chat(tokenizer, conversation + [{"role": "assistant", "content": "x"}])
    return ids[:prompt_length]
