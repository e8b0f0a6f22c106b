"""`workbench lab` opens the notebooks in JupyterLab on loopback, behind its token, with nothing reaching out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from workbench.lab import lab_command

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_lab_lists_the_notebooks_behind_its_token(tmp_path):
    port, token = _free_port(), "test-token-4f1c"
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "JUPYTER_TOKEN": token,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "lab", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status, body = time.monotonic() + 180, None, b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"{base}/api/contents?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert status == 200, (tmp_path / "lab.log").read_text()[-3000:]
        listed = {c["name"] for c in json.loads(body)["content"] if c["type"] == "notebook"}
        assert listed == {p.name for p in (REPO / "notebooks").glob("*.ipynb")} and "genome_predictor.ipynb" in listed
        assert _get(f"{base}/api/contents")[0] == 403  # no token, no notebooks
        assert json.loads(_get(f"{base}/lab/api/news?token={token}")[1]) == {"news": []}  # news feed off
        text = (tmp_path / "lab.log").read_text()
        assert "Extension Manager is 'readonly'" in text and f"http://127.0.0.1:{port}/lab?token=" in text
        # The kernels inherit the server's environment: the offline switches are in it.
        servers = [int(p) for p in subprocess.run(["pgrep", "-f", "-s", str(proc.pid), "jupyterlab"],
                                                  capture_output=True, text=True).stdout.split()]
        environ = Path(f"/proc/{servers[0]}/environ").read_bytes().split(b"\0") if servers else []
        assert b"HF_HUB_OFFLINE=1" in environ and b"GRADIO_ANALYTICS_ENABLED=False" in environ
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout.split()
        local = [w for w in listening if w.endswith(f":{port}")]
        assert local and all(w.startswith(("127.0.0.1:", "[::1]:")) for w in local), listening
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_lab_refuses_a_missing_notebooks_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="--notebooks"):
        lab_command(tmp_path / "nowhere")
    launch = lab_command(REPO / "notebooks", port=8890, token="t")
    assert "--ServerApp.ip=127.0.0.1" in launch.argv and launch.url == "http://127.0.0.1:8890/lab?token=t"
    assert 'extension_manager = "readonly"' in launch.config.read_text()
