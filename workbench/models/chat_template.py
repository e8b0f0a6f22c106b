"""Chat formatting for SFT: rows -> conversations -> token ids with the loss on assistant tokens only.

A conversation is rendered with the tokenizer's chat template in segments: everything up to an
assistant turn (including the template's generation prompt, e.g. ``<|im_start|>assistant\\n``)
gets label ``-100``; the assistant's content and its end-of-turn tokens keep their ids as labels.
Segments are tokenised separately and concatenated, so the prompt tokens are exactly those a
generation call sees.

Run as (prints one formatted, masked example with the bundled SmolLM2 tokenizer)::

    python -m workbench.models.chat_template
"""

from __future__ import annotations

from ..data.conversations import FormatError, to_conversation

IGNORE = -100


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
