"""The GPU install (environment.yml) resolves: pip's resolver runs over its pip section as a GPU machine would, so a
broken pin shows up here before a GPU user meets it.

No GPU machine has run the workbench yet, so this is the one check its install gets on every CI run. pip runs in a
subprocess with ``--isolated`` (no local wheel paths, mirrors or constraints: PyPI alone, whose Linux torch is the
CUDA build) and ``--dry-run --report``: it resolves and reads metadata, installs nothing. This is the only test that
talks to a package registry (in that subprocess, as the install itself would); it skips with the reason where the
registry cannot be reached.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
UNREACHABLE = ("Failed to establish a new connection", "Temporary failure in name resolution", "Network is unreachable",
               "No matching distribution found for setuptools", "Max retries exceeded")


def pip_requirements(env_file: Path) -> list[str]:
    """The pip section of a conda environment file as pip arguments (``-e .[x]`` made absolute)."""
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    args = []
    for item in section:
        item = item.split("#", 1)[0].strip()
        if item.startswith("-e "):
            args += ["-e", str(REPO) + item[3:].strip().removeprefix(".")]
        elif item:
            args.append(item)
    return args


def test_the_gpu_environment_resolves_with_the_cuda_torch(tmp_path):
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--report", str(report), *pip_requirements(REPO / "environment.yml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    if proc.returncode != 0 and any(s in proc.stderr for s in UNREACHABLE):
        pytest.skip(f"the package registry (PyPI) cannot be reached from here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, f"environment.yml does not resolve:\n{proc.stderr[-3000:]}"
    installed = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                 for i in json.loads(report.read_text())["install"]}
    assert installed["torch"] == "2.13.0"
    assert any(name.startswith("nvidia-") for name in installed), "torch resolved without its CUDA libraries"
    for name in ("unsloth", "bitsandbytes", "finetune-workbench", "pytest", "mlflow", "gradio"):
        assert name in installed, f"{name} missing from the resolved GPU environment"
