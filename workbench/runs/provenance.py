"""What a run records about where it came from: the resolved config (secrets redacted) and package versions."""

from __future__ import annotations

import platform
from importlib import metadata

import data_connectors as dc

_VERSIONS = ("finetune-workbench", "torch", "transformers", "peft", "unsloth", "datasets", "scikit-learn", "gguf", "gradio")


def package_versions() -> dict[str, str]:
    """Returns installed versions of the packages that shape a run (absent ones are omitted)."""
    out = {"python": platform.python_version()}
    for name in _VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def saved_config(config) -> dict:
    """The resolved config as saved beside the adapter, with every secret redacted (URLs, storage options).

    Args:
        config: A validated run config of any task type.
    """
    return dc.redact_config(config.model_dump(mode="json"))
