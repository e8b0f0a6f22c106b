"""Offline-first defaults, applied when ``workbench`` is imported.

The workbench never contacts a model hub, telemetry endpoint or analytics service:
these variables are set (unless the user already set them) before transformers,
datasets, Unsloth, Gradio or MLflow are imported.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "UNSLOTH_DISABLE_STATISTICS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    # MLflow: its usage telemetry (MLflow reads DO_NOT_TRACK only as "true", so its own switch is set too), no
    # progress bars in scheduled logs.
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_env() -> dict[str, str]:
    """Sets the offline variables that are not already set.

    Returns:
        The variables this call set (name -> value).
    """
    applied = {}
    for key, value in OFFLINE_ENV.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    return applied
