"""The task plug-in interface: everything that differs between task types, behind one class per type.

The pipeline (:func:`workbench.pipeline.setup`) runs the same stages for every task and asks the run's
:class:`Task` for the parts that differ:

============================  =====================================================================
stage                         the task supplies
============================  =====================================================================
connect, validate, split      :meth:`Task.prepare` (rows, validation, the seeded split, fingerprint)
load the base model           :meth:`Task.max_seq_length` (and may load it early, via ``LazyModel``)
head and loss                 :meth:`Task.objective` (the module, batch loss and validation score)
baselines                     :meth:`Task.baselines` (classical models, or the base model itself)
evaluate                      :meth:`Task.evaluate` (test-split metrics)
write the run directory       :meth:`Task.write` (task files, ``task.json``, ``metrics.json``, card)
CLI, demo, export             :meth:`Task.summary`, :meth:`Task.serve`, :meth:`Task.export_refusal`
============================  =====================================================================

A task instance lives for one run and keeps what it built (prompts, the scorer) between stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass
class Prepared:
    """Validated, deduplicated and split rows of a run.

    Attributes:
        lineage: The connector's lineage record (:class:`data_connectors.Lineage`).
        fingerprint: sha256 of the rows used, over all splits (resume checks it).
        report: The ``data`` section of ``metrics.json`` (JSON-serialisable).
        part: Split name -> the task's rows of that split (e.g. ``(sequences, targets)``).
        extra: Anything else the task keeps (labels, conversations, ...).
        warnings: Sentences the user must see about the data (e.g. near-duplicates between the splits).
    """

    lineage: Any
    fingerprint: str
    report: dict
    part: dict[str, Any]
    extra: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class LazyModel:
    """The base model with a fresh LoRA adapter, resolved and loaded on first use. A task that needs the
    tokenizer to validate its rows (chat SFT) loads it in :meth:`Task.prepare`; the others after the split,
    so bad data fails before the model is read.

    Args:
        spec: ``model.base_model`` (see :func:`workbench.models.base_model.resolve_base_model`).
        load: ``(base_model) -> (peft_model, tokenizer)``.
    """

    def __init__(self, spec: str, load):
        self.spec, self._load, self._base, self._loaded, self.seconds = spec, load, None, None, 0.0

    @property
    def base(self):
        """The resolved :class:`~workbench.models.base_model.BaseModel` (resolved on first access)."""
        if self._base is None:
            from ..models.base_model import resolve_base_model

            self._base = resolve_base_model(self.spec)
        return self._base

    def get(self):
        """``(peft_model, tokenizer)``, loading them the first time (``seconds`` records how long it took)."""
        import time

        if self._loaded is None:
            base = self.base
            start = time.perf_counter()
            self._loaded = self._load(base)
            self.seconds = time.perf_counter() - start
        return self._loaded


class Task:
    """Base class of the task plug-ins; subclasses set the class attributes and implement the stages.

    Args:
        config: The run's validated config (of :attr:`config_class`).
    """

    type: ClassVar[str] = ""
    """The ``task.type`` value this class runs."""
    run_files: ClassVar[tuple[str, ...]] = ()
    """Files this task adds to every run directory (checked by :func:`workbench.runs.run_dir.missing_files`)."""
    log_every: ClassVar[int] = 10
    """Optimiser steps per ``loss_history`` entry."""

    def __init__(self, config):
        self.config = config

    def max_seq_length(self) -> int:
        """Longest input in tokens (Unsloth sizes its buffers with it)."""
        raise NotImplementedError

    def prepare(self, model: LazyModel) -> Prepared:
        """Connect -> validate -> split."""
        raise NotImplementedError

    def objective(self, data: Prepared, model, tokenizer, autocast, device: str):
        """Builds the head and loss on the loaded model: a :class:`workbench.training.objective.Objective`."""
        raise NotImplementedError

    def baselines(self, data: Prepared) -> dict:
        """Baseline name -> test-split metrics (run before training)."""
        return {}

    def evaluate(self, data: Prepared, progress: bool) -> dict:
        """Test-split metrics of the trained model."""
        raise NotImplementedError

    def write(self, stage: Path, record) -> None:
        """Writes the task's files, ``task.json``, ``metrics.json`` and ``README.md`` into ``stage``."""
        raise NotImplementedError

    @staticmethod
    def summary(result) -> str:
        """One line of test-split figures for the CLI."""
        raise NotImplementedError

    @staticmethod
    def serve(run_dir: str | Path, host: str, port: int, block: bool = True, **options):
        """Serves the run's Gradio demo; returns ``(demo, local_url)``. ``options``: ``auth_file``, ``limits``
        (a :class:`workbench.serving.limits.Limits`), and for sequence runs ``compare`` (a second run directory)."""
        raise NotImplementedError

    export: ClassVar = None
    """A task with its own export (pretraining: merged weights) sets a static ``(run_dir, fmt, out, dtype) -> dict``
    returning at least ``check``; None = the classifier route of :func:`workbench.export.export_run`."""

    @staticmethod
    def export_refusal(task: dict) -> str | None:
        """Why a run of this task (its ``task.json``) cannot be exported as adapter/merged/GGUF, or ``None``."""
        return "this task type cannot be exported yet"
