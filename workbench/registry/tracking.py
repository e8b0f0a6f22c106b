"""Where runs and model versions are tracked: an MLflow store chosen by ``WORKBENCH_TRACKING_URI``.

Default (nothing to start): a SQLite tracking and registry store ``$WORKBENCH_HOME/mlflow.db`` with artifacts under
``$WORKBENCH_HOME/mlartifacts``. A team points ``WORKBENCH_TRACKING_URI`` at its own MLflow server
(``http://mlflow.internal:5000``) or database instead; artifacts then go where that server keeps them.

MLflow's telemetry is switched off by :mod:`workbench.offline` before MLflow is imported (``MLFLOW_DISABLE_TELEMETRY``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .. import paths

log = logging.getLogger(__name__)
ENV = "WORKBENCH_TRACKING_URI"
ARTIFACT_DIR = "run"  # the run directory's files live under this artifact path of the MLflow run


class RegistryError(ValueError):
    """Raised when the registry has no such model, version or alias, or a registry action is not possible."""


def tracking_uri() -> str:
    """Returns the tracking (and registry) URI: ``$WORKBENCH_TRACKING_URI``, else SQLite under ``$WORKBENCH_HOME``."""
    uri = os.environ.get(ENV, "").strip()
    return uri or f"sqlite:///{paths.home() / 'mlflow.db'}"


def is_embedded() -> bool:
    """Whether the store is the embedded default (no ``WORKBENCH_TRACKING_URI``)."""
    return not os.environ.get(ENV, "").strip()


def artifact_root() -> str | None:
    """The artifact location of new experiments: ``$WORKBENCH_HOME/mlartifacts`` for the embedded store, else None
    (the server's own default)."""
    if not is_embedded():
        return None
    root = paths.home() / "mlartifacts"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve().as_uri()


def client():
    """Returns an :class:`mlflow.MlflowClient` on :func:`tracking_uri` (tracking and registry on the same store)."""
    from .. import offline

    offline.apply_offline_env()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    from mlflow import MlflowClient

    uri = tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(mlflow_client, name: str) -> str:
    """Returns the id of experiment ``name``, creating it (artifacts under :func:`artifact_root`) if absent."""
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return mlflow_client.create_experiment(name, artifact_location=artifact_root())


def local_path(uri: str) -> Path | None:
    """The local directory behind an artifact URI (``file://`` or a plain path), or None for a remote store."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None
