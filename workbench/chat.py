"""Greedy generation, and chatting with a finished SFT run (command line or a local Gradio chat).

Run as::

    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
    workbench serve RUN_DIR            # Gradio chat on 127.0.0.1 (no share link) for an SFT run
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .chat_format import encode_chat, end_of_turn_ids

SFT_REQUIRED_FILES = ("README.md", "config.yaml", "metrics.json", "samples.jsonl", "task.json", "lineage.json",
                      "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json")


@torch.no_grad()
def generate(model, tokenizer, prompts: list[list[int]], stop_ids: list[int], max_new_tokens: int = 48,
             batch_size: int = 16) -> list[str]:
    """Greedy continuations of tokenised prompts, cut at the first end-of-turn token.

    Args:
        model: A (PEFT-wrapped) causal LM.
        tokenizer: Its tokenizer (for the pad id and decoding).
        prompts: Prompt token ids (ending with the generation prompt), shape ``(n, prompt_len_i)``.
        stop_ids: Token ids that end the answer (see :func:`workbench.chat_format.end_of_turn_ids`).
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


@dataclass
class ChatRun:
    """A loaded SFT run: base model + adapter + tokenizer, ready to answer.

    Attributes:
        run_dir: The run directory.
        model: The PEFT model (eval mode).
        tokenizer: The saved tokenizer (with its chat template).
        task: ``task.json`` (system prompt, base model, max_new_tokens).
    """

    run_dir: Path
    model: object
    tokenizer: object
    task: dict

    @classmethod
    def load(cls, run_dir: str | Path) -> "ChatRun":
        """Loads a run written by :func:`workbench.sft.setup`.

        Raises:
            ValueError: If ``run_dir`` is not a complete SFT run directory (lists the missing files).
            workbench.base_model.BaseModelError: If its base model is not on this machine.
        """
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .base_model import resolve_base_model

        run_dir = Path(run_dir)
        missing = [f for f in SFT_REQUIRED_FILES if not (run_dir / f).is_file()]
        if missing:
            raise ValueError(f"{run_dir} is not a complete SFT run directory (missing {missing}).")
        task = json.loads((run_dir / "task.json").read_text())
        if task.get("type") != "sft":
            raise ValueError(f"{run_dir} is a {task.get('type')!r} run, not an SFT (chat) run.")
        base = resolve_base_model(task["base_model"]["spec"])
        tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
        model = PeftModel.from_pretrained(model, run_dir / "adapter").eval()
        return cls(run_dir, model, tokenizer, task)

    def reply(self, message: str, history: list[dict] | None = None, max_new_tokens: int | None = None) -> str:
        """Answers ``message`` after ``history`` (``[{"role", "content"}, ...]``), greedily."""
        conv = [{"role": m["role"], "content": str(m["content"])} for m in (history or [])
                if m.get("role") in ("user", "assistant")]
        if self.task.get("system_prompt"):
            conv.insert(0, {"role": "system", "content": self.task["system_prompt"]})
        conv.append({"role": "user", "content": message})
        ids = prompt_ids(self.tokenizer, conv)
        return generate(self.model, self.tokenizer, [ids], end_of_turn_ids(self.tokenizer),
                        max_new_tokens or self.task.get("max_new_tokens", 128))[0]


def serve_chat(run_dir: str | Path, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serves a Gradio chat (``gr.ChatInterface``) for an SFT run; no share link, analytics off.

    Returns:
        ``(demo, local_url)``.
    """
    import gradio as gr

    run = ChatRun.load(run_dir)
    demo = gr.ChatInterface(lambda message, history: run.reply(message, history), title=f"Chat: {run.run_dir.name}",
                            description="LoRA adapter trained with the workbench; greedy answers, on this machine.",
                            analytics_enabled=False, examples=[s["prompt"] for s in run.task.get("examples", [])][:4])
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(server_name=host, server_port=port or None, share=False, prevent_thread_lock=True,
                            quiet=True, ssr_mode=False, inbrowser=False, show_error=True)
    print(f"Chat running at {url} (Ctrl+C to stop)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
