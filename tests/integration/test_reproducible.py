"""Same data, same config, same seed, same machine: the same model, however busy the machine is (issue 30).

The step plan comes from the data and the config (epochs, ``max_steps``), never from the clock, so a run trained
beside a competing busy process gives the same adapter bit for bit, the same metrics and the same planned steps as
one trained on a quiet machine. A model trained on shuffled labels is flagged as having learnt nothing: in the CLI,
on the model card's first line, in ``metrics.json``, and on its registered version.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import tiny_run_config
from tests.integration.test_golden_recipes import _sha

pytestmark = pytest.mark.integration


@contextmanager
def busy_process():
    """One competing process spinning on a core for the duration (the issue's ``while True: pass``)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _train(db: Path, model_dir: Path, out: Path, **train):
    from workbench import setup, validate_config

    # the default recipe's moving parts: evaluations, early stopping, checkpoint averaging; two torch threads
    raw = tiny_run_config(db, model_dir, out, **{"epochs": 1.0, "threads": 2, "eval_every": 10,
                                                  "early_stopping_patience": 3, "average_top_k": 3, **train})
    raw["name"] = "repro"
    return setup(validate_config(raw), progress=False)


def test_a_busy_machine_gives_the_same_model_bit_for_bit(splice_db, tiny_model_dir, tmp_path):
    quiet = _train(splice_db, tiny_model_dir, tmp_path / "quiet")
    with busy_process():
        busy = _train(splice_db, tiny_model_dir, tmp_path / "busy")
    adapter = "adapter/adapter_model.safetensors"
    assert _sha(quiet.run_dir / adapter) == _sha(busy.run_dir / adapter)
    q, b = (json.loads((r.run_dir / "metrics.json").read_text()) for r in (quiet, busy))
    untimed = lambda baselines: {k: {m: v for m, v in r.items() if m != "seconds"} for k, r in baselines.items()}  # noqa: E731
    assert q["test"] == b["test"] and untimed(q["baselines"]) == untimed(b["baselines"])
    for key in ("planned_steps", "steps", "val_history", "loss_history", "best_step", "averaged_steps",
                "learning_check"):
        assert q["training"][key] == b["training"][key], key
    assert q["training"]["planned_steps"] == 66 and not q["training"]["time_capped"]  # ceil(2,092 / 32) x 1 epoch
    assert q["training"]["estimate"]["steps"] == 66 and "on this machine" in q["training"]["estimate"]["text"]


def _shuffled_db(db: Path, out: Path) -> Path:
    """A copy of the splice table whose labels are permuted (seeded): nothing left to learn."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, Sequence, Class FROM splice ORDER BY id").fetchall()
    labels = [r[2] for r in rows]
    random.Random(0).shuffle(labels)
    with sqlite3.connect(out) as conn:
        conn.execute("CREATE TABLE splice (id INTEGER PRIMARY KEY, Sequence TEXT, Class TEXT)")
        conn.executemany("INSERT INTO splice VALUES (?, ?, ?)", [(r[0], r[1], y) for r, y in zip(rows, labels)])
    return out


def test_a_model_trained_on_shuffled_labels_says_it_learnt_nothing(splice_db, tiny_model_dir, tmp_path, monkeypatch):
    from workbench.cli import app
    from workbench.registry import get_version

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    db = _shuffled_db(splice_db, tmp_path / "shuffled.db")
    raw = tiny_run_config(db, tiny_model_dir, tmp_path / "runs", epochs=1.0, eval_every=22)
    raw.update(name="shuffled", registry={"track": True, "register_version": True})
    cfg = tmp_path / "shuffled.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    out = CliRunner().invoke(app, ["run", str(cfg)])
    assert out.exit_code == 0, out.output
    assert "warning: the model learnt nothing" in out.output
    assert "train.max_steps" in out.output and "check the labels" in out.output
    run_dir = tmp_path / "runs" / "shuffled"
    check = json.loads((run_dir / "metrics.json").read_text())["training"]["learning_check"]
    assert check["learnt"] is False and check["reasons"]
    assert (run_dir / "README.md").read_text().splitlines()[0].startswith(
        "> **Warning: this model learnt nothing.**")
    version = get_version("shuffled", "1")  # registered as asked, and marked (a re-tune would not register it)
    assert version.tags["learnt_nothing"] == "true"
