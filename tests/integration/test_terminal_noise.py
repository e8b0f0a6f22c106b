"""What a user sees in the terminal: a real ``workbench`` process (tiny model, ``--dry-run``) prints the
workbench's own lines and none of the third-party noise of workbench/noise.py, nor any third-party deprecation
warning."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, guarded_subprocess_env, tiny_run_config
from workbench.noise import NOISE

pytestmark = pytest.mark.integration
THIRD_PARTY_DEPRECATION = re.compile(r"^(?!.*/workbench/).*(FutureWarning|DeprecationWarning)", re.M)


def test_a_cli_run_prints_its_own_lines_and_no_third_party_noise(splice_db, tiny_model_dir, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_run_config(splice_db, tiny_model_dir, tmp_path / "runs")))
    netlog = tmp_path / "net.log"
    env = guarded_subprocess_env(netlog)
    env.pop("PYTHONWARNINGS", None)
    env.pop("WORKBENCH_SHOW_ALL_WARNINGS", None)
    code = "import sys, tests.netguard; tests.netguard.install(); from workbench.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "run", str(cfg), "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert not netlog.exists(), netlog.read_text()
    assert "dry run (nothing written)" in output and "INFO workbench.data.sources: read 3190 rows" in output
    for noise in NOISE:
        assert not re.search(noise.message, output), f"{noise.where} printed: {noise.message}\n{output[-3000:]}"
    assert not THIRD_PARTY_DEPRECATION.search(output), output[-3000:]
