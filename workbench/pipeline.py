"""The one pipeline every task runs through: connect -> validate -> split -> load the base model -> train ->
evaluate -> write the run directory.

One typed function, :func:`setup`, that the CLI, the notebooks and the tests all call. What differs per
task type comes from its :class:`~workbench.tasks.base.Task` (chosen by ``task.type`` from
:data:`workbench.tasks.TASKS`); this module never branches on the task type.

Run as::

    workbench run configs/splice.yaml [--resume] [--dry-run]
    workbench run configs/chat_sft.yaml
    workbench run configs/splice.yaml --nproc 2     # data-parallel (see workbench/training/distributed.py)
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import audit, paths
from .models.backends import device_name, resolve_precision, seed_everything, select_backend, set_threads
from .registry.log import track_after_run
from .runs.partial import check_partial, partial_dir
from .runs.provenance import package_versions, saved_config
from .runs.run_dir import staged_run_dir
from .runs.writer import RunRecord, write_common
from .threads import wait_policy
from .tasks import LazyModel, get_task
from .training import distributed as dist
from .training.dryrun import DryRunReport, estimate
from .training.loop import train
from .training.objective import TrainOptions

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """Where a run went and how it scored.

    Attributes:
        run_dir: The completed run directory.
        metrics: Test-split metrics of the fine-tuned model (chat SFT: ``{"base": ..., "tuned": ...}``).
        baselines: Test-split metrics per baseline (chat SFT: ``{"base": ...}``, the adapter disabled).
        seconds: Wall time of the whole recipe, in seconds.
        task_type: The config's ``task.type``.
        warnings: Sentences the user must see (near-duplicates between the splits: ``Prepared.warnings``; a step cap
            under two epochs, the opt-in time cap cutting the run, a model that learnt nothing: see
            ``TrainResult.warnings``).
        estimate: The training-time estimate logged after the first steps (``TrainResult.estimate``).
    """

    run_dir: Path
    metrics: dict
    baselines: dict
    seconds: float
    task_type: str
    warnings: list[str] = field(default_factory=list)
    estimate: dict | None = None


def setup(config, progress: bool = True, resume: bool = False, dry_run: bool = False) -> RunResult | DryRunReport:
    """Runs the whole recipe for any task type and writes a complete run directory atomically.

    Args:
        config: A validated run config (see :func:`workbench.config.load_config`).
        progress: Show progress bars.
        resume: Continue from the newest checkpoint in ``<output_dir>/<name>.partial/checkpoints``
            (written with ``train.save_every``); starts from step 0 if there is none.
        dry_run: Read, split and load the model, measure one training step, and return a
            :class:`~workbench.training.dryrun.DryRunReport` without training or writing anything.

    Returns:
        A :class:`RunResult`, or a :class:`~workbench.training.dryrun.DryRunReport` with ``dry_run``.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or does not fit the mapping.
        workbench.data.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
        workbench.data.conversations.FormatError: A chat row cannot be formatted, or no chat template exists.
        workbench.data.splits.SplitError: Too few rows or labels to split.
        workbench.models.base_model.BaseModelError: The base model cannot be found.
        ValueError: Checkpoints of another run are in the way, ``resume`` meets a changed config, or a dry run
            is asked of a multi-process run.

    Under ``torchrun`` (``workbench run --nproc N``) every rank calls this; rank 0 alone computes the baselines,
    the test evaluation and writes the run directory, and the other ranks return a :class:`RunResult` with the
    same ``run_dir`` and empty metrics once rank 0 has finished.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    task = get_task(config.task.type)(config)
    tcfg = config.train
    world = dist.init()
    if world > 1 and dry_run:
        raise ValueError("a dry run measures one process: run it without --nproc (or torchrun).")
    backend, reason = _choose_backend(tcfg.backend, world)
    threads = set_threads(tcfg.threads or max(1, (os.cpu_count() or 1) // dist.local_world_size()))
    seed_everything(tcfg.seed)
    model, data, peft_model, tokenizer = _load_and_prepare(config, task, backend)
    partial = _check_partial(config, data, resume, dry_run)
    autocast = resolve_precision(tcfg.precision)
    objective = task.objective(data, peft_model, tokenizer, autocast, device_name())
    if dry_run:
        return _dry_run_report(objective, tcfg, start)

    baselines = task.baselines(data) if dist.is_main() else {}
    checkpoints = partial / "checkpoints" if (tcfg.save_every or resume) else None
    result = train(objective, TrainOptions.from_config(tcfg, task.log_every), checkpoint_dir=checkpoints,
                   resume=resume, progress=progress)
    final = Path(config.output_dir or paths.runs_dir()) / config.name
    if not dist.is_main():
        dist.barrier()  # rank 0 evaluates and writes; a failure there stops this rank through torchrun
        return RunResult(final, {}, {}, time.perf_counter() - start, config.task.type)
    metrics = task.evaluate(data, progress)
    runtime = {"backend": backend, "backend_reason": reason, "device": device_name(), "threads": threads,
               "omp_wait_policy": wait_policy(),
               "precision": "bf16" if autocast is not None else "fp32", "model_load_seconds": model.seconds,
               "world_size": world}
    record = RunRecord(config, data, model.base, peft_model, tokenizer, result, metrics, baselines, runtime,
                       package_versions(), saved_config(config), start, cpu_start)
    _write_run_dir(final, record, task, partial)
    return _finish(final, record, world)


def _choose_backend(preference: str, world: int) -> tuple[str, str]:
    """Picks the training backend; a data-parallel run always trains through transformers + PEFT.

    Args:
        preference: The config's ``train.backend``.
        world: Number of processes of the run.

    Returns:
        ``(backend, reason)``, as :func:`~workbench.models.backends.select_backend` gives them.
    """
    if world > 1:  # Unsloth's open-source release trains on one device only
        backend, reason = "peft", (f"data-parallel over {world} processes: Unsloth does not run data-parallel, "
                                   "so N > 1 trains through transformers + PEFT")
        if preference == "unsloth" and dist.is_main():
            log.warning("train.backend=unsloth: %s", reason)
        return backend, reason
    return select_backend(preference)  # before transformers is imported (Unsloth patches it)


def _dry_run_report(objective, tcfg, start: float) -> DryRunReport:
    """Measures one training step and estimates the run's time, writing nothing.

    Args:
        objective: The task's training objective.
        tcfg: The config's ``train`` group.
        start: ``time.perf_counter()`` when the run started.

    Returns:
        The :class:`~workbench.training.dryrun.DryRunReport`.
    """
    report = estimate(objective, batch_size=tcfg.batch_size, epochs=tcfg.epochs, eval_every=tcfg.eval_every,
                      max_steps=tcfg.max_steps)
    log.info("dry run finished in %.0f s; nothing written", time.perf_counter() - start)
    return report


def _load_and_prepare(config, task, backend: str):
    """Reads and splits the data and loads the base model with a fresh LoRA adapter (rank 0 first).

    Args:
        config: The validated run config.
        task: The run's :class:`~workbench.tasks.base.Task`.
        backend: ``"unsloth"`` or ``"peft"``.

    Returns:
        ``(model, data, peft_model, tokenizer)``: the :class:`~workbench.tasks.LazyModel`, the task's prepared data,
        and the loaded PEFT model and tokenizer.
    """
    from .models.lora import LoRASpec, load_lora_model

    tcfg = config.train
    model = LazyModel(config.model.base_model, lambda base: load_lora_model(
        base.path, LoRASpec(**config.lora.model_dump()), backend, tcfg.seed, task.max_seq_length(),
        num_layers=getattr(config.model, "num_layers", 0)))
    with dist.main_first():  # rank 0 converts the base model into the shared store; the others then read it
        data = task.prepare(model)
        peft_model, tokenizer = model.get()
    return model, data, peft_model, tokenizer


def _check_partial(config, data, resume: bool, dry_run: bool) -> Path | None:
    """Checks (on rank 0) that the run's partial directory fits this run, then waits for every rank.

    Args:
        config: The validated run config.
        data: The task's prepared data (for its fingerprint).
        resume: Whether the run continues from its newest checkpoint.
        dry_run: A dry run has no partial directory.

    Returns:
        The partial directory, ``<output_dir>/<name>.partial`` (None for a dry run).
    """
    partial = None if dry_run else partial_dir(config.output_dir, config.name)
    if partial is not None and dist.is_main():
        check_partial(partial, saved_config(config), data.fingerprint, resume, config.train.save_every)
    dist.barrier()
    return partial


def _write_run_dir(final: Path, record: RunRecord, task, partial: Path) -> None:
    """Writes the run directory atomically, drops the partial directory and logs the run if tracking is on.

    Args:
        final: The run directory to write.
        record: Everything the run directory holds.
        task: The run's task (writes its own files after the common ones).
        partial: The partial directory (checkpoints) to remove.
    """
    with staged_run_dir(final) as stage:
        write_common(stage, record)
        task.write(stage, record)
    shutil.rmtree(partial, ignore_errors=True)
    if record.config.registry.track:  # 8 log the run (and register it) in the tracking store
        track_after_run(final, record.config)


def _finish(final: Path, record: RunRecord, world: int) -> RunResult:
    """Waits for every rank, records the run in the audit log and builds the :class:`RunResult` (rank 0).

    Args:
        final: The written run directory.
        record: The run's record (config, data, model, training result, metrics, baselines).
        world: Number of processes of the run.

    Returns:
        The :class:`RunResult` of the run.
    """
    config, data, result, metrics = record.config, record.data, record.result, record.metrics
    dist.barrier()
    seconds = time.perf_counter() - record.start
    base = record.base
    audit.record("train", str(final), name=config.name, task_type=config.task.type, data_fingerprint=data.fingerprint,
                 base_model=base.name if base is not None else None, seconds=round(seconds, 1),
                 world_size=world, metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    log.info("run directory %s complete in %.0f s", final, seconds)
    return RunResult(final, metrics, record.baselines, seconds, config.task.type, [*data.warnings, *result.warnings],
                     result.estimate)
