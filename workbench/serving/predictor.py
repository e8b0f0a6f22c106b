"""Load a finished run directory (or its adapter/merged export) and predict classes (or values, for regression
runs) for new DNA sequences.

Run as::

    workbench predict RUN_DIR --sequence ACGT...
    workbench predict RUN_DIR --fasta sequences.fa
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.sequences import check_sequence, task_prompt
from ..data.strand import reverse_complement
from ..models.backends import resolve_precision
from ..models.base_model import resolve_base_model
from ..models.heads import LabelScorer, predict_proba
from ..models.lora import truncate_layers
from ..models.regression_head import RegressionScorer, TargetScaler, predict_standardised
from ..runs.run_dir import missing_files


class RunDirError(ValueError):
    """Raised when a run directory is incomplete or its base model does not match."""


@dataclass
class Prediction:
    """One prediction.

    Attributes:
        sequence: The normalised input sequence.
        label: The most probable class.
        probabilities: Class -> probability (sums to 1).
    """

    sequence: str
    label: str
    probabilities: dict[str, float]

    def as_dict(self, rid: str) -> dict:
        """``{"id", "label", "probabilities"}`` for ``workbench predict --json``."""
        return {"id": rid, "label": self.label, "probabilities": self.probabilities}

    def cells(self) -> list[str]:
        """The table cells after the id: the label and each class probability."""
        return [self.label, "  ".join(f"{k}={v:.3f}" for k, v in self.probabilities.items())]


@dataclass
class ValuePrediction:
    """One regression prediction.

    Attributes:
        sequence: The normalised input sequence.
        value: The predicted target, in the units of the training data's label column.
    """

    sequence: str
    value: float
    target: str | None = None

    def as_dict(self, rid: str) -> dict:
        """``{"id", "value", "target"}`` for ``workbench predict --json``."""
        return {"id": rid, "value": self.value, "target": self.target}

    def cells(self) -> list[str]:
        """The table cell after the id: the value."""
        return [f"{self.value:.6g}"]


class Predictor:
    """A fine-tuned adapter on its base model, ready to score sequences.

    Use :meth:`load`; then :meth:`predict`.
    """

    def __init__(self, run_dir: Path, task: dict, scorer, tokenizer, card: str):
        self.run_dir = run_dir
        self.task = task
        self.task_type: str = task.get("type", "classification")
        self.labels: list[str] = task.get("labels", [])
        self.target: str | None = task.get("target")
        self.scorer = scorer
        self.tokenizer = tokenizer
        self.model_card = card

    @classmethod
    def load(cls, run_dir: str | Path, precision: str = "auto") -> "Predictor":
        """Loads a run directory, or an ``adapter`` or ``merged`` export of one (see :mod:`workbench.export`).

        A run directory or adapter export loads the base model from the spec recorded in ``task.json``,
        which must have the recorded sha256, and attaches the adapter; a merged export loads its own
        weights (no PEFT) in float32.

        Args:
            run_dir: The run directory or export directory.
            precision: ``auto``, ``fp32`` or ``bf16`` (see ``TrainConfig.precision``).

        Raises:
            RunDirError: If files are missing, the directory is a GGUF export, or the base model's sha256 differs.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        run_dir = Path(run_dir)
        kind = _layout(run_dir)
        task = json.loads((run_dir / "task.json").read_text())
        if task.get("type") == "sft":
            raise RunDirError(f"{run_dir} is a chat SFT run; answer prompts with `workbench chat` or serve it with "
                              "`workbench serve` (workbench.serving.chat.ChatRun).")
        if task.get("type") == "pretrain":
            raise RunDirError(f"{run_dir} is a pretraining run (a DNA language model, no classes to predict): serve "
                              "its surprise track with `workbench serve`, or start a predictor from it with "
                              "model.base_model: RUN_DIR.")
        if kind == "merged":
            tokenizer = AutoTokenizer.from_pretrained(run_dir)
            model = AutoModelForCausalLM.from_pretrained(run_dir, dtype=torch.float32)
        else:
            from peft import PeftModel

            recorded = task["base_model"]
            base = resolve_base_model(recorded["spec"])
            if base.sha256 != recorded["sha256"]:
                raise RunDirError(
                    f"base model {recorded['spec']!r} now has sha256 {base.sha256[:12]}…, but the adapter was trained "
                    f"on {recorded['sha256'][:12]}…. Install the original base model or retrain.")
            tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
            model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
            truncate_layers(model, task.get("num_layers", 0))  # the adapter was trained on this many layers
            model = PeftModel.from_pretrained(model, run_dir / "adapter")
        model.eval()
        if task.get("type") == "regression":
            scorer = RegressionScorer(model, resolve_precision(precision), pooling=task.get("pooling", "last"))
            scorer.load_head(run_dir / task["head_file"])
        else:
            scorer = LabelScorer(model, task["label_token_ids"], resolve_precision(precision),
                                 pooling=task.get("pooling", "last"), classifier=task.get("classifier", "lm_head"))
            if scorer.classifier == "linear":
                scorer.load_head(run_dir / task["head_file"])
        scorer.eval()
        scorer.to("cuda" if torch.cuda.is_available() else "cpu")
        card = run_dir / "README.md"
        return cls(run_dir, task, scorer, tokenizer, card.read_text() if card.is_file() else "")

    def predict(self, sequences: list[str], batch_size: int = 64) -> list[Prediction] | list[ValuePrediction]:
        """Predicts a class (classification run) or a value (regression run) for each sequence.

        Args:
            sequences: DNA sequences (A, C, G, T and IUPAC codes; whitespace ignored).
            batch_size: Sequences per forward pass.

        Returns:
            One :class:`Prediction` (classification) or :class:`ValuePrediction` (regression) per input, in order.

        Raises:
            workbench.data.sequences.SequenceError: If a sequence is empty, too long or has invalid letters
                (the message names the sequence's index when several are given).
        """
        clean = []
        for i, seq in enumerate(sequences):
            try:
                clean.append(check_sequence(seq, self.task["max_length"]))
            except ValueError as exc:
                prefix = f"sequence {i + 1}: " if len(sequences) > 1 else ""
                raise type(exc)(prefix + str(exc)) from None
        prompts = [task_prompt(s, self.task) for s in clean]
        if self.task_type == "regression":
            scaler = TargetScaler(**self.task["scaler"])
            values = scaler.invert(predict_standardised(self.scorer, self.tokenizer, prompts, batch_size)).tolist()
            return [ValuePrediction(s, float(v), self.target) for s, v in zip(clean, values)]
        reverse = None
        if self.task.get("reverse_complement"):  # trained strand-symmetric: average both orientations
            reverse = [task_prompt(reverse_complement(s), self.task) for s in clean]
        proba = predict_proba(self.scorer, self.tokenizer, prompts, batch_size=batch_size, reverse_prompts=reverse)
        return [Prediction(s, self.labels[int(p.argmax())], {y: float(v) for y, v in zip(self.labels, p)})
                for s, p in zip(clean, proba)]


def _layout(path: Path) -> str:
    """Returns ``"run"``, ``"adapter"`` (adapter export) or ``"merged"`` (merged export) for a directory.

    Raises:
        RunDirError: If it is none of these (the message lists what a run directory lacks).
    """
    fmt = None
    if (path / "export.json").is_file():
        fmt = json.loads((path / "export.json").read_text()).get("format")
        if fmt == "gguf":
            raise RunDirError(f"{path} is a GGUF export, for llama.cpp-family runtimes; load the run directory or a "
                              "merged export instead.")
    if fmt == "merged" or (fmt is None and (path / "config.json").is_file() and (path / "task.json").is_file()):
        return "merged"
    if fmt == "adapter" and all((path / f).is_file() for f in ("adapter/adapter_config.json", "task.json")):
        return "adapter"
    missing = missing_files(path)
    if missing:
        raise RunDirError(f"{path} is not a complete run directory (missing {missing}). Re-run `workbench run`.")
    return "run"


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """Reads ``(id, sequence)`` records from a FASTA file with Biopython (CRLF line ends are fine).

    Raises:
        ValueError: If the file has no records.
    """
    from Bio import SeqIO

    with open(path, newline=None) as handle:
        records = [(r.id, str(r.seq)) for r in SeqIO.parse(handle, "fasta")]
    if not records:
        raise ValueError(f"{path} has no FASTA records (lines starting with '>').")
    return records
