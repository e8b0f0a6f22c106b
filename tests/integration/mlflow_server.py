"""Starts a real ``mlflow server`` on loopback for the tests (and the closing note's screenshot): SQLite backend,
proxied artifacts, one worker, telemetry off; and any other server process until it answers (:func:`served`).

Run as::

    python -m tests.integration.mlflow_server STORE_DIR [PORT]    # serves until Ctrl+C
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(cmd: list[str], env: dict, ready: str, log_path: Path, timeout: float = 120) -> Iterator[subprocess.Popen]:
    """Runs ``cmd`` in its own process group until ``ready`` (a URL) answers 200; stops the group after the block.

    Raises:
        RuntimeError: It exited or did not answer within ``timeout`` s (the message holds its log's tail).
    """
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(ready, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[:4]} did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


@contextlib.contextmanager
def mlflow_server(store: Path, port: int | None = None, backend: str | None = None,
                  artifacts: Path | None = None) -> Iterator[str]:
    """Runs ``mlflow server`` on 127.0.0.1 for the block; yields its URL.

    Args:
        store: Folder for the server's SQLite database, artifacts and log.
        port: TCP port (default: a free one).
        backend: Backend store URI (default ``sqlite:///<store>/server.db``).
        artifacts: Artifact destination (default ``<store>/artifacts``).

    Raises:
        RuntimeError: The server did not answer ``/health`` within 120 s (the message holds its log's tail).
    """
    store.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", backend or f"sqlite:///{store / 'server.db'}",
           "--artifacts-destination", str(artifacts or store / "artifacts"), "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with served(cmd, env, f"{url}/health", store / "server.log"):
        yield url


if __name__ == "__main__":  # pragma: no cover - manual use
    with mlflow_server(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5000) as url:
        print(f"MLflow UI at {url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
