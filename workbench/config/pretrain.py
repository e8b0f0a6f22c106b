"""Run config of continued pretraining on unlabelled DNA (``task.type: pretrain``): the corpus, how it is tiled
into windows and held out by blocks, the loss and what trains.

The corpus is any mix of FASTA files (``corpus.fasta``: plain, .gz or bgzip, streamed), windows around a VCF's
variants (``corpus.vcf``) and the sequence column of any ``data_connectors`` source read without a label
(``source`` + ``columns.sequence``: SQL, files, BED intervals over a reference ...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from data_connectors.config import SourceConfig

from .base import RunBase, TrainConfig, _Group, register_schema
from .sequence import SequenceLoRAConfig, SequenceModelConfig


class VcfCorpusConfig(_Group):
    """Windows around the variants of a VCF: each ALT allele between ``flank`` reference bases each side."""

    path: str = Field(description="Local VCF/BCF (plain or bgzip).")
    reference: str = Field(description="Local reference FASTA of the VCF's build (plain or bgzip; indexed once).")
    flank: int = Field(50, ge=0, le=10_000, description="Reference bases on each side of the allele.")


class CorpusConfig(_Group):
    """Genome-scale files of the corpus (streamed and tiled, never held in memory)."""

    fasta: list[str] = Field(default_factory=list, description=(
        "FASTA files or globs (plain, .gz or bgzip): genomes, assemblies, amplicons. Each record is tiled into "
        "windows; soft-masked repeats follow task.repeats."))
    vcf: VcfCorpusConfig | None = Field(None, description="Windows around a VCF's variants.")


class PretrainColumnsConfig(_Group):
    """The source column holding the sequences (no label is read)."""

    sequence: str = Field("sequence", description="Column with the DNA sequence.")


class PretrainDataConfig(_Group):
    """Held-out blocks: whole contiguous stretches of each record, never overlapping a training window."""

    block: int = Field(20_000, gt=0, description=(
        "Length of the contiguous blocks (nt) that go whole to the training, validation or test split (by a seeded "
        "hash of record and block). A connector row or a variant window goes whole to one split."))
    val_fraction: float = Field(0.05, ge=0, lt=0.5, description="Share of blocks held out for validation.")
    test_fraction: float = Field(0.05, gt=0, lt=0.5, description="Share of blocks held out for the test.")
    seed: int = Field(0, description="Seed of the block assignment.")


class PretrainTaskConfig(_Group):
    """Windows, filters, the loss and the trainable parts."""

    type: Literal["pretrain"] = Field("pretrain", description="Continued pretraining on unlabelled DNA.")
    window: int = Field(100, gt=0, le=100_000, description=(
        "Window length in nt; one token per base, so the prompt is about window + 3 tokens (must fit the base "
        "model's context)."))
    stride: int = Field(100, gt=0, description="Distance between training window starts (held-out: = window).")
    min_length: int = Field(20, gt=0, description="A record shorter than a window is one window if this long.")
    strands: Literal["forward", "both"] = Field("both", description=(
        "`both`: every training window is also read reverse-complemented (the other strand of the same DNA); the "
        "Markov baseline counts both too. Held-out bits per base are scored on the forward strand."))
    max_n_fraction: float = Field(0.05, ge=0, le=1, description=(
        "Drop windows with more than this share of N (ambiguity codes count as N; N is never a target)."))
    repeats: Literal["keep", "drop"] = Field("keep", description=(
        "Soft-masked (lower-case) bases: `keep` upper-cases them; `drop` drops every window holding one."))
    prompt: str = Field("DNA: {sequence}", description=(
        "Prompt template, ending in {sequence}; the same 'DNA: ' prefix the sequence tasks use."))
    loss: Literal["dna", "full"] = Field("dna", description=(
        "`dna`: cross-entropy over the A/C/G/T LM-head rows only (the classifier's restricted head; cheap). "
        "`full`: over the whole vocabulary (SmolLM2: 49,152 rows per base). Bits per base use the 4 rows either way."))
    train_dna_rows: bool = Field(False, description=(
        "Also train the A/C/G/T/N rows of the input embeddings and LM head (Unsloth's continued-pretraining "
        "recipe), at dna_rows_lr_ratio x train.learning_rate; merged into the weights on export."))
    dna_rows_lr_ratio: float = Field(0.1, gt=0, le=1, description="Learning rate of the DNA rows / the adapter's.")
    markov_order: int = Field(5, ge=0, le=10, description="Order k of the Markov-chain baseline (add-one smoothing).")
    max_eval_windows: int = Field(1000, gt=0, description=(
        "Held-out windows scored per validation pass and in the test (evenly spaced over the split when it has more)."))

    @model_validator(mode="after")
    def _prompt(self):
        if not self.prompt.endswith("{sequence}"):
            raise ValueError("task.prompt must end with {sequence} for pretraining (the bases are what is predicted)")
        return self


class PretrainTrainConfig(TrainConfig):
    """Optimisation of a pretraining run: one pass over the training windows at most, validated every 250 steps."""

    epochs: float = Field(1.0, gt=0, description="Passes over the training windows (both strands count as one).")
    eval_every: int = Field(250, ge=0, description="Validation bits per base every this many steps (0 = per epoch).")


@register_schema("pretrain")
class PretrainConfig(RunBase):
    """One continued-pretraining run: corpus -> windows -> LoRA causal LM -> bits per base -> run directory."""

    source: SourceConfig | None = Field(None, description=(
        "Any data_connectors source whose `columns.sequence` holds unlabelled DNA (SQL, files, BED intervals ...)."))
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    columns: PretrainColumnsConfig = Field(default_factory=PretrainColumnsConfig)
    model: SequenceModelConfig = Field(default_factory=SequenceModelConfig)
    lora: SequenceLoRAConfig = Field(default_factory=SequenceLoRAConfig)
    data: PretrainDataConfig = Field(default_factory=PretrainDataConfig)
    task: PretrainTaskConfig = Field(default_factory=PretrainTaskConfig)
    train: PretrainTrainConfig = Field(default_factory=PretrainTrainConfig)

    @model_validator(mode="after")
    def _some_corpus(self):
        if self.source is None and not self.corpus.fasta and self.corpus.vcf is None:
            raise ValueError("a pretraining run needs a corpus: corpus.fasta, corpus.vcf and/or source")
        return self
