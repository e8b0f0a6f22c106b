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


PACKED_BASE = "base"  # a registered version's copy of its base model's weights (workbench.registry.pyfunc)
PACKED_BASE_INFO = "workbench_base.json"


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
    def load(cls, run_dir: str | Path, precision: str = "auto", merge: bool | None = None) -> "Predictor":
        """Loads a run directory, or an ``adapter`` or ``merged`` export of one (see :mod:`workbench.export`).

        A run directory or adapter export loads the base model (:func:`base_weights`: the copy packed beside it in
        a registered version, else the spec recorded in ``task.json``; either must have the recorded sha256) and
        attaches the adapter; a merged export loads its own weights (no PEFT) in float32.

        Args:
            run_dir: The run directory or export directory.
            precision: ``auto``, ``fp32`` or ``bf16`` (see ``TrainConfig.precision``).
            merge: Fold the LoRA update into the base weights in place (PEFT ``merge_adapter``): the same function up
                to float32 rounding, without the adapter's extra matrix products. Default (None): merge when scoring
                in float32 only; under bfloat16 autocast the merged weight ``W + s·BA`` would be rounded to 8 bits
                of mantissa, which swallows part of a small LoRA update (measured: mutagenesis deltas moved by
                1.3e-3 on a 200-nt sequence whose largest delta was 0.009), so the adapter stays separate there.
                ``workbench export`` loads unmerged, to check its exports against the adapter itself.

        Raises:
            RunDirError: If files are missing, the directory is a GGUF export, or the base model is missing on this
                machine or its sha256 differs.
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

            tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
            model = AutoModelForCausalLM.from_pretrained(base_weights(run_dir, task), dtype=torch.float32)
            truncate_layers(model, task.get("num_layers", 0))  # the adapter was trained on this many layers
            model = PeftModel.from_pretrained(model, run_dir / "adapter")
            if merge or (merge is None and resolve_precision(precision) is None):
                model.merge_adapter()
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
        # longest first, so that each batch holds sequences of about one length (little padding); then back in order
        order = sorted(range(len(clean)), key=lambda i: -len(clean[i]))
        ranked = [clean[i] for i in order]
        prompts = [task_prompt(s, self.task) for s in ranked]
        if self.task_type == "regression":
            scaler = TargetScaler(**self.task["scaler"])
            values = scaler.invert(predict_standardised(self.scorer, self.tokenizer, prompts, batch_size)).tolist()
            out = [ValuePrediction(s, float(v), self.target) for s, v in zip(ranked, values)]
        else:
            reverse = None
            if self.task.get("reverse_complement"):  # trained strand-symmetric: average both orientations
                reverse = [task_prompt(reverse_complement(s), self.task) for s in ranked]
            proba = predict_proba(self.scorer, self.tokenizer, prompts, batch_size=batch_size, reverse_prompts=reverse)
            out = [Prediction(s, self.labels[int(p.argmax())], {y: float(v) for y, v in zip(self.labels, p)})
                   for s, p in zip(ranked, proba)]
        restored: list = [None] * len(out)
        for rank, i in enumerate(order):
            restored[i] = out[rank]
        return restored


def base_weights(run_dir: Path, task: dict) -> str:
    """The directory of the base model weights a run's adapter attaches to.

    A registered version carries its base in ``base/`` (written by :mod:`workbench.registry.pyfunc`: only the
    ``num_layers`` decoder layers the adapter was trained on, with ``workbench_base.json`` naming the original's
    sha256 and each file's sha256); that copy is used when it matches the run. Otherwise the spec recorded in
    ``task.json`` is resolved on this machine (:func:`~workbench.models.base_model.resolve_base_model`).

    Raises:
        RunDirError: The packed copy is damaged, or the base model is missing here, or its sha256 is not the one
            the adapter was trained on; the message says what to install or use instead.
    """
    from ..models.base_model import BaseModelError, sha256_file

    recorded = task["base_model"]
    packed = run_dir / PACKED_BASE
    info_file = packed / PACKED_BASE_INFO
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("sha256") == recorded["sha256"]:
            for name, digest in info.get("files", {}).items():
                if not (packed / name).is_file() or sha256_file(packed / name) != digest:
                    raise RunDirError(f"{packed / name} is missing or damaged (its sha256 is not the one recorded in "
                                      f"{info_file}). Download the registered version again.")
            return str(packed)
    try:
        base = resolve_base_model(recorded["spec"])
    except BaseModelError as exc:
        raise RunDirError(
            f"this run's base model {recorded['spec']!r} (sha256 {recorded['sha256'][:12]}…) is missing on this "
            f"machine: {exc} Install that base model here, or score the registered version instead "
            "(`workbench predict NAME@champion`, `mlflow.pyfunc.load_model('models:/NAME@champion')`): it carries "
            "its base model.") from None
    if base.sha256 != recorded["sha256"]:
        raise RunDirError(
            f"base model {recorded['spec']!r} now has sha256 {base.sha256[:12]}…, but the adapter was trained "
            f"on {recorded['sha256'][:12]}…. Install the original base model or retrain.")
    return base.path


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
