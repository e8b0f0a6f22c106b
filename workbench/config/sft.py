"""Config of the chat SFT recipe: the run groups of :mod:`workbench.config`, plus SFT columns, data, task and eval.

A YAML config with ``task: {type: sft}`` validates as an :class:`SFTConfig` (registered for ``sft``), and
:func:`workbench.setup` runs it through the chat SFT task (:mod:`workbench.tasks.sft`).

Run as::

    workbench run configs/chat_sft.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from .base import RunBase, SplitConfig, TrainConfig, _Group, register_schema
from .loader import read_yaml, validate_model


class SFTColumnsConfig(_Group):
    """Which source columns hold the conversation: a prompt and a response column, or one messages column."""

    prompt: str | None = Field("instruction", description="Column with the user's instruction/question.")
    response: str | None = Field("response", description="Column with the assistant's answer (the trained tokens).")
    messages: str | None = Field(None, description=(
        "Column with a whole conversation, a JSON list of {role, content} (roles system/user/assistant); "
        "when set, `prompt`/`response` are ignored and every assistant turn is trained."))
    kind: str | None = Field(None, description=(
        "Optional column with a row type (e.g. `qa`/`howto`): the split is stratified by it, and rows whose "
        "value is `eval.exact_match_kind` are scored by exact match."))


class SFTDataConfig(SplitConfig):
    """Tokenised length limit and the seeded train/validation/test split (stratified by `columns.kind` when set)."""

    max_length: int = Field(256, gt=8, description="Longest formatted conversation, in tokens; longer rows are "
                            "dropped and counted in the model card.")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="Fraction of rows in the test split.")


class SFTTaskConfig(_Group):
    """How a row becomes a chat: the system prompt and the chat template."""

    type: Literal["sft"] = Field("sft", description="Task type; `sft` selects the chat SFT recipe.")
    system_prompt: str | None = Field(None, description=(
        "System message put before every conversation that has none (base and tuned model alike); "
        "None = the chat template's own default."))
    chat_template: str | None = Field(None, description=(
        "Jinja chat template overriding the tokenizer's; None = the tokenizer's, or the GGUF's "
        "`tokenizer.chat_template` metadata when the tokenizer has none."))


class SFTTrainConfig(TrainConfig):
    """Optimisation, plus padding-free packing of each batch."""

    packing: bool = Field(False, description=(
        "Concatenate each batch's conversations into one row with position ids restarting at 0 per conversation "
        "(padding-free packing): the same conversations per step and the same loss, without padding tokens. "
        "Attention stays within each conversation; the first batch is checked against the padded loss and the "
        "run stops with an error if they differ (then set `false`). false = right-padded batches."))


class SFTEvalConfig(_Group):
    """Held-out evaluation: loss/perplexity on the test split, exact match by greedy generation."""

    exact_match_kind: str = Field("qa", description="Rows whose `columns.kind` value is this are scored by exact "
                                  "match (all test rows when `columns.kind` is unset).")
    max_new_tokens: int = Field(48, gt=0, le=1024, description="Most tokens generated per answer.")
    max_exact_match: int = Field(100, gt=0, description="Score at most this many test rows by generation.")
    samples: int = Field(8, ge=0, description="Generations (base vs tuned) written to samples.jsonl and the card.")
    batch_size: int = Field(16, gt=0, description="Rows per batch in evaluation and generation.")


@register_schema("sft")
class SFTConfig(RunBase):
    """One chat SFT run: connect -> format -> split -> train -> evaluate -> save."""

    columns: SFTColumnsConfig = Field(default_factory=SFTColumnsConfig)
    data: SFTDataConfig = Field(default_factory=SFTDataConfig)
    task: SFTTaskConfig = Field(default_factory=SFTTaskConfig)
    train: SFTTrainConfig = Field(default_factory=lambda: SFTTrainConfig(learning_rate=2e-4, batch_size=8, epochs=3))
    eval: SFTEvalConfig = Field(default_factory=SFTEvalConfig)

    @model_validator(mode="after")
    def _consistent(self):
        problems = []
        if self.data.val_fraction + self.data.test_fraction >= 0.8:
            problems.append("data.val_fraction + data.test_fraction must leave at least 20% for training")
        if not self.columns.messages and not (self.columns.prompt and self.columns.response):
            problems.append("columns: set both `prompt` and `response`, or `messages`")
        if not self.columns.messages and self.columns.prompt == self.columns.response:
            problems.append("columns.prompt and columns.response must be different columns")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def validate_sft_config(data: dict[str, Any]) -> SFTConfig:
    """Validates an SFT config dict, collecting every problem.

    Raises:
        workbench.config.ConfigError: Lists each invalid field as ``path: message``.
    """
    return validate_model(SFTConfig, data)


def load_sft_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SFTConfig:
    """Loads, expands and validates a YAML SFT config (see :func:`workbench.config.load_config`).

    Args:
        path: YAML file.
        overrides: Dotted keys to set after loading, e.g. ``{"train.epochs": 0.5}``.

    Raises:
        workbench.config.ConfigError: Missing file, unset variable, or invalid fields (all listed).
    """
    return validate_sft_config(read_yaml(path, overrides))
