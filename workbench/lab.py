"""JupyterLab as the scientists' front door: the notebooks, on loopback, with a token, and nothing reaching out.

``workbench lab`` starts JupyterLab on ``notebooks/`` bound to 127.0.0.1 with a random token (or
``$JUPYTER_TOKEN``) and prints the URL to open. The server is configured so that it contacts nothing: the
extension manager is read-only (no PyPI search or installs), the news feed and the update check are off, no
browser is opened from the server, and the kernels inherit the workbench's offline switches
(:mod:`workbench.offline`: Hugging Face hub, transformers, datasets, Gradio, Unsloth, MLflow) because they
are set in the server's environment before it starts.

Run as::

    workbench lab                      # http://127.0.0.1:8888/lab?token=...
    workbench lab --port 8890 --notebooks path/to/notebooks
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .offline import OFFLINE_ENV

_CONFIG = """# Written by `workbench lab` (workbench/lab.py): JupyterLab that contacts nothing outside this machine.
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ServerApp.allow_remote_access = False
c.ServerApp.allow_origin = ""
c.LabApp.extension_manager = "readonly"
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
"""


@dataclass
class LabLaunch:
    """How JupyterLab is started.

    Attributes:
        argv: The command line (``python -m jupyterlab ...``).
        env: The environment of the server and its kernels (the offline switches and the token included).
        url: The address to open, token included.
        token: The access token.
        config: The JupyterLab config file written under ``$WORKBENCH_HOME/jupyter``.
    """

    argv: list[str]
    env: dict[str, str]
    url: str
    token: str
    config: Path


def notebooks_dir() -> Path:
    """The repository's ``notebooks/`` (where ``workbench`` is an editable install), else the current folder's."""
    repo = Path(__file__).resolve().parents[1] / "notebooks"
    return repo if repo.is_dir() else Path.cwd() / "notebooks"


def lab_command(notebooks: Path | None = None, port: int = 8888, token: str | None = None) -> LabLaunch:
    """Builds the JupyterLab command line, environment and config (writes only the config file).

    Args:
        notebooks: Folder JupyterLab opens (default :func:`notebooks_dir`).
        port: TCP port on 127.0.0.1.
        token: Access token (default ``$JUPYTER_TOKEN``, else 32 random bytes, URL-safe).

    Returns:
        The :class:`LabLaunch`.

    Raises:
        ValueError: If the notebooks folder does not exist, or the port is out of range.
    """
    notebooks = Path(notebooks or notebooks_dir()).resolve()
    problems = []
    if not notebooks.is_dir():
        problems.append(f"notebooks folder {notebooks} does not exist: pass --notebooks DIR")
    if not 1 <= port <= 65535:
        problems.append(f"port {port} is not in 1..65535")
    if problems:
        raise ValueError("; ".join(problems))
    token = token or os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(32)
    config_dir = paths.home() / "jupyter"
    config_dir.mkdir(parents=True, exist_ok=True)
    config = config_dir / "jupyter_lab_config.py"
    tmp = config.with_suffix(".tmp")
    tmp.write_text(_CONFIG)
    tmp.replace(config)
    env = {**os.environ, **{k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()}, "JUPYTER_TOKEN": token,
           "JUPYTER_CONFIG_DIR": str(config_dir), "JUPYTER_RUNTIME_DIR": str(config_dir / "runtime")}
    argv = [sys.executable, "-m", "jupyterlab", f"--config={config}", f"--ServerApp.root_dir={notebooks}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--no-browser"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; Jupyter refuses that by default
        argv.append("--allow-root")
    return LabLaunch(argv, env, f"http://127.0.0.1:{port}/lab?token={token}", token, config)


def run_lab(notebooks: Path | None = None, port: int = 8888) -> int:
    """Starts JupyterLab in the foreground (Ctrl+C stops it) and returns its exit status."""
    from . import audit

    launch = lab_command(notebooks, port)
    print(f"JupyterLab on the notebooks in {Path(notebooks or notebooks_dir()).resolve()}\n"
          f"open: {launch.url}\n(bound to 127.0.0.1 only; Ctrl+C stops it)", flush=True)
    audit.record("lab", str(notebooks or notebooks_dir()), port=port)
    try:
        return subprocess.call(launch.argv, env=launch.env)
    except KeyboardInterrupt:
        return 0
