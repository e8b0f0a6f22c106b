"""`workbench run --nproc 2`: two gloo processes on this CPU train the tiny random Llama to the same losses and
adapter as one process with the same global batch, write one run directory, and survive a kill -9 of a rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.conftest import REPO, tiny_run_config, tiny_sft_config
from workbench.training.checkpoints import list_checkpoints

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _config(splice_db, tiny_model_dir, out: Path, path: Path, **train) -> Path:
    raw = tiny_run_config(splice_db, tiny_model_dir, out, **{"epochs": 1.0, "backend": "peft", "threads": 1,
                                                              "eval_every": 5, **train})
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(cfg: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", "run", str(cfg), *args], cwd=cfg.parent, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_two_gloo_processes_match_one_process(splice_db, tiny_model_dir, tmp_path):
    _compare_one_and_two_processes(splice_db, tiny_model_dir, tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason=f"needs 2 CUDA GPUs for NCCL (found "
                    f"{torch.cuda.device_count()})")
def test_two_nccl_processes_match_one_process(splice_db, tiny_model_dir, tmp_path):
    _compare_one_and_two_processes(splice_db, tiny_model_dir, tmp_path)


def _compare_one_and_two_processes(splice_db, tiny_model_dir, tmp_path):
    single = _run(_config(splice_db, tiny_model_dir, tmp_path / "one", tmp_path / "one.yaml"))
    assert single.returncode == 0, single.stderr[-3000:]
    double = _run(_config(splice_db, tiny_model_dir, tmp_path / "two", tmp_path / "two.yaml"), "--nproc", "2")
    assert double.returncode == 0, double.stdout[-2000:] + double.stderr[-4000:]

    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["tiny"]  # one run directory, no partial left
    one, two = (json.loads((tmp_path / d / "tiny" / "metrics.json").read_text()) for d in ("one", "two"))
    t1, t2 = one["training"], two["training"]
    assert t2["world_size"] == 2 and t1["world_size"] == 1 and "data-parallel" in t2["backend_reason"]
    assert "× 2 processes (data-parallel)" in (tmp_path / "two" / "tiny" / "README.md").read_text()
    assert t1["steps"] == t2["steps"] > 10
    assert t1["tokens_seen"] == t2["tokens_seen"]  # every row of every batch trained exactly once across ranks
    (s1, l1), (s2, l2) = zip(*t1["loss_history"]), zip(*t2["loss_history"])
    assert s1 == s2
    torch.testing.assert_close(torch.tensor(l2), torch.tensor(l1), rtol=1e-4, atol=1e-5)
    assert [s for s, _ in t1["val_history"]] == [s for s, _ in t2["val_history"]]
    torch.testing.assert_close(torch.tensor([v for _, v in t2["val_history"]]),
                               torch.tensor([v for _, v in t1["val_history"]]), rtol=0, atol=1e-6)

    ref = load_file(str(tmp_path / "one" / "tiny" / "adapter" / "adapter_model.safetensors"))
    got = load_file(str(tmp_path / "two" / "tiny" / "adapter" / "adapter_model.safetensors"))
    assert ref.keys() == got.keys()
    worst = max((ref[k] - got[k]).abs().max().item() for k in ref)
    # One AdamW step at lr 3e-3 moves a weight by ~3e-3; the two runs differ only by the float32 rounding of
    # (mean of the batch) versus (sum of two weighted half-batch means), so they agree to far below one step.
    assert worst < 1e-4, f"max |2-process - 1-process| adapter difference {worst}"
    assert one["test"]["accuracy"] == pytest.approx(two["test"]["accuracy"], abs=0.01)


def test_chat_sft_weights_each_rank_by_its_assistant_tokens(tiny_chat_model_dir, tmp_path):
    """Chat SFT's loss is a mean over assistant tokens, which the two shards of a batch hold unequally; weighting
    each rank by its share of those tokens gives the loss and adapter of one process."""
    runs = {}
    for name, extra in (("one", ()), ("two", ("--nproc", "2"))):
        raw = tiny_sft_config(tiny_chat_model_dir, tmp_path / name, epochs=2, backend="peft")
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        done = _run(cfg, *extra)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        runs[name] = tmp_path / name / "tiny-sft"
    t1, t2 = (json.loads((runs[n] / "metrics.json").read_text())["training"] for n in ("one", "two"))
    assert t1["trained_tokens"] == t2["trained_tokens"] > 0
    torch.testing.assert_close(torch.tensor([v for _, v in t2["loss_history"]]),
                               torch.tensor([v for _, v in t1["loss_history"]]), rtol=1e-4, atol=1e-5)
    ref, got = (load_file(str(runs[n] / "adapter" / "adapter_model.safetensors")) for n in ("one", "two"))
    assert max((ref[k] - got[k]).abs().max().item() for k in ref) < 1e-4


def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [e.split(b"=", 1)[1] for e in env if e.startswith(b"RANK=")]
    return int(ranks[0]) if ranks else None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the worker processes")
def test_kill_9_of_one_rank_stops_the_others_and_the_run_resumes(splice_db, tiny_model_dir, tmp_path):
    cfg = _config(splice_db, tiny_model_dir, tmp_path / "out", tmp_path / "kill.yaml", epochs=3.0, save_every=4)
    checkpoints = tmp_path / "out" / "tiny.partial" / "checkpoints"
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "run", str(cfg), "--nproc", "2"], cwd=tmp_path,
                            env=_env(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list_checkpoints(checkpoints) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = {_rank_of(p): p for p in _descendants(proc.pid)}
    assert 1 in workers, (tmp_path / "killed.log").read_text()[-3000:]
    os.kill(workers[1], signal.SIGKILL)
    code = proc.wait(timeout=300)
    log.close()
    text = (tmp_path / "killed.log").read_text()
    assert code != 0, text[-3000:]
    assert "--nproc 2 --resume" in text and ("Signal 9" in text or "SIGKILL" in text), text[-3000:]
    assert not any(Path(f"/proc/{p}").exists() and _rank_of(p) is not None for p in workers.values())
    assert not (tmp_path / "out" / "tiny").exists()
    assert list_checkpoints(checkpoints), "the checkpoint written before the kill is kept"

    done = _run(cfg, "--nproc", "2", "--resume")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    training = json.loads((tmp_path / "out" / "tiny" / "metrics.json").read_text())["training"]
    assert training["resumed_from_step"] >= 4 and training["steps"] == training["planned_steps"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tiny"]
