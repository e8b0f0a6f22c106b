"""Behaviour lock: the tiny-model recipe of every task type gives the recorded metrics and adapter checksum.

Recorded before the package was reorganised into subpackages (issue 10), and kept passing after the move: the
same config must give the same adapter bit for bit on the same software and CPU. The fixture records the
environment it was measured in (torch version, training backend, CPU capability); elsewhere float summation
order may differ, so the checksums are compared only where that environment matches and the metrics within a
tolerance everywhere.

Re-record (only for an intended change of behaviour, with the reason in the commit)::

    WORKBENCH_RECORD_GOLDEN=1 .venv/bin/python -m pytest tests/integration/test_golden_recipes.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXPECTED_BACKEND, tiny_run_config, tiny_sft_config

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "golden_recipes.json"
RECORD = os.environ.get("WORKBENCH_RECORD_GOLDEN") == "1"


def _sha(path: Path) -> str:
    """sha256 of a file; of a safetensors file's tensors and metadata in sorted order (the format writes its
    metadata mapping in no fixed order)."""
    if path.suffix != ".safetensors":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    import torch
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), framework="pt") as handle:
        digest.update(json.dumps(handle.metadata() or {}, sort_keys=True).encode())
        for name in sorted(handle.keys()):
            tensor = handle.get_tensor(name)
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _environment() -> dict:
    """What the float results depend on: torch, the backend, the kernels' ISA and the CPU model (two AVX512
    machines of different vendors were seen to differ in the 8th digit of a loss)."""
    import platform

    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return {"torch": torch.__version__, "backend": EXPECTED_BACKEND,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": model,
            "cpu_bf16": sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "avx512_fp16"))}


def _run(kind: str, splice_db, tiny_model_dir, tiny_chat_model_dir, out: Path):
    from workbench import setup, validate_config

    if kind == "classification":
        raw = tiny_run_config(splice_db, tiny_model_dir, out, epochs=0.5, threads=1, eval_every=11)
    elif kind == "regression":
        from workbench.data.samples import write_gc_csv

        csv = out / "gc.csv"
        write_gc_csv(csv)
        raw = tiny_run_config(splice_db, tiny_model_dir, out, epochs=1.0, threads=1, eval_every=5)
        raw.update(name="tiny-gc", source={"kind": "files", "path": str(csv), "limit": 600},
                   columns={"sequence": "sequence", "label": "gc_content"}, task={"type": "regression"})
    else:
        raw = tiny_sft_config(tiny_chat_model_dir, out, epochs=2, threads=1)
    return setup(validate_config(raw), progress=False).run_dir


def _observed(kind: str, run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    training = metrics["training"]
    files = ["adapter/adapter_model.safetensors"] + {"classification": ["predictions.csv"],
                                                      "regression": ["regression_head.safetensors", "predictions.csv"],
                                                      "sft": ["samples.jsonl"]}[kind]
    if kind == "sft":
        scores = {"tuned_test_loss": metrics["tuned"]["test"]["loss"],
                  "base_test_loss": metrics["base"]["test"]["loss"],
                  "tuned_exact_match": metrics["tuned"]["exact_match"]["exact_match"]}
    else:
        scores = {k: v for k, v in metrics["test"].items() if isinstance(v, float)}
    return {"scores": scores, "loss_history": training["loss_history"], "val_history": training["val_history"],
            "best_step": training["best_step"], "steps": training["steps"],
            "sha256": {f: _sha(run_dir / f) for f in files}}


@pytest.mark.parametrize("kind", ["classification", "regression", "sft"])
def test_tiny_recipe_matches_the_recorded_run(kind, splice_db, tiny_model_dir, tiny_chat_model_dir, tmp_path):
    got = _observed(kind, _run(kind, splice_db, tiny_model_dir, tiny_chat_model_dir, tmp_path))
    recorded = json.loads(FIXTURE.read_text()) if FIXTURE.is_file() else {}
    if RECORD:
        recorded.setdefault("environment", _environment())
        recorded[kind] = got
        FIXTURE.write_text(json.dumps(recorded, indent=1) + "\n")
        pytest.skip(f"recorded {kind} into {FIXTURE}")
    want = recorded[kind]
    assert got["steps"] == want["steps"] and got["best_step"] == want["best_step"]
    assert got["scores"] == pytest.approx(want["scores"], abs=0.02)
    assert [s for s, _ in got["val_history"]] == [s for s, _ in want["val_history"]]
    if recorded["environment"] != _environment():
        pytest.skip(f"checksums were recorded under {recorded['environment']}, this is {_environment()}: float "
                    "summation order may differ, so only the metrics above were compared")
    assert got["loss_history"] == want["loss_history"]
    assert got["val_history"] == want["val_history"]
    assert got["scores"] == want["scores"]
    assert got["sha256"] == want["sha256"]
