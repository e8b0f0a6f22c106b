"""GPU path: the recipe trains on CUDA with bf16 and the predictor serves from CUDA (marker `gpu`)."""

import json

import pytest

from tests.conftest import tiny_run_config
from workbench import setup, validate_config
from workbench.serving.predictor import Predictor

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


def test_recipe_trains_on_cuda(splice_db, tiny_model_dir, tmp_path):
    import torch

    raw = tiny_run_config(splice_db, tiny_model_dir, tmp_path, epochs=0.5, precision="auto", backend="auto")
    run = setup(validate_config(raw), progress=False)
    training = json.loads((run.run_dir / "metrics.json").read_text())["training"]
    assert training["device"] == "cuda"
    assert training["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    predictor = Predictor.load(run.run_dir)
    assert predictor.scorer.label_ids.device.type == "cuda"
    assert predictor.predict(["ACGT" * 15])[0].label in ("EI", "IE", "N")


def test_qlora_trains_on_cuda_with_gradient_checkpointing(splice_db, tmp_path):
    """QLoRA (4-bit NF4 base, bf16 compute) on the bundled SmolLM2: trains, saves, reloads for prediction."""
    raw = tiny_run_config(splice_db, "smollm2-135m-instruct", tmp_path, epochs=0.2, precision="auto", backend="auto")
    raw["lora"].update(load_in_4bit=True, gradient_checkpointing=True, first_layer=20)
    raw["model"]["num_layers"] = 0  # the GPU profile: all 30 layers
    run = setup(validate_config(raw), progress=False)
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    assert metrics["training"]["device"] == "cuda"
    assert metrics["training"]["loss_history"][-1][1] < metrics["training"]["loss_history"][0][1]
    predictor = Predictor.load(run.run_dir)
    assert predictor.predict(["ACGT" * 15])[0].label in ("EI", "IE", "N")
