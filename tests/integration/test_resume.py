"""`workbench run --resume` after a SIGKILL gives the adapter of an uninterrupted run with the same seed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.conftest import REPO, tiny_run_config
from workbench import setup, validate_config
from workbench.training.checkpoints import list_checkpoints

pytestmark = pytest.mark.integration


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.cli", *args]


def test_sigkill_then_resume_matches_uninterrupted_run(splice_db, tiny_model_dir, tmp_path):
    raw = tiny_run_config(splice_db, tiny_model_dir, tmp_path / "killed", epochs=2.0, save_every=3)
    raw["source"]["sample"] = 400  # a seeded 400-row subset of every class
    raw["lora"]["lora_dropout"] = 0.1  # dropout draws from the torch RNG, so the resume must restore it
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    checkpoints = tmp_path / "killed" / "tiny.partial" / "checkpoints"
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(_cli("run", str(cfg)), cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list_checkpoints(checkpoints) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no-op if it already exited (then the asserts below say why)
    proc.wait()
    log.close()
    killed_at = list_checkpoints(checkpoints)
    assert killed_at, (tmp_path / "killed.log").read_text()[-3000:]
    assert not (tmp_path / "killed" / "tiny").exists(), "the run finished before it could be killed"

    done = subprocess.run(_cli("run", str(cfg), "--resume"), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    resumed_dir = tmp_path / "killed" / "tiny"
    assert not (tmp_path / "killed" / "tiny.partial").exists()  # checkpoints go once the run is complete
    training = json.loads((resumed_dir / "metrics.json").read_text())["training"]
    assert training["resumed_from_step"] >= 3 and training["steps"] == training["planned_steps"]

    raw["output_dir"], raw["train"]["save_every"] = str(tmp_path / "straight"), 0
    straight = setup(validate_config(raw), progress=False)
    ref = load_file(str(straight.run_dir / "adapter" / "adapter_model.safetensors"))
    got = load_file(str(resumed_dir / "adapter" / "adapter_model.safetensors"))
    assert ref.keys() == got.keys()
    worst = max((ref[k] - got[k]).abs().max().item() for k in ref)
    # The resumed process replays the same float32 CPU kernels on the same batches with the restored
    # optimiser, scheduler and RNG states, so the weights are expected to be bit-identical (worst == 0).
    # 1e-6 absolute allows only for a reduction-order difference between processes; one AdamW update
    # at this learning rate moves a weight by ~3e-3, so a missed or repeated step could not hide in it.
    assert worst <= 1e-6, f"max |resumed - uninterrupted| = {worst}"
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=1e-6)
    assert json.loads((resumed_dir / "metrics.json").read_text())["test"]["accuracy"] == straight.metrics["accuracy"]
