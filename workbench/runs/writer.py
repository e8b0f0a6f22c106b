"""What every run directory gets, whatever its task: adapter, tokenizer, resolved config, lineage, training record.

The pipeline (:func:`workbench.pipeline.setup`) fills a :class:`RunRecord`, writes these files with
:func:`write_common` into the staging directory, and lets the task add its own files, ``task.json``,
``metrics.json`` and the model card (``Task.write``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .run_dir import write_json


@dataclass
class RunRecord:
    """Everything a finished run knows, for writing its directory.

    Attributes:
        config: The validated run config.
        data: The task's prepared data (:class:`workbench.tasks.base.Prepared`).
        base: The resolved base model (:class:`workbench.models.base_model.BaseModel`).
        model: The trained (PEFT-wrapped) model; its adapter is saved.
        tokenizer: The tokenizer the run trained with.
        result: The loop's :class:`~workbench.training.objective.TrainResult`.
        metrics: Test-split metrics of the fine-tuned model (task-specific keys).
        baselines: Baseline name -> test-split metrics.
        runtime: ``backend``, ``backend_reason``, ``device``, ``threads``, ``precision``, ``model_load_seconds``.
        versions: Package versions (:func:`workbench.runs.provenance.package_versions`).
        saved_config: The redacted config dict written as ``config.yaml``.
        start: ``time.perf_counter()`` when the run started.
        cpu_start: ``time.process_time()`` when the run started.
        extra: Task-specific values handed from evaluation to writing (e.g. predictions).
    """

    config: Any
    data: Any
    base: Any
    model: Any
    tokenizer: Any
    result: Any
    metrics: dict
    baselines: dict
    runtime: dict
    versions: dict
    saved_config: dict
    start: float
    cpu_start: float
    extra: dict = field(default_factory=dict)

    def training(self, **task_fields) -> dict:
        """The ``training`` section of ``metrics.json``: runtime, the loop's result, then ``task_fields``."""
        return {**self.runtime, **task_fields, **asdict(self.result)}

    def base_model_entry(self) -> dict:
        """``task.json``'s ``base_model``: the config's spec plus the resolved model's name, source and sha256."""
        return {"spec": self.config.model.base_model, **self.base.to_dict()}

    def wall_seconds(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start


def write_common(stage: Path, record: RunRecord) -> None:
    """Writes the adapter, the tokenizer, ``config.yaml`` (redacted) and ``lineage.json`` into ``stage``."""
    record.model.save_pretrained(stage / "adapter")
    record.tokenizer.save_pretrained(stage / "tokenizer")
    (stage / "config.yaml").write_text(yaml.safe_dump(record.saved_config, sort_keys=False))
    write_json(stage / "lineage.json", record.data.lineage.to_dict())
