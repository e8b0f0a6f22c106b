"""Every registered version is an MLflow Model: the pyfunc flavor, written into the version's own files.

A version's files are the run directory (artifact path ``run``, the version's ``source``). Beside them
:func:`add_pyfunc` writes what makes that directory an MLflow Model:

- ``MLmodel`` with the pyfunc flavor, whose loader is :mod:`workbench.registry.pyfunc_loader` (the same
  ``Predictor`` as the demo and ``workbench predict``), the signature (input: the run's sequence column as a string;
  output: ``label``, ``name``, one ``p_<class>`` per class, or ``value``; and ``error``) and an input example;
- ``requirements.txt`` / ``python_env.yaml``: the scoring path's packages pinned to the versions logged with;
- ``code/``: this package (``workbench`` and ``data_connectors``), so a machine without the workbench can load it;
- ``base/``: the base model's weights, only the ``model.num_layers`` decoder layers the adapter was trained on,
  in float32, with ``workbench_base.json`` (the original's spec and sha256, each file's sha256).

Why the base travels inside (self-contained) and not by sha256: the places a data team loads a registered model
(a notebook on another machine, ``mlflow models serve`` in a container, Spark executors) have no workbench model
store, and the adapter cannot score without its base. The cost is the size: SmolLM2-135M cut to the default
recipe's 4 layers is ~170 MB per version (docs/mlflow_models.md). Older versions get the flavor with
``workbench models log NAME@VERSION`` (:func:`add_flavor`).

Run as::

    workbench models log splice@2          # add the flavor to a version registered before it existed
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from ..serving.predictor import PACKED_BASE, PACKED_BASE_INFO, base_weights
from ..serving.table import output_columns

log = logging.getLogger(__name__)
LOADER = "workbench.registry.pyfunc_loader"
SCORED_TYPES = ("classification", "regression")
# what the scoring path imports (the workbench's own runtime dependencies, without the demo and notebook ones)
RUNTIME = ("torch", "transformers", "tokenizers", "peft", "safetensors", "accelerate", "numpy", "pandas", "pyarrow",
           "datasets", "pydantic", "pyyaml", "sqlalchemy", "fsspec", "biopython", "scikit-learn", "python-dotenv",
           "keyring", "tqdm", "gguf", "mlflow")


def pinned_requirements() -> list[str]:
    """``name==version`` for each installed package of :data:`RUNTIME` (local labels such as ``+cpu`` dropped)."""
    out = []
    for name in RUNTIME:
        try:
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return out


def signature(task: dict):
    """The :class:`mlflow.models.ModelSignature` of a run: its sequence column in, the table columns out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    column = task.get("sequence_column") or "sequence"
    outputs = [ColSpec(kind, name, required=name != "error") for name, kind in output_columns(task)]
    return ModelSignature(inputs=Schema([ColSpec("string", column)]), outputs=Schema(outputs))


def input_example(task: dict):
    """Two of the run's test-split examples (task.json), or one short sequence, in the run's sequence column."""
    import pandas as pd

    seqs = [e["sequence"] for e in task.get("examples") or []][:2] or ["ACGT" * 5]
    return pd.DataFrame({task.get("sequence_column") or "sequence": seqs})


def pack_base(run_dir: Path, task: dict, dest: Path) -> dict:
    """Writes the run's base model, cut to ``task.json`` ``num_layers`` layers, in float32 into ``dest``.

    Returns:
        What ``dest/workbench_base.json`` records: ``spec``, ``sha256`` (the original's), ``num_layers`` and
        ``files`` (name -> sha256).

    Raises:
        workbench.serving.predictor.RunDirError: The base model is missing here or is not the one recorded.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from ..models.base_model import sha256_file
    from ..models.lora import truncate_layers

    model = AutoModelForCausalLM.from_pretrained(base_weights(run_dir, task), dtype=torch.float32)
    truncate_layers(model, task.get("num_layers", 0))
    model.save_pretrained(dest)
    info = {"spec": task["base_model"]["spec"], "sha256": task["base_model"]["sha256"],
            "num_layers": len(model.get_decoder().layers),
            "files": {p.name: sha256_file(p) for p in sorted(dest.iterdir()) if p.is_file()}}
    (dest / PACKED_BASE_INFO).write_text(json.dumps(info, indent=1))
    return info


def _code_copy(into: Path) -> list[str]:
    """Copies ``workbench`` and ``data_connectors`` (no caches, no bundled data) for the model's ``code/``."""
    root = Path(__file__).resolve().parents[2]
    out = []
    for package in ("workbench", "data_connectors"):
        shutil.copytree(root / package, into / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "resources"))
        out.append(str(into / package))
    return out


def build_model(run_dir: Path, dest: Path, run_id: str | None = None, with_run_files: bool = False) -> Path:
    """Writes the pyfunc files of ``run_dir`` into the new directory ``dest``; with ``with_run_files`` also the run
    directory's own files (exports aside), making ``dest`` a complete MLflow Model that
    ``mlflow.pyfunc.load_model(dest)`` or ``mlflow models serve -m dest`` loads without a registry.

    Raises:
        ValueError: The run is a chat SFT run (no sequence scoring), or its base model is missing here.
    """
    import mlflow.pyfunc
    from mlflow.models import Model

    task = json.loads((run_dir / "task.json").read_text())
    if task.get("type", "classification") not in SCORED_TYPES:
        raise ValueError(f"{run_dir} is a {task.get('type')} run; only {SCORED_TYPES} runs get the pyfunc flavor.")
    with tempfile.TemporaryDirectory(prefix="wb_code_") as code:
        mlflow.pyfunc.save_model(
            str(dest), loader_module=LOADER, code_paths=_code_copy(Path(code)), signature=signature(task),
            input_example=input_example(task), pip_requirements=pinned_requirements(),
            mlflow_model=Model(artifact_path="run", run_id=run_id),
            metadata={"workbench": {"task_type": task.get("type", "classification"), "labels": task.get("labels"),
                                    "label_names": task.get("label_names"), "base_model": task["base_model"],
                                    "num_layers": task.get("num_layers"), "base_weights": "included (base/)"}})
    pack_base(run_dir, task, dest / PACKED_BASE)
    if with_run_files:
        for child in sorted(run_dir.iterdir()):
            if child.name == "exports" or child.name.startswith(".") or (dest / child.name).exists():
                continue
            (shutil.copytree if child.is_dir() else shutil.copy2)(child, dest / child.name)
    return dest


def add_pyfunc(client, run_id: str, run_dir: Path, artifact_path: str) -> bool:
    """Builds the pyfunc files of ``run_dir`` and logs them beside the run's files under ``artifact_path``.

    Returns:
        False (and logs why) for a run type without the flavor (chat SFT); True once logged.
    """
    task = json.loads((Path(run_dir) / "task.json").read_text())
    if task.get("type", "classification") not in SCORED_TYPES:
        log.info("%s is a %s run: no pyfunc flavor (serve it with `workbench serve`)", run_dir, task.get("type"))
        return False
    with tempfile.TemporaryDirectory(prefix="wb_pyfunc_") as tmp:
        model_dir = build_model(Path(run_dir), Path(tmp) / "model", run_id)
        client.log_artifacts(run_id, str(model_dir), artifact_path)
    return True


def add_flavor(spec: str) -> list[str]:
    """Adds the pyfunc flavor to registered versions logged before it existed, in place (same version number).

    Args:
        spec: ``NAME@REF`` (one version) or ``NAME`` (every version of it that lacks the flavor).

    Returns:
        The version numbers that got the flavor (empty if all had it).

    Raises:
        workbench.registry.RegistryError: No such model or version, or a version's files are missing.
    """
    from .tracking import ARTIFACT_DIR, client
    from .versions import get_version, parse_spec, resolve_run_dir, versions_of

    name, ref = parse_spec(spec) if "@" in spec else (spec, None)
    found = [get_version(name, ref)] if ref else versions_of(name)
    if not found:
        from .tracking import RegistryError

        raise RegistryError(f"registered model {name!r} has no versions.")
    c, done = client(), []
    for version in found:
        if any(f.path == f"{ARTIFACT_DIR}/MLmodel" for f in c.list_artifacts(version.run_id, ARTIFACT_DIR)):
            continue
        run_dir = resolve_run_dir(f"{name}@{version.version}")
        if add_pyfunc(c, version.run_id, run_dir, ARTIFACT_DIR):
            done.append(str(version.version))
    return done
