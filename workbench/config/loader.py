"""Loading run configs: YAML with ``${VAR}`` expansion, ``--set`` overrides, validation against the task's schema.

``load_config`` expands ``${VAR}`` / ``${VAR:-default}`` from the environment, picks the schema registered for
the file's ``task.type`` (:data:`workbench.config.base.SCHEMAS`), validates every field, and raises one
:class:`ConfigError` listing every problem with its field path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .base import SCHEMAS, ConfigError, RunBase

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Replaces ``${VAR}`` and ``${VAR:-default}`` with environment values.

    Raises:
        ConfigError: If a variable without a default is unset (names the variable).
    """
    missing: list[str] = []

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    out = _ENV.sub(sub, text)
    if missing:
        raise ConfigError(f"environment variable(s) {sorted(set(missing))} are not set; export them or add a :-default.")
    return out


def validate_config(data: dict[str, Any]) -> RunBase:
    """Validates a config dict against its task type's schema, collecting every problem.

    Args:
        data: The config as a dict; ``task.type`` picks the schema (``classification`` when absent).

    Returns:
        The validated run config: a :class:`~workbench.config.sequence.RunConfig` for classification and
        regression, a :class:`~workbench.config.sft.SFTConfig` for ``sft``.

    Raises:
        ConfigError: Lists each invalid field as ``path: message`` (an unknown ``task.type`` among them; the
            other fields are then checked against the default schema).
    """
    name = _task_type_of(data)
    if name in SCHEMAS:
        return validate_model(SCHEMAS[name], data)
    unknown = f"  - task.type: {name!r} is not a task type; choose one of {', '.join(sorted(SCHEMAS))}."
    problems = [unknown] + [p for p in _problems(SCHEMAS["classification"], data) if not p.startswith("  - task.type:")]
    raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n" + "\n".join(problems))


def _problems(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [f"  - {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()]
    return []


def validate_model(model: type[BaseModel], data: dict[str, Any]):
    """Validates ``data`` against a config model, collecting every problem.

    Args:
        model: The pydantic config class (e.g. :class:`RunConfig`).
        data: The config as a dict.

    Returns:
        The validated ``model`` instance.

    Raises:
        ConfigError: Lists each invalid field as ``path: message``.
    """
    problems = _problems(model, data)
    if problems:
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n" + "\n".join(problems))
    return model.model_validate(data)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunBase:
    """Loads, expands and validates a YAML run config of any task type.

    Args:
        path: YAML file.
        overrides: Dotted keys to set after loading, e.g. ``{"train.epochs": 0.1}``.

    Returns:
        The validated run config (see :func:`validate_config`).

    Raises:
        ConfigError: If the file is missing, is not a YAML mapping, names an unset
            environment variable, or has invalid fields (all listed at once).
    """
    return validate_config(read_yaml(path, overrides))


def _task_type_of(data: dict[str, Any]) -> str:
    task = data.get("task") or {}
    return str(task.get("type", "classification")) if isinstance(task, dict) else "classification"


def task_type(path: str | Path) -> str:
    """Returns a config file's ``task.type`` (``classification`` when absent) without validating it.

    Raises:
        ConfigError: As :func:`read_yaml`.
    """
    return _task_type_of(read_yaml(path))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parses ``--set KEY=VALUE`` items into dotted-key overrides, each value read as YAML.

    Args:
        items: Strings such as ``"train.epochs=0.5"``.

    Returns:
        ``{"train.epochs": 0.5, ...}`` for :func:`read_yaml`.

    Raises:
        ValueError: An item has no ``=``; the message shows the expected form.
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (e.g. train.epochs=0.5), got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def read_yaml(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reads a YAML config into a dict: ``${VAR}`` expanded, dotted ``overrides`` applied, not validated.

    Raises:
        ConfigError: If the file is missing, is not a YAML mapping or names an unset variable.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found.")
    try:
        data = yaml.safe_load(expand_env(path.read_text()))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping of config groups.")
    for key, value in (overrides or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return data
