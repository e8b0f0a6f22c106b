"""A ``kill -9`` in the middle of a re-tune's training leaves the champion untouched (it still loads and serves), the
lock it left is detected as stale and cleared, and the next re-tune completes, resuming from the last checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import guarded_subprocess_env
from tests.integration.retune_support import pg_table, retune_config, retune_home  # noqa: F401 (fixtures)
from workbench.registry import get_version, list_versions, resolve_run_dir
from workbench.retune import retune
from workbench.retune.lock import is_stale, lock_path, read_lock
from workbench.retune.run import retune_dir
from workbench.training.checkpoints import list_checkpoints

pytestmark = [pytest.mark.integration, pytest.mark.sql_server]
PROBE = "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"


def _cli(*args: str) -> list[str]:
    code = ("import sys, tests.netguard; tests.netguard.install(); from workbench.cli import main; "
            "sys.argv[0] = 'workbench'; main()")
    return [sys.executable, "-c", code, *args]


def test_kill_9_mid_training_keeps_the_champion_and_the_next_retune_resumes(pg_table, tiny_model_dir, retune_home,
                                                                            tmp_path):
    from gradio_client import Client

    from workbench.serving.demo import serve
    from workbench.serving.predictor import Predictor

    cfg = retune_config(tmp_path / "splice-pg.yaml", pg_table, tiny_model_dir)
    assert retune(cfg).champion == "1"
    champion_files = resolve_run_dir("splice-pg@champion")
    before = Predictor.load(champion_files).predict([PROBE])[0].probabilities

    pg_table.append(400)
    long = retune_config(tmp_path / "long.yaml", pg_table, tiny_model_dir, train={"epochs": 8.0},
                         retune={"save_every": 4})
    env = {**guarded_subprocess_env(tmp_path / "net.log"), "WORKBENCH_HOME": str(retune_home)}
    checkpoints = retune_dir("splice-pg") / "splice-pg.partial" / "checkpoints"
    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(_cli("retune", str(long)), env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list_checkpoints(checkpoints) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # reaped, so its pid is really gone
    log.close()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-3000:]
    killed_at = [p.name for p in list_checkpoints(checkpoints)]
    assert killed_at, (tmp_path / "killed.log").read_text()[-3000:]

    # the champion is untouched: same alias, no new version, still loads, predicts and serves
    assert str(get_version("splice-pg", "champion").version) == "1" and len(list_versions("splice-pg")) == 1
    assert Predictor.load(resolve_run_dir("splice-pg@champion")).predict([PROBE])[0].probabilities == before
    demo, url = serve(resolve_run_dir("splice-pg@champion"), host="127.0.0.1", port=0, block=False)
    try:
        result = Client(url, verbose=False).predict(PROBE, api_name="/classify")
        assert set(result["probabilities"]) == {"EI", "IE", "N"} and result["label"] in result["probabilities"]
    finally:
        demo.close()

    # the killed process's lock is still there, and stale
    owner = read_lock(lock_path("splice-pg"))
    assert owner["pid"] == proc.pid and is_stale(owner)

    done = subprocess.run(_cli("retune", str(long), "--json"), env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] in ("promoted", "rejected") and result["challenger"] == "2"
    assert result["resumed_from_step"] is not None and result["resumed_from_step"] >= 4
    assert f"removing the stale re-tune lock {lock_path('splice-pg')} (pid {proc.pid}" in done.stderr
    assert not lock_path("splice-pg").exists() and not checkpoints.parent.exists()
    training = json.loads((retune_dir("splice-pg") / "splice-pg" / "metrics.json").read_text())["training"]
    assert training["resumed_from_step"] == result["resumed_from_step"] and training["steps"] == training["planned_steps"]
    assert not (tmp_path / "net.log").exists()
