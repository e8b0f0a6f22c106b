"""Chatting with a finished SFT run: on the command line or in a local Gradio chat.

Run as::

    workbench chat RUN_DIR --prompt "How many days of annual leave do I get?"
    workbench serve RUN_DIR            # Gradio chat (workbench.serving.chat_app) on 127.0.0.1, no share link
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..models.chat_template import end_of_turn_ids
from ..models.generation import generate, prompt_ids

SFT_REQUIRED_FILES = ("README.md", "config.yaml", "metrics.json", "samples.jsonl", "task.json", "lineage.json",
                      "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json")


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
        """Loads a run written by :func:`workbench.setup` for a ``task.type: sft`` config.

        Raises:
            ValueError: If ``run_dir`` is not a complete SFT run directory (lists the missing files).
            workbench.models.base_model.BaseModelError: If its base model is not on this machine.
        """
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..models.base_model import resolve_base_model

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

