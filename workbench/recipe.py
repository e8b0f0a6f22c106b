"""The sequence recipe: connect -> split -> train -> evaluate -> save, for classification and regression.

One typed function, :func:`setup`, that the CLI, the notebooks and the tests all call.

Run as::

    workbench run configs/splice.yaml [--resume] [--dry-run]
"""

from __future__ import annotations

import logging
import platform
import random
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

import data_connectors as dc

from . import paths
from .base_model import resolve_base_model
from .config import RunConfig
from .dryrun import DryRunReport, estimate
from .engine import LabelScorer, LoRASpec, label_token_ids, load_lora_model, resolve_precision, select_backend, set_threads
from .regression import RegressionScorer, TargetScaler, parse_targets
from .run_writer import check_partial, write_classification_run, write_regression_run
from .sequences import apply_ambiguity_policy, check_sequence, format_prompt
from .splits import split_regression, split_rows
from .trainer import train_classifier, train_regressor

log = logging.getLogger(__name__)
_VERSIONS = ("finetune-workbench", "torch", "transformers", "peft", "unsloth", "datasets", "scikit-learn", "gguf", "gradio")


@dataclass
class RunResult:
    """Where a run went and how it scored.

    Attributes:
        run_dir: The completed run directory.
        metrics: Test-split metrics of the fine-tuned model.
        baselines: Test-split metrics per baseline.
        seconds: Wall time of the whole recipe, in seconds.
        task_type: ``classification`` or ``regression``.
    """

    run_dir: Path
    metrics: dict
    baselines: dict
    seconds: float
    task_type: str = "classification"


@dataclass
class PreparedData:
    """Validated, deduplicated and split rows.

    Attributes:
        lineage: The connector's lineage record.
        ambiguity: What the IUPAC ambiguity policy did.
        split_report: What splitting did.
        part: Split name -> ``(sequences, targets)``; targets are class indices (classification) or
            values in target units (regression).
        labels: Class names (classification) or ``[]``.
        fingerprint: sha256 of the rows used, over all splits.
    """

    lineage: object
    ambiguity: object
    split_report: object
    part: dict[str, tuple[list[str], list]]
    labels: list[str]
    fingerprint: str


def read_source(config: RunConfig):
    """Reads the configured source through ``data_connectors``.

    Returns:
        ``(dataset, lineage)``; see :func:`data_connectors.read_source`.
    """
    return dc.read_source(config.source, dc.ColumnMapping(config.columns.sequence, config.columns.label))


def package_versions() -> dict[str, str]:
    """Returns installed versions of the packages that shape a run (absent ones are omitted)."""
    out = {"python": platform.python_version()}
    for name in _VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def saved_config(config: RunConfig) -> dict:
    """The resolved config as saved beside the adapter, with every secret redacted (URLs, storage options)."""
    return dc.redact_config(config.model_dump(mode="json"))


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, NumPy's global RNG and torch (CPU and CUDA) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_data(config: RunConfig) -> PreparedData:
    """Reads, validates, deduplicates and splits the configured source.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or does not fit the mapping.
        workbench.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
        workbench.splits.SplitError: Too few rows or labels to split.
        ValueError: A regression target is not a number, or ``task.label_words`` names unknown labels.
    """
    dataset, lineage = read_source(config)
    log.info("read %d rows from %s", lineage.rows, lineage.location)
    raw_seqs, raw_labels = dataset["sequence"], dataset["label"]
    kept, ambiguity = apply_ambiguity_policy(raw_seqs, config.data.ambiguous, config.data.max_length)
    seqs = [check_sequence(raw_seqs[i], config.data.max_length) for i in kept]
    ys = [raw_labels[i] for i in kept]
    d = config.data
    if config.task.type == "regression":
        values = parse_targets(ys, config.columns.label)
        splits, report = split_regression(seqs, values, d.duplicates, d.val_fraction, d.test_fraction, d.seed,
                                          d.quantile_bins)
        part = {name: ([seqs[i] for i in ix], [values[i] for i in ix]) for name, ix in splits.items()}
        labels: list[str] = []
    else:
        splits, report = split_rows(seqs, ys, d.duplicates, d.val_fraction, d.test_fraction, d.seed)
        labels = sorted(set(ys))
        unknown = sorted(set(config.task.label_words) - set(labels))
        if unknown:
            raise ValueError(f"task.label_words names labels {unknown} that are not in the data (labels: {labels}).")
        part = {name: ([seqs[i] for i in ix], [labels.index(ys[i]) for i in ix]) for name, ix in splits.items()}
    fingerprint = dc.fingerprint_rows((seqs[i], ys[i]) for name in ("train", "validation", "test")
                                      for i in splits[name])
    return PreparedData(lineage, ambiguity, report, part, labels, fingerprint)


def partial_dir(config: RunConfig) -> Path:
    """Where an unfinished run keeps its checkpoints: ``<output_dir>/<name>.partial``."""
    return Path(config.output_dir or paths.runs_dir()) / f"{config.name}.partial"


def setup(config: RunConfig, progress: bool = True, resume: bool = False,
          dry_run: bool = False) -> RunResult | DryRunReport:
    """Runs the whole recipe and writes a complete run directory atomically.

    Args:
        config: A validated run config (see :func:`workbench.config.load_config`).
        progress: Show progress bars.
        resume: Continue from the newest checkpoint in ``<output_dir>/<name>.partial/checkpoints``
            (written with ``train.save_every``); starts from step 0 if there is none.
        dry_run: Read, split and load the model, measure one training step, and return a
            :class:`~workbench.dryrun.DryRunReport` without training or writing anything.

    Returns:
        A :class:`RunResult`, or a :class:`~workbench.dryrun.DryRunReport` with ``dry_run``.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or does not fit the mapping.
        workbench.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
        workbench.splits.SplitError: Too few rows or labels to split.
        workbench.base_model.BaseModelError: The base model cannot be found.
        ValueError: Checkpoints of another run are in the way, or ``resume`` meets a changed config.
    """
    start = time.perf_counter()
    backend, reason = select_backend(config.train.backend)  # before transformers is imported (Unsloth patches it)
    threads = set_threads(config.train.threads)
    seed_everything(config.train.seed)
    data = prepare_data(config)
    regression = config.task.type == "regression"
    partial = None if dry_run else partial_dir(config)
    if partial is not None:
        check_partial(partial, saved_config(config), data.fingerprint, resume, config.train.save_every)

    base = resolve_base_model(config.model.base_model)
    autocast = resolve_precision(config.train.precision)
    load_start = time.perf_counter()
    model, tokenizer = load_lora_model(base.path, LoRASpec(**config.lora.model_dump()), backend, config.train.seed,
                                       config.data.max_length * 2 + 64,
                                       num_layers=config.model.num_layers)
    load_seconds = time.perf_counter() - load_start
    device = "cuda" if torch.cuda.is_available() else "cpu"
    words = [config.task.label_words.get(y, y) for y in data.labels]
    scaler = TargetScaler.fit(data.part["train"][1]) if regression else None
    if regression:
        scorer = RegressionScorer(model, autocast, pooling=config.task.pooling)
        targets = scaler.transform(data.part["train"][1])
        loss_fn = torch.nn.functional.mse_loss
    else:
        scorer = LabelScorer(model, label_token_ids(tokenizer, words), autocast, pooling=config.task.pooling,
                             classifier=config.task.classifier)
        targets = torch.tensor(data.part["train"][1], dtype=torch.long)
        loss_fn = torch.nn.functional.cross_entropy
    scorer.to(device)
    prompts = {name: [format_prompt(s, config.task.prompt, config.task.spaced) for s in data.part[name][0]]
               for name in data.part}
    tcfg = config.train
    if dry_run:
        report = estimate(scorer, tokenizer, prompts, targets, loss_fn, batch_size=tcfg.batch_size,
                          epochs=tcfg.epochs, eval_every=tcfg.eval_every)
        log.info("dry run finished in %.0f s; nothing written", time.perf_counter() - start)
        return report

    options = dict(epochs=tcfg.epochs, learning_rate=tcfg.learning_rate, batch_size=tcfg.batch_size,
                   warmup_ratio=tcfg.warmup_ratio, weight_decay=tcfg.weight_decay, max_grad_norm=tcfg.max_grad_norm,
                   seed=tcfg.seed, eval_every=tcfg.eval_every, patience=tcfg.early_stopping_patience,
                   save_every=tcfg.save_every)
    checkpoints = partial / "checkpoints" if (tcfg.save_every or resume) else None
    trainer = train_regressor if regression else train_classifier
    train_targets = targets if regression else data.part["train"][1]
    result = trainer(scorer, tokenizer, prompts["train"], train_targets, prompts["validation"],
                     data.part["validation"][1], progress=progress, checkpoint_dir=checkpoints, resume=resume,
                     **options)
    context = {"backend": backend, "backend_reason": reason, "device": device, "threads": threads,
               "precision": "bf16" if autocast is not None else "fp32", "model_load_seconds": load_seconds,
               "base": base, "versions": package_versions(), "saved_config": saved_config(config), "start": start}
    final = Path(config.output_dir or paths.runs_dir()) / config.name
    if regression:
        metrics, baselines = write_regression_run(final, config, data, scorer, tokenizer, prompts, scaler, result,
                                                  context, progress)
    else:
        metrics, baselines = write_classification_run(final, config, data, scorer, tokenizer, prompts, words, result,
                                                      context, progress)
    shutil.rmtree(partial, ignore_errors=True)
    seconds = time.perf_counter() - start
    log.info("run directory %s complete in %.0f s", final, seconds)
    return RunResult(final, metrics, baselines, seconds, config.task.type)
