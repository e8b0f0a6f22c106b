"""A pretraining run as a base model: resolve ``model.base_model`` given as a pretraining run directory or a
registry reference (``genome-lm@champion``) to merged weights, merged once into the local model store.

The merge: the run's base model (which must still have the sha256 the run recorded), cut to the run's layers,
with its LoRA adapter merged (PEFT ``merge_and_unload``) and its trainable DNA rows added, saved as a Hugging Face
directory ``$WORKBENCH_HOME/models/<run name>-<sha12>``, where ``sha12`` starts the sha256 of the run's adapter, DNA
rows and base model: the same run resolves to the same directory, a retrained one to a new one. Each reuse checks the
merged weights against the sha256 recorded at merge time. ``workbench export RUN --format merged`` writes the same
merge anywhere; such a directory (with its ``workbench_pretrain.json``) is a base model too.

Every resolution carries the pretraining lineage (run, corpus fingerprint, tokens, bits per base) into
:attr:`workbench.models.base_model.BaseModel.pretraining`, hence onto the predictor's card and registry tags.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from .. import paths
from .base_types import BaseModel, BaseModelError, dir_sha256, sha256_file

LINEAGE_FILE = "workbench_pretrain.json"


def is_reference(spec: str) -> bool:
    """True for a registry reference ``NAME@REF`` (not an existing path)."""
    return "@" in spec and not Path(spec).expanduser().exists()


def is_pretrain_run(path: Path) -> bool:
    """True for a directory holding a pretraining run's ``task.json``."""
    task = Path(path) / "task.json"
    return task.is_file() and json.loads(task.read_text()).get("type") == "pretrain"


def lineage(run_dir: Path, reference: str | None = None) -> dict:
    """What a predictor records about the pretraining run it starts from."""
    task = json.loads((run_dir / "task.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics.get("test", {})
    return {"run": task.get("name", run_dir.name), "run_dir": str(run_dir.resolve()), "reference": reference,
            "corpus_fingerprint": task["corpus"]["fingerprint"], "corpus": task["corpus"]["location"],
            "tokens_seen": task.get("tokens_seen"), "training_bases": task["corpus"].get("training_bases"),
            "bits_per_base": test.get("bits_per_base"), "markov_bits_per_base": test.get("markov_bits_per_base"),
            "base_model": task["base_model"].get("name"), "base_model_sha256": task["base_model"].get("sha256")}


def resolve_pretrained(spec: str, resolve) -> BaseModel | None:
    """Resolves a pretraining run directory or ``NAME@REF`` to merged weights; None for any other spec.

    Args:
        spec: ``model.base_model``.
        resolve: :func:`workbench.models.base_model.resolve_base_model`, for the run's own base model.

    Raises:
        BaseModelError: The reference does not resolve, names a run that is not a pretraining run, the run's own
            base model changed, or the stored merge no longer has its recorded sha256 (each says what to do).
    """
    start = time.perf_counter()
    reference = spec if is_reference(spec) else None
    if reference:
        from ..registry.tracking import RegistryError
        from ..registry.versions import resolve_run_dir

        try:
            run_dir = resolve_run_dir(spec)
        except RegistryError as exc:
            raise BaseModelError(f"model.base_model {spec!r} does not resolve: {exc} Register the pretraining run "
                                 "(registry.register_version: true) or give its run directory.") from None
    else:
        run_dir = Path(spec).expanduser()
        if not (run_dir / "task.json").is_file():
            return None
    if not is_pretrain_run(run_dir):
        kind = json.loads((run_dir / "task.json").read_text()).get("type", "classification")
        raise BaseModelError(f"model.base_model {spec!r} is a {kind} run ({run_dir}), not a pretraining run: a "
                             "predictor starts from a base model, a pretraining run, or merged weights.")
    target, converted = merged_dir(run_dir, resolve)
    info = lineage(run_dir, reference)
    return BaseModel(f"{info['run']} (pretrained {info['base_model']})", str(target), str(run_dir.resolve()),
                     "pretrained-run", json.loads((target / LINEAGE_FILE).read_text())["weights_sha256"], converted,
                     time.perf_counter() - start, pretraining=info)


def source_sha(run_dir: Path) -> str:
    """sha256 naming a run's merge: its adapter, DNA rows, base model sha256 and layer count."""
    task = json.loads((run_dir / "task.json").read_text())
    digest = hashlib.sha256()
    for name in ("adapter/adapter_model.safetensors", task.get("dna_rows_file")):
        if name:
            digest.update(sha256_file(run_dir / name).encode())
    digest.update(f"{task['base_model']['sha256']}:{task.get('num_layers', 0)}".encode())
    return digest.hexdigest()


def merged_dir(run_dir: Path, resolve) -> tuple[Path, bool]:
    """``(directory, merged now?)`` of a run's merge in the local model store, merging it the first time.

    Raises:
        BaseModelError: The stored merge's weights no longer have the recorded sha256.
    """
    sha = source_sha(run_dir)
    name = json.loads((run_dir / "task.json").read_text()).get("name", run_dir.name)
    target = paths.models_dir() / f"{name}-{sha[:12]}"
    record = target / LINEAGE_FILE
    if record.is_file():
        recorded = json.loads(record.read_text())["weights_sha256"]
        now = dir_sha256(target)
        if now != recorded:
            raise BaseModelError(f"the merged weights in {target} have sha256 {now[:12]}…, not the {recorded[:12]}… "
                                 f"recorded when they were merged from {run_dir}: they were changed. Delete {target}; "
                                 "the next run merges them again from the pretraining run.")
        return target, False
    paths.build_dir_once(target, lambda tmp: merge_run(run_dir, tmp, resolve))
    return target, True


def merge_run(run_dir: Path, out: Path, resolve, dtype: str = "float32") -> dict:
    """Writes a pretraining run's merged weights (adapter merged, DNA rows added) and tokenizer into ``out``.

    Returns:
        The lineage written to ``out/workbench_pretrain.json`` (with ``weights_sha256``).

    Raises:
        BaseModelError: The run's base model now has another sha256 than the run recorded.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .dna_lm import add_rows
    from .lora import truncate_layers

    task = json.loads((run_dir / "task.json").read_text())
    base = _checked_base(run_dir, task, resolve)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    truncate_layers(model, task.get("num_layers", 0))
    model = PeftModel.from_pretrained(model, run_dir / "adapter").merge_and_unload()
    if task.get("dna_rows_file"):
        add_rows(model, run_dir / task["dna_rows_file"])
    model.config._name_or_path = task.get("name", run_dir.name)
    model.to(getattr(torch, dtype)).save_pretrained(out)
    AutoTokenizer.from_pretrained(run_dir / "tokenizer").save_pretrained(out)
    info = {**lineage(run_dir), "source_sha256": source_sha(run_dir), "weights_sha256": dir_sha256(out),
            "dtype": dtype}
    (out / LINEAGE_FILE).write_text(json.dumps(info, indent=2))
    return info


EXPORT_TOLERANCE = {"float16": 0.05, "bfloat16": 0.3, "float32": 1e-3}
"""Largest accepted difference in bits per base between a pretraining run and its merged export, per base: float16
rounding moves SmolLM2's logits by about 0.03 (the classification export's measurement), which moves log2 p of a
4-way softmax by at most 2 x 0.03 / ln 2 ~ 0.09 bits in the worst case; 0.05 holds with room on real windows."""


def load_run_lm(run_dir: Path, resolve, precision=None):
    """A pretraining run ready to score: its base model (checked by sha256), layers, adapter and DNA rows.

    Returns:
        A :class:`workbench.models.dna_lm.DnaLM` in eval mode.

    Raises:
        BaseModelError: The run's base model now has another sha256.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .dna_lm import DnaLM, add_rows
    from .lora import truncate_layers

    run_dir = Path(run_dir)
    task = json.loads((run_dir / "task.json").read_text())
    base = _checked_base(run_dir, task, resolve)
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    truncate_layers(model, task.get("num_layers", 0))
    model = PeftModel.from_pretrained(model, run_dir / "adapter")
    if task.get("dna_rows_file"):
        add_rows(model.get_base_model(), run_dir / task["dna_rows_file"])
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "tokenizer")
    return DnaLM(model, tokenizer, task["prompt"], precision).eval()


def _checked_base(run_dir: Path, task: dict, resolve):
    recorded = task["base_model"]
    base = resolve(recorded["spec"])
    if base.sha256 != recorded["sha256"]:
        raise BaseModelError(f"the pretraining run {run_dir} was trained on {recorded['spec']!r} with sha256 "
                             f"{recorded['sha256'][:12]}…, which now has {base.sha256[:12]}…: install the original "
                             "base model, or pretrain again.")
    return base


def export_merged(run_dir: Path, out: Path, resolve, dtype: str = "float16") -> dict:
    """``workbench export RUN --format merged`` for a pretraining run: :func:`merge_run` into a staged ``out``,
    checked by scoring the run's test examples with the run and with the export (:data:`EXPORT_TOLERANCE`).

    Returns:
        The lineage, plus ``check``: ``n`` bases, ``max_abs_bits_diff``, ``tolerance``, ``passed``.

    Raises:
        ValueError: The export does not reproduce the run's bits per base within the tolerance.
    """
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..runs.run_dir import staged_run_dir
    from .dna_lm import DnaLM

    run_dir = Path(run_dir)
    task = json.loads((run_dir / "task.json").read_text())
    windows = [e["sequence"] for e in task.get("examples") or []] or ["ACGT" * 25]
    reference = load_run_lm(run_dir, resolve).base_bits(windows)
    with staged_run_dir(Path(out)) as stage:
        info = merge_run(run_dir, stage, resolve, dtype)
        merged = AutoModelForCausalLM.from_pretrained(stage, dtype="float32")
        exported = DnaLM(merged, AutoTokenizer.from_pretrained(stage), task["prompt"]).base_bits(windows)
        diff = float(np.nanmax(np.abs(reference - exported)))
        info["check"] = {"n": int((~np.isnan(reference)).sum()), "max_abs_bits_diff": diff,
                         "tolerance": EXPORT_TOLERANCE[dtype], "passed": diff <= EXPORT_TOLERANCE[dtype]}
        if not info["check"]["passed"]:
            raise ValueError(f"the merged export of {run_dir} scores bases up to {diff:.4f} bits away from the run "
                             f"(tolerance {EXPORT_TOLERANCE[dtype]}): not written. Try --dtype float32.")
        (stage / LINEAGE_FILE).write_text(json.dumps(info, indent=2))
    return info


def pretraining_of(directory: Path) -> dict | None:
    """The pretraining lineage of a merged-weights directory (its ``workbench_pretrain.json``), or None."""
    record = Path(directory) / LINEAGE_FILE
    return json.loads(record.read_text()) if record.is_file() else None
