"""Export a run directory as an adapter, a merged model, or a GGUF file, and check each export.

Formats:

- ``adapter``: the LoRA adapter, tokenizer, ``task.json`` and model card, for PEFT users
  (``PeftModel.from_pretrained(base, DIR/adapter)``).
- ``merged``: base + LoRA merged with PEFT ``merge_and_unload`` and saved as a 16-bit safetensors
  Hugging Face directory that ``AutoModelForCausalLM.from_pretrained(DIR)`` loads without PEFT.
- ``gguf``: the merged weights as one GGUF file for llama.cpp-family runtimes, written by
  :mod:`workbench.export.gguf` (our converter over gguf-py's ``GGUFWriter``; llama architecture only).

Every export is loaded back (adapter and merged through :class:`~workbench.serving.predictor.Predictor`, the
GGUF through ``AutoModelForCausalLM.from_pretrained(DIR, gguf_file=...)`` and its own tokenizer) and
must reproduce the adapter's class probabilities on a fixed sample within :data:`TOLERANCE`; the
figures go into ``export.json`` beside the export. The export is staged and renamed into place only
when the check passes (an earlier export of the same place is kept with its timestamp).

Run as::

    workbench export RUN_DIR --format merged [--out DIR] [--dtype float16]
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.sequences import check_sequence, task_prompt
from ..models.base_model import resolve_base_model
from ..models.heads import LabelScorer, predict_proba
from ..runs.run_dir import staged_run_dir, write_json
from ..serving.predictor import Predictor
from ..tasks import get_task

FORMATS = ("adapter", "merged", "gguf")
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
# Largest accepted |p_export - p_adapter| per class. Softmax moves a probability by at most half the
# largest change of a logit (|dp_i| <= p_i(1 - p_i) * 2 max|dz| <= max|dz| / 2). Rounding every weight
# to float16 (relative error <= 2^-11) moved SmolLM2's logits by <= 0.03 (of ~30) in our measurement, so
# |dp| <= 0.015: tolerance 0.02 (measured on a trained run: 5e-4). bfloat16 rounds 8x coarser (2^-8):
# 0.16 (measured: 5e-3). float32 differs only in summation order (W + sBA merged vs. applied as
# x(W) + s(xA)B): 1e-4. The adapter export is a file copy and must be exact up to 1e-6.
TOLERANCE = {"float16": 0.02, "bfloat16": 0.16, "float32": 1e-4, "copy": 1e-6}
CONVERTER = "workbench.export.gguf (gguf-py GGUFWriter; llama.cpp convert_hf_to_gguf.py conventions)"


class ExportError(ValueError):
    """Raised when a run cannot be exported or its export does not reproduce the adapter."""


@dataclass
class ExportResult:
    """A finished export.

    Attributes:
        path: The export directory.
        format: ``adapter``, ``merged`` or ``gguf``.
        dtype: Weight dtype of a merged/GGUF export (``None`` for the adapter).
        bytes: Total size of the export's files, in bytes.
        check: ``n``, ``max_abs_prob_diff``, ``agreement`` (fraction of argmax matches), ``tolerance``, ``passed``.
        seconds: Wall time, in seconds.
    """

    path: Path
    format: str
    dtype: str | None
    bytes: int
    check: dict
    seconds: float


def check_sample(run_dir: Path, task: dict, sequences: list[str] | None = None, n: int = 24) -> list[str]:
    """The check sample: ``sequences`` if given, else task.json's examples then predictions.csv rows (``n`` at most)."""
    if sequences:
        return list(sequences)
    seqs = [e["sequence"] for e in task.get("examples") or []]
    csv = run_dir / "predictions.csv"
    if csv.is_file() and len(seqs) < n:
        import pandas as pd

        seqs += [s for s in pd.read_csv(csv, usecols=["sequence"], nrows=n)["sequence"] if s not in seqs]
    if not seqs:
        raise ExportError(f"{run_dir} has no examples in task.json and no predictions.csv: give check sequences.")
    return seqs[:n]


def compare(reference: np.ndarray, exported: np.ndarray, tolerance: float) -> dict:
    """Compares class probabilities ``(n, n_labels)`` of the adapter and an export.

    ``passed`` needs every |difference| <= ``tolerance``; an argmax that differs only where the adapter's
    top two probabilities are within ``2 * tolerance`` (a near tie that rounding may flip) is allowed.
    """
    diff = float(np.abs(reference - exported).max())
    agree = reference.argmax(1) == exported.argmax(1)
    top2 = np.sort(reference, axis=1)[:, -2:]
    ties_only = bool(np.all(agree | (top2[:, 1] - top2[:, 0] <= 2 * tolerance)))
    return {"n": int(len(reference)), "max_abs_prob_diff": diff, "agreement": float(agree.mean()),
            "tolerance": tolerance, "passed": bool(diff <= tolerance and ties_only)}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _copy_common(run_dir: Path, stage: Path) -> None:
    shutil.copy2(run_dir / "task.json", stage / "task.json")
    if (run_dir / "README.md").is_file():
        shutil.copy2(run_dir / "README.md", stage / "README.md")


def _reload_probs(stage: Path, prompts: list[str]) -> np.ndarray:
    """Loads an adapter or merged export with :class:`Predictor` (its own tokenizer) and scores ``prompts``."""
    loaded = Predictor.load(stage, precision="fp32", merge=False)
    return predict_proba(loaded.scorer, loaded.tokenizer, prompts).numpy()


def _gguf_probs(stage: Path, fname: str, task: dict, prompts: list[str], run_tokenizer) -> tuple[np.ndarray, bool]:
    """Loads the GGUF with transformers (model and tokenizer) and scores ``prompts``; also whether token ids match."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(stage, gguf_file=fname, dtype=torch.float32).eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(stage, gguf_file=fname)
    except Exception as exc:  # noqa: BLE001 - any failure means the tokenizer metadata is unusable
        raise ExportError(f"transformers cannot build a tokenizer from the exported GGUF: {exc}") from exc
    same = all(tokenizer(p, add_special_tokens=False).input_ids == run_tokenizer(p, add_special_tokens=False).input_ids
               for p in prompts)
    words = task["label_words"]
    first_ids = [tokenizer(" " + w, add_special_tokens=False).input_ids[0] for w in words]
    same = same and first_ids == task["label_token_ids"]
    scorer = LabelScorer(model, task["label_token_ids"], pooling=task.get("pooling", "last"))
    return predict_proba(scorer, tokenizer, prompts).numpy(), same


def export_run(run_dir: str | Path, fmt: str, out: str | Path | None = None, dtype: str = "float16",
               sequences: list[str] | None = None) -> ExportResult:
    """Exports a run directory and checks the export against the adapter.

    Args:
        run_dir: A complete run directory written by ``workbench run``.
        fmt: ``adapter``, ``merged`` or ``gguf``.
        out: Export directory; default ``RUN_DIR/exports/<fmt>``. An existing one is kept, renamed with its mtime.
        dtype: ``float16``, ``bfloat16`` or ``float32`` for merged/GGUF weights (ignored for ``adapter``).
        sequences: DNA sequences for the check; default task.json's examples plus predictions.csv rows (24 at most).

    Returns:
        An :class:`ExportResult`; ``export.json`` in the export holds the same figures.

    Raises:
        ExportError: Unknown format/dtype, missing run directory, or the export does not reproduce the adapter.
        workbench.export.gguf.GGUFExportError: The model or tokenizer cannot be written as GGUF.
        workbench.serving.predictor.RunDirError: The run directory is incomplete or its base model changed.
    """
    start = time.perf_counter()
    run_dir, task_class = _checked_request(run_dir, fmt, dtype)
    final = Path(out) if out else run_dir / "exports" / fmt
    if getattr(task_class, "export", None) is not None:  # a task with its own export (pretraining: merged weights)
        info = task_class.export(run_dir, fmt, final, dtype)
        return ExportResult(final, fmt, dtype, _size(final), info["check"], time.perf_counter() - start)
    predictor = Predictor.load(run_dir, precision="fp32", merge=False)
    task = predictor.task
    sample = check_sample(run_dir, task, sequences)
    prompts = [task_prompt(check_sequence(s, task["max_length"]), task) for s in sample]
    reference = predict_proba(predictor.scorer, predictor.tokenizer, prompts).numpy()
    info = {"format": fmt, "dtype": None if fmt == "adapter" else dtype, "run_dir": str(run_dir.resolve()),
            "base_model": task["base_model"], "labels": task["labels"]}
    with staged_run_dir(final) as stage:
        check = _write_export(stage, fmt, dtype, run_dir, predictor, prompts, reference, info)
        info["check"] = check
        info["seconds"] = time.perf_counter() - start
        write_json(stage / "export.json", info)
        if not check["passed"]:
            raise ExportError(
                f"the {fmt} export does not reproduce the adapter (max |dp| {check['max_abs_prob_diff']:.2e} vs "
                f"tolerance {check['tolerance']:g}, agreement {check['agreement']:.3f}"
                + ("" if check.get("tokenizer_ids_match", True) else ", tokenizer ids differ")
                + f"); nothing was written to {final}. Try --dtype float32.")
        size = _size(stage)
    from .. import audit

    audit.record("export", str(run_dir), format=fmt, dtype=info["dtype"], out=str(final), bytes=size,
                 max_abs_prob_diff=check.get("max_abs_prob_diff"))
    return ExportResult(final, fmt, info["dtype"], size, check, time.perf_counter() - start)


def _checked_request(run_dir: str | Path, fmt: str, dtype: str):
    """Checks the format, dtype and run directory; returns ``(Path(run_dir), the task class of its task.json)``.

    Raises:
        ExportError: Unknown format/dtype, missing run directory, or a task that refuses the export.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if dtype not in DTYPES:
        raise ExportError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"run directory {run_dir} does not exist; give a directory written by `workbench run`.")
    task_file = run_dir / "task.json"
    recorded_task = json.loads(task_file.read_text()) if task_file.is_file() else {}
    task_class = get_task(recorded_task.get("type", "classification"))
    refusal = task_class.export_refusal(recorded_task)
    if refusal:
        raise ExportError(f"{run_dir} cannot be exported: {refusal}")
    return run_dir, task_class


def _write_export(stage: Path, fmt: str, dtype: str, run_dir: Path, predictor, prompts: list[str],
                  reference: np.ndarray, info: dict) -> dict:
    """Writes the export into ``stage``, loads it back and compares it with the adapter (GGUF: :func:`_write_gguf`).

    Args:
        predictor: The run's adapter, loaded as a :class:`Predictor`.
        prompts: The check prompts.
        reference: The adapter's class probabilities on ``prompts``.
        info: The ``export.json`` contents so far.

    Returns:
        The check (see :func:`compare`).
    """
    if fmt == "adapter":
        shutil.copytree(run_dir / "adapter", stage / "adapter")
        shutil.copytree(run_dir / "tokenizer", stage / "tokenizer")
        _copy_common(run_dir, stage)
        write_json(stage / "export.json", info)
        exported = _reload_probs(stage, prompts)
        return compare(reference, exported, TOLERANCE["copy"])
    merged = predictor.scorer.model.merge_and_unload()
    if fmt != "merged":
        return _write_gguf(stage, merged, dtype, run_dir, predictor, prompts, reference, info)
    merged.to(DTYPES[dtype]).save_pretrained(stage)
    predictor.tokenizer.save_pretrained(stage)
    _copy_common(run_dir, stage)
    write_json(stage / "export.json", info)
    exported = _reload_probs(stage, prompts)
    return compare(reference, exported, TOLERANCE[dtype])


def _write_gguf(stage: Path, merged, dtype: str, run_dir: Path, predictor, prompts: list[str],
                reference: np.ndarray, info: dict) -> dict:
    """Writes the merged model as one GGUF file into ``stage``, loads it back and compares it with the adapter.

    Args:
        merged: The base model with the LoRA merged in.
        info: The ``export.json`` contents so far (gets ``converter`` and ``gguf``).

    Returns:
        The check (see :func:`compare`), with ``tokenizer_ids_match``.
    """
    from .gguf import write_llama_gguf

    task = predictor.task
    recorded = task["base_model"]
    source = None
    if recorded.get("source_kind") in ("embedded-gguf", "gguf"):
        source = resolve_base_model(recorded["spec"]).source
    fname = f"{run_dir.name}-{dtype}.gguf"
    info["converter"] = CONVERTER
    title = f"{run_dir.name} ({recorded['name']} + LoRA)"
    info["gguf"] = {"file": fname, **write_llama_gguf(
        merged, run_dir / "tokenizer", stage / fname, dtype, source, title)}
    _copy_common(run_dir, stage)
    exported, same_ids = _gguf_probs(stage, fname, task, prompts, predictor.tokenizer)
    check = {**compare(reference, exported, TOLERANCE[dtype]), "tokenizer_ids_match": same_ids}
    check["passed"] = check["passed"] and same_ids
    return check


def summary(result: ExportResult) -> str:
    """One line for the CLI: where, how big, and how the check went."""
    c = result.check
    if "max_abs_bits_diff" in c:  # a pretraining run: checked in bits per base
        return (f"{result.format} export ({result.dtype}) -> {result.path}  {result.bytes / 1e6:.1f} MB; check on "
                f"{c['n']} bases: max |bits difference| {c['max_abs_bits_diff']:.2e} (tolerance {c['tolerance']:g}), "
                f"{'passed' if c['passed'] else 'FAILED'}  ({result.seconds:.0f} s)")
    return (f"{result.format} export ({result.dtype or 'adapter weights'}) -> {result.path}  "
            f"{result.bytes / 1e6:.1f} MB; check on {c['n']} sequences: max |dp| {c['max_abs_prob_diff']:.2e} "
            f"(tolerance {c['tolerance']:g}), argmax agreement {c['agreement']:.3f}, "
            f"{'passed' if c['passed'] else 'FAILED'}  ({result.seconds:.0f} s)")


def result_dict(result: ExportResult) -> dict:
    """The result as a JSON-serialisable dict."""
    return {**asdict(result), "path": str(result.path)}
