"""REST scoring of a registered version with MLflow's own server, on loopback, offline.

:func:`serve_command` builds ``mlflow models serve -m models:/NAME@REF --env-manager local -h 127.0.0.1 -p PORT``
and the environment it needs: the workbench's tracking store as MLflow's tracking and registry URI, and the offline
switches of :mod:`workbench.offline` (MLflow's telemetry off, no model hub) forced on, so that the served process
sends nothing anywhere. ``POST /invocations`` with ``{"dataframe_split": {"columns": ["Sequence"], "data": [...]}}``
answers ``{"predictions": [...]}``, one row per sequence with the columns of
:func:`workbench.serving.table.output_columns`. The server has no sign-in: it binds 127.0.0.1 only; put an
authenticating reverse proxy in front to reach it from elsewhere (the demo, ``workbench serve``, has sign-in).

Run as::

    workbench models serve splice@champion --port 5001
    curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' \\
         -d '{"dataframe_split": {"columns": ["Sequence"], "data": [["CCAGCTGCATCACAGGAGG"]]}}'
"""

from __future__ import annotations

import os
import shutil
import sys

from ..offline import OFFLINE_ENV
from .tracking import tracking_uri
from .versions import get_version, parse_spec

HOST = "127.0.0.1"


def serve_command(spec: str, port: int = 5001, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow models serve`` command line and environment for ``NAME@REF``.

    Args:
        spec: ``NAME@champion``, ``NAME@challenger`` or ``NAME@VERSION``.
        port: TCP port on 127.0.0.1.
        workers: Server worker processes (each loads the model).

    Returns:
        ``(argv, env)`` for :func:`subprocess.Popen` or :func:`os.execvpe`.

    Raises:
        workbench.registry.RegistryError: The reference does not resolve (checked before anything starts).
    """
    name, ref = parse_spec(spec)
    get_version(name, ref)  # a clear refusal now rather than a stack trace from the server
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or shutil.which("mlflow") or "mlflow"
    uri = f"models:/{name}/{ref}" if ref.isdigit() or ref == "latest" else f"models:/{name}@{ref}"
    argv = [mlflow, "models", "serve", "-m", uri,
            "--env-manager", "local", "-h", HOST, "-p", str(port), "-w", str(workers)]
    store = tracking_uri()
    env = {**os.environ, **OFFLINE_ENV, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store,
           # MLflow starts `uvicorn` by name: this environment's scripts first
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    return argv, env
