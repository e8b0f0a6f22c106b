"""Registered model versions: create, list, look up by alias (``champion``, ``challenger``) or number, and resolve
``NAME@REF`` to a local run directory (downloaded from the store when it is remote).

Usable from a notebook as from the CLI (``workbench models list|show``)::

    from workbench.registry import list_versions, resolve_run_dir
    list_versions("splice")                     # one dict per version, newest first
    resolve_run_dir("splice@champion")          # Path to a run directory Predictor.load() reads
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .. import paths
from .tracking import ARTIFACT_DIR, RegistryError, client, local_path

ALIASES = ("champion", "challenger")


def parse_spec(spec: str) -> tuple[str, str]:
    """Splits ``NAME@REF`` into ``(NAME, REF)``; REF is an alias, a version number or ``latest`` (the default).

    Raises:
        RegistryError: ``spec`` is empty or has an empty name.
    """
    name, _, ref = spec.partition("@")
    if not name.strip():
        raise RegistryError(f"{spec!r} is not a model reference; write NAME@champion, NAME@challenger or NAME@3.")
    return name.strip(), (ref.strip() or "latest")


def register_version(name: str, run_id: str, tags: dict[str, str]) -> str:
    """Adds the run's ``run`` artifacts as a new version of ``name`` (creating the model); returns the version."""
    c = client()
    if not c.search_registered_models(filter_string=f"name = '{_quote(name)}'"):
        c.create_registered_model(name, tags={"created_by": "workbench"})
    run = c.get_run(run_id)
    source = f"{run.info.artifact_uri.rstrip('/')}/{ARTIFACT_DIR}"
    version = c.create_model_version(name, source, run_id=run_id, tags=tags)
    return str(version.version)


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def get_version(name: str, ref: str = "latest"):
    """Returns the :class:`mlflow.entities.model_registry.ModelVersion` of ``name`` at ``ref``.

    Args:
        name: Registered model name.
        ref: ``champion``, ``challenger``, a version number, or ``latest``.

    Raises:
        RegistryError: No such model, version or alias (the message lists what exists).
    """
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        if ref in ALIASES:
            return c.get_model_version_by_alias(name, ref)
        if ref == "latest":
            found = versions_of(name)
            if not found:
                raise RegistryError(f"registered model {name!r} has no versions.")
            return found[0]
        if not ref.isdigit():
            raise RegistryError(f"{ref!r} is not an alias or a version; use champion, challenger, latest or a number.")
        return c.get_model_version(name, ref)
    except MlflowException as exc:
        raise RegistryError(f"{name}@{ref} is not in the registry at {_where()} ({exc.message.splitlines()[0]}). "
                            f"See `workbench models list {name}`.") from None


def find_version(name: str, ref: str):
    """Like :func:`get_version`, but None where the model, version or alias does not exist."""
    try:
        return get_version(name, ref)
    except RegistryError:
        return None


def versions_of(name: str) -> list:
    """All versions of ``name``, newest first (empty if the model does not exist)."""
    found = client().search_model_versions(filter_string=f"name = '{_quote(name)}'")
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def _where() -> str:
    from data_connectors import redact

    from .tracking import tracking_uri

    return redact(tracking_uri())


def aliases_by_version(name: str) -> dict[str, list[str]]:
    """Version number (as a string) -> its aliases, from the registered model (searches do not fill them in)."""
    out: dict[str, list[str]] = {}
    for alias, version in dict(client().get_registered_model(name).aliases or {}).items():
        out.setdefault(str(version), []).append(alias)
    return out


def describe(version, aliases: dict[str, list[str]] | None = None) -> dict:
    """A version as a plain dict: number, aliases, run id, source, created time, tags (metrics decoded)."""
    tags = dict(version.tags or {})
    aliases = aliases if aliases is not None else aliases_by_version(version.name)
    return {"name": version.name, "version": int(version.version),
            "aliases": sorted(aliases.get(str(version.version), [])), "run_id": version.run_id, "source": version.source, "created": version.creation_timestamp,
            "data_fingerprint": tags.get("data_fingerprint", ""), "decision": tags.get("decision", ""),
            "reason": tags.get("decision_reason", ""), "frozen_metric": _float(tags.get("frozen_metric")),
            "tags": tags}


def _float(value):
    return None if value in (None, "") else float(value)


def list_models() -> list[dict]:
    """Every registered model: name, champion and challenger version numbers, number of versions."""
    out = []
    for model in client().search_registered_models():
        aliases = {k: str(v) for k, v in dict(model.aliases or {}).items()}
        out.append({"name": model.name, "champion": aliases.get("champion"), "challenger": aliases.get("challenger"),
                    "versions": len(versions_of(model.name))})
    return sorted(out, key=lambda m: m["name"])


def list_versions(name: str) -> list[dict]:
    """The versions of ``name`` as dicts (see :func:`describe`), newest first, with each run's test metrics.

    Raises:
        RegistryError: ``name`` has no versions.
    """
    found = versions_of(name)
    if not found:
        raise RegistryError(f"registered model {name!r} has no versions in {_where()}.")
    c = client()
    rows = []
    aliases = aliases_by_version(name)
    for v in found:
        row = describe(v, aliases)
        row["metrics"] = dict(c.get_run(v.run_id).data.metrics) if v.run_id else {}
        rows.append(row)
    return rows


def resolve_run_dir(spec: str) -> Path:
    """Resolves ``NAME@REF`` to a local run directory holding that version's files.

    With a local artifact store the version's own artifact directory is returned; with a remote one the artifacts
    are downloaded once into ``$WORKBENCH_HOME/registry/<name>/v<N>`` (atomically: a partial download is not kept).

    Raises:
        RegistryError: The model, version or alias does not exist, or its artifacts are missing.
    """
    name, ref = parse_spec(spec)
    version = get_version(name, ref)
    local = local_path(version.source)
    if local is not None:
        if not (local / "task.json").is_file():
            raise RegistryError(f"{name} version {version.version}'s files are missing at {local}.")
        return local
    cache = paths.home() / "registry" / name / f"v{version.version}"
    if (cache / "task.json").is_file():
        return cache
    from mlflow.artifacts import download_artifacts

    from .tracking import tracking_uri

    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{version.version}.", dir=cache.parent))
    try:
        got = Path(download_artifacts(artifact_uri=version.source, dst_path=str(tmp), tracking_uri=tracking_uri()))
        got.rename(cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def decisions(name: str) -> list[dict]:
    """The champion history recorded on ``name`` (promotions and rollbacks, oldest first)."""
    model = client().get_registered_model(name)
    return json.loads((model.tags or {}).get("champion_history", "[]"))
