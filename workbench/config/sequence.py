"""Run config of the sequence tasks (``task.type`` classification and regression).

The field defaults are the default recipe for a new sequence task (docs/genome/recipe.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from data_connectors.config import SourceConfig

from .base import (LoRAConfig, ModelConfig, PublishedConfig, RunBase, SplitConfig, TrainConfig, _Group,
                   register_schema)


class ColumnsConfig(_Group):
    """Which source columns hold the sequence and the label."""

    sequence: str = Field("sequence", description="Column with the DNA sequence.")
    label: str = Field("label", description="Column with the class label (classification) or the numeric "
                       "target (regression).")


class LeakageConfig(_Group):
    """Near-duplicates between splits (workbench/data/leakage.py)."""

    k: int = Field(20, ge=8, le=32, description=(
        "Rows that share a stretch of at least this many nucleotides (either strand) count as near-duplicates."))
    examples: int = Field(3, ge=0, le=50, description="Example id pairs recorded per pair of splits.")


class DataConfig(SplitConfig):
    """Sequence validation and splitting."""

    ambiguous: Literal["reject", "drop", "keep"] = Field(
        "drop", description="Rows with IUPAC ambiguity codes (N, R, Y, ...): reject the run, drop the row, or keep it.")
    max_length: int = Field(512, gt=0, description="Longest sequence accepted, in nucleotides.")
    quantile_bins: int = Field(5, ge=0, le=100, description=(
        "Regression only: stratify the split by this many quantile bins of the target (0 = a plain seeded "
        "shuffle, not stratified)."))
    exclude_from: str | None = Field(None, description=(
        "CSV file with a `sequence` column: source rows with one of those sequences are dropped before splitting "
        "and counted in the model card's data report. `workbench retune` points it at the frozen evaluation set."))
    split: Literal["random", "column", "group", "cluster"] = Field("random", description=(
        "How rows are divided into train/validation/test (docs/evaluation.md). `random`: seeded and stratified "
        "(val_fraction, test_fraction). `column`: `split_column` names each row's split. `group`: whole groups of "
        "`group_column` (e.g. chromosomes) per split, stratified where possible. `cluster`: rows sharing a "
        "`leakage.k`-mer (either strand) stay in one split. `validation_source`/`test_source` rows go to their "
        "split whatever the strategy."))
    split_column: str | None = Field(None, description=(
        "`split: column`: the source column saying train, validation or test (case-insensitive; other values via "
        "`split_values`). Without validation rows, validation is carved from train (val_fraction of it)."))
    split_values: dict[str, Literal["train", "validation", "test"]] = Field(default_factory=dict, description=(
        "`split: column`: further column values -> split, e.g. {dev: validation, independent: test}."))
    group_column: str | None = Field(None, description=(
        "`split: group`: the source column holding each row's group (`id` for a FASTA header, `chrom` for BED)."))
    group_pattern: str | None = Field(None, description=(
        "`split: group`: `chromosome` (the chromosome named in the value: CHR13_99137199_99137399 -> chr13), or a "
        "regular expression whose first capture group is the group; None = the value itself."))
    test_groups: list[str] = Field(default_factory=list, description=(
        "`split: group`: groups pinned to the test split (e.g. [chr8, chr9]); none = drawn, stratified."))
    validation_groups: list[str] = Field(default_factory=list, description=(
        "`split: group`: groups pinned to the validation split; none = drawn from the rest, stratified."))
    leakage: LeakageConfig = Field(default_factory=lambda: LeakageConfig(), description=(
        "The leakage report of every run (near-duplicates between splits) and `split: cluster`."))

    @model_validator(mode="after")
    def _strategy_fields(self):
        own = {"column": ("split_column", "split_values"),
               "group": ("group_column", "group_pattern", "test_groups", "validation_groups")}
        missing = [f"data.{n}" for n in own.get(self.split, ())[:1] if not getattr(self, n)]
        if missing:
            raise ValueError(f"data.split: {self.split} needs {missing[0]}")
        extra = [f"data.{n}" for n in own["column"] + own["group"] if getattr(self, n) and n not in own.get(self.split, ())]
        if extra:
            raise ValueError(f"{', '.join(extra)} only apply to another data.split (this run's is {self.split!r}); "
                             "remove them or change data.split")
        if self.group_pattern and self.group_pattern != "chromosome":
            import re

            try:
                re.compile(self.group_pattern)
            except re.error as exc:
                raise ValueError(f"data.group_pattern {self.group_pattern!r} is not a regular expression ({exc})") \
                    from None
        return self


class SequenceModelConfig(ModelConfig):
    """The base model of a sequence (classification/regression) run."""

    num_layers: int = Field(4, ge=0, description=(
        "Keep at most the first this many decoder layers of the base model (0 = all; a base model with fewer "
        "layers is used whole). The default recipe's 4 of SmolLM2's 30 trained as well as 8 or all 30 on the "
        "splice task at a fraction of the cost (docs/genome/recipe.md); 0 is the GPU profile."))


class SequenceLoRAConfig(LoRAConfig):
    """The LoRA adapter of a sequence run; the default recipe's rank is higher than for chat SFT."""

    r: int = Field(64, gt=0, description=(
        "LoRA rank r. The default recipe's 64 beat 16 on the splice task (test accuracy 0.968 vs 0.957 with the "
        "same 4 layers, mean pooling and 8 epochs; docs/genome/recipe.md)."))
    lora_alpha: int = Field(128, gt=0, description="LoRA scaling numerator (scale = lora_alpha / r).")


class TaskConfig(_Group):
    """How a sequence becomes a prompt and a label becomes a word."""

    type: Literal["classification", "regression"] = Field("classification", description=(
        "`classification`: label word scored through the restricted LM head. `regression`: a linear head on the "
        "last prompt token's hidden state predicts the (standardised) numeric target, MSE loss."))
    spaced: bool = Field(True, description="Separate nucleotides by spaces so each base is its own token.")
    kmer: int = Field(1, ge=1, le=6, description=(
        "With `spaced`: nucleotides per space-separated group, non-overlapping from the first base (1 = one base "
        "per token; 2 = dinucleotides, 14 of whose 16 are one SmolLM2 token, so prompts are about half as long)."))
    prompt: str = Field("DNA: {sequence}\nClass:", description="Prompt template; must contain {sequence}.")
    label_words: dict[str, str] = Field(default_factory=dict, description=(
        "Label -> word the model predicts (first token must differ between labels); empty = the labels themselves. "
        "Classification only."))
    label_names: dict[str, str] = Field(default_factory=dict, description=(
        "Label -> human-readable name the demo shows (e.g. EI: donor (exon-intron)); labels left out show their "
        "code. Classification only; display only, it does not change training."))
    pooling: Literal["last", "mean"] = Field("mean", description=(
        "Which hidden state the head reads: `mean` (average over the prompt's tokens; the default recipe) or "
        "`last` (the prompt's final token)."))
    classifier: Literal["lm_head", "linear"] = Field("lm_head", description=(
        "Classification only. `lm_head`: the restricted LM head (the label words' next-token logits). `linear`: a "
        "new hidden -> n_labels layer trained with the adapter (the sequence-classification-head route); its "
        "runs cannot be exported as merged/GGUF weights."))

    reverse_complement: Literal["auto", "on", "off"] = Field("auto", description=(
        "Strand symmetry. `on`: train on every sequence and its reverse complement and average both orientations' "
        "probabilities at prediction (for tasks where the strand does not matter, e.g. enhancers). `off`: forward "
        "strand only (splice junctions, where strand matters). `auto`: a probe on the training and validation "
        "splits decides (workbench/data/strand.py; the model card reports it). Classification only (regression: "
        "`auto` means `off`)."))

    @field_validator("prompt")
    @classmethod
    def _has_placeholder(cls, value: str) -> str:
        if "{sequence}" not in value:
            raise ValueError("task.prompt must contain the placeholder {sequence}")
        return value

    @model_validator(mode="after")
    def _words_need_classes(self):
        if self.kmer != 1 and not self.spaced:
            raise ValueError(f"task.kmer: {self.kmer} groups spaced nucleotides, but task.spaced is false; set "
                             "task.spaced: true, or remove task.kmer to give the raw sequence to the tokenizer")
        if self.type == "regression" and self.label_words:
            raise ValueError("task.label_words applies to classification only; remove it for task.type: regression")
        if self.type == "regression" and self.label_names:
            raise ValueError("task.label_names applies to classification only; remove it for task.type: regression")
        if self.type == "regression" and self.reverse_complement == "on":
            raise ValueError("task.reverse_complement: on is supported for classification only; use auto or off for "
                             "task.type: regression")
        if self.type == "regression" and self.classifier != "lm_head":
            raise ValueError("task.classifier applies to classification only (regression always uses a linear "
                             "head); remove it for task.type: regression")
        return self


class SequenceTrainConfig(TrainConfig):
    """Optimisation of a sequence run. The default recipe plans 16 epochs capped at 1,800 optimiser steps (the
    training length follows from the data and the config, never from the clock), stops after 6 evaluations without
    a better validation score, and keeps the average of the 3 best evaluations' weights where that validates at
    least as well as they do (docs/genome/recipe.md; benchmarks/results/splice_recipes.md)."""

    epochs: float = Field(16.0, gt=0, description=(
        "Passes over the training split (fractions allowed); with reverse-complement augmentation one epoch covers "
        "both strands. `max_steps` caps it on larger tables."))
    max_steps: int = Field(1800, ge=0, description=(
        "Upper bound on optimiser steps (0 = none): the schedule is planned for min(epochs x steps per epoch, "
        "max_steps). 1,800 steps of 16 splice prompts (65 tokens) take about 14 min on a 2-core AVX2 CPU "
        "(benchmarks/results/shared_cpu.md); longer prompts take longer per step. A cap that leaves fewer than 2 "
        "epochs is warned about before training."))
    early_stopping_patience: int = Field(6, ge=0, description=(
        "Stop after this many consecutive evaluations without a better validation score (0 = never). 6, not "
        "fewer: the last epochs, at the decayed learning rate, often score best (patience 4 stopped a splice run "
        "0.01 below its 16-epoch result; benchmarks/results/splice_recipes.md)."))
    average_top_k: int = Field(3, ge=0, description=(
        "Average the weights of this many best validation evaluations at the end (only those within two binomial "
        "standard errors of the best accuracy), kept only if that validates at least as well as their mean score "
        "(`average_keep`), else the best single one (0 or 1 = off)."))
    pretrain_steps: int = Field(0, ge=0, description=(
        "Task-adaptive pretraining: this many causal-LM steps (one token per base, the loss over the A/C/G/T rows) "
        "on the training split's sequences and the source's unlabelled rows (NULL/empty label: read them with "
        "source.nulls: drop), before the supervised phase; validation and test rows never take part (0 = off). "
        "Needs task.spaced: true and task.kmer: 1."))
    label_fraction: float = Field(1.0, gt=0, le=1, description=(
        "Train on this share of the training split's labels, a subset stratified by label (regression: target "
        "quantile) and seeded by train.seed; the other training rows become unlabelled rows for pretrain_steps. "
        "The baselines fit the same labelled rows. 1 = every label (learning curves, benchmarks/genome_lm.py)."))


@register_schema("classification", "regression")
class RunConfig(RunBase):
    """One sequence run (classification or regression): connect -> split -> train -> evaluate -> save.

    The field defaults are the default recipe for a new sequence task (docs/genome/recipe.md).
    """

    model: SequenceModelConfig = Field(default_factory=SequenceModelConfig)
    lora: SequenceLoRAConfig = Field(default_factory=SequenceLoRAConfig)
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    train: SequenceTrainConfig = Field(default_factory=SequenceTrainConfig)
    published: PublishedConfig | None = None
    validation_source: SourceConfig | None = Field(None, description=(
        "A separate source of validation rows (same columns as `source`); the main source then gives no "
        "validation rows."))
    test_source: SourceConfig | None = Field(None, description=(
        "A separate source of test rows, e.g. a benchmark's independent test file (same columns as `source`); the "
        "main source then gives no test rows and test_fraction is unused."))

    @model_validator(mode="after")
    def _pretrain_phase(self):
        if self.train.pretrain_steps and (not self.task.spaced or self.task.kmer != 1):
            raise ValueError("train.pretrain_steps needs one token per base: set task.spaced: true and task.kmer: 1")
        return self

    @model_validator(mode="after")
    def _splits_fit(self):
        if self.data.val_fraction + self.data.test_fraction >= 0.8:
            raise ValueError("data.val_fraction + data.test_fraction must leave at least 20% for training")
        for part in ("test", "validation"):
            if getattr(self, f"{part}_source") is not None and getattr(self.data, f"{part}_groups"):
                raise ValueError(f"{part}_source and data.{part}_groups both give the {part} rows; keep one")
        return self
