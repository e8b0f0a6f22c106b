"""The sequence-classification recipe: connect -> split -> train -> evaluate -> save.

One typed function, :func:`setup`, that the CLI, the notebooks and the tests all call.

Run as::

    workbench run configs/splice.yaml
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
import yaml

import data_connectors as dc

from . import artifacts, paths
from .base_model import resolve_base_model
from .baselines import run_baselines
from .config import RunConfig
from .engine import LabelScorer, LoRASpec, label_token_ids, load_lora_model, predict_proba, resolve_precision, select_backend, set_threads
from .metrics import classification_metrics, plot_confusion_matrix, plot_loss
from .sequences import apply_ambiguity_policy, check_sequence, format_prompt
from .splits import split_rows
from .trainer import train_classifier

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
    """

    run_dir: Path
    metrics: dict
    baselines: dict
    seconds: float


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


def setup(config: RunConfig, progress: bool = True) -> RunResult:
    """Runs the whole recipe and writes a complete run directory atomically.

    Args:
        config: A validated run config (see :func:`workbench.config.load_config`).
        progress: Show progress bars.

    Returns:
        A :class:`RunResult`.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or does not fit the mapping.
        workbench.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
        workbench.splits.SplitError: Too few rows or labels to split.
        workbench.base_model.BaseModelError: The base model cannot be found.
    """
    start = time.perf_counter()
    backend, reason = select_backend(config.train.backend)  # before transformers is imported (Unsloth patches it)
    threads = set_threads(config.train.threads)
    dataset, lineage = read_source(config)
    log.info("read %d rows from %s", lineage.rows, lineage.location)
    raw_seqs, raw_labels = dataset["sequence"], dataset["label"]
    kept, ambiguity = apply_ambiguity_policy(raw_seqs, config.data.ambiguous, config.data.max_length)
    seqs = [check_sequence(raw_seqs[i], config.data.max_length) for i in kept]
    ys = [raw_labels[i] for i in kept]
    splits, split_report = split_rows(seqs, ys, config.data.duplicates, config.data.val_fraction,
                                      config.data.test_fraction, config.data.seed)
    labels = sorted(set(ys))
    unknown = sorted(set(config.task.label_words) - set(labels))
    if unknown:
        raise ValueError(f"task.label_words names labels {unknown} that are not in the data (labels: {labels}).")
    words = [config.task.label_words.get(y, y) for y in labels]
    part = {name: ([seqs[i] for i in ix], [labels.index(ys[i]) for i in ix]) for name, ix in splits.items()}
    used_fp = dc.fingerprint_rows((seqs[i], ys[i]) for name in ("train", "validation", "test") for i in splits[name])

    log.info("baselines on %d train / %d test rows", len(part["train"][0]), len(part["test"][0]))
    baselines = run_baselines(*part["train"], *part["test"], labels)

    base = resolve_base_model(config.model.base_model)
    autocast = resolve_precision(config.train.precision)
    spec = LoRASpec(**config.lora.model_dump())
    load_start = time.perf_counter()
    model, tokenizer = load_lora_model(base.path, spec, backend, config.train.seed, config.data.max_length * 2 + 64)
    load_seconds = time.perf_counter() - load_start
    scorer = LabelScorer(model, label_token_ids(tokenizer, words), autocast)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    scorer.to(device)
    prompt = lambda s: format_prompt(s, config.task.prompt, config.task.spaced)  # noqa: E731
    prompts = {name: [prompt(s) for s in part[name][0]] for name in part}
    tcfg = config.train
    result = train_classifier(
        scorer, tokenizer, prompts["train"], part["train"][1], prompts["validation"], part["validation"][1],
        epochs=tcfg.epochs, learning_rate=tcfg.learning_rate, batch_size=tcfg.batch_size,
        warmup_ratio=tcfg.warmup_ratio, weight_decay=tcfg.weight_decay, max_grad_norm=tcfg.max_grad_norm,
        seed=tcfg.seed, progress=progress)

    eval_start = time.perf_counter()
    proba = predict_proba(scorer, tokenizer, prompts["test"], progress=progress).numpy()
    pred = proba.argmax(1).tolist()
    metrics = classification_metrics(part["test"][1], pred, labels, proba)
    eval_seconds = time.perf_counter() - eval_start
    log.info("test accuracy %.4f (one-hot baseline %.4f)", metrics["accuracy"], baselines["onehot_logreg"]["accuracy"])

    final = Path(config.output_dir or paths.runs_dir()) / config.name
    with artifacts.staged_run_dir(final) as stage:
        model.save_pretrained(stage / "adapter")
        tokenizer.save_pretrained(stage / "tokenizer")
        (stage / "config.yaml").write_text(yaml.safe_dump(saved_config(config), sort_keys=False))
        artifacts.write_json(stage / "lineage.json", lineage.to_dict())
        task = {"type": "classification", "labels": labels, "label_words": words,
                "label_token_ids": scorer.label_ids.tolist(), "prompt": config.task.prompt,
                "spaced": config.task.spaced, "max_length": config.data.max_length,
                "base_model": {"spec": config.model.base_model, **base.to_dict()},
                "examples": _examples(part["test"], labels)}
        artifacts.write_json(stage / "task.json", task)
        import pandas as pd

        frame = pd.DataFrame({"sequence": part["test"][0], "label": [labels[i] for i in part["test"][1]],
                              "predicted": [labels[i] for i in pred]})
        for j, name in enumerate(labels):
            frame[f"p_{name}"] = proba[:, j].round(6)
        frame.to_csv(stage / "predictions.csv", index=False)
        plot_confusion_matrix(metrics["confusion_matrix"], labels, stage / "confusion_matrix.png",
                              f"{config.name}: test split (n={metrics['n']})")
        plot_loss(result.loss_history, result.val_history, stage / "training.png")
        training = {"backend": backend, "backend_reason": reason, "device": device, "threads": threads,
                    "precision": "bf16" if autocast is not None else "fp32",
                    "model_load_seconds": load_seconds, "eval_seconds": eval_seconds, **asdict(result)}
        data_report = {"ambiguity": asdict(ambiguity), "split": split_report.to_dict(), "rows_used_fingerprint": used_fp}
        card = {"name": config.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "base_model": base.to_dict(),
                "lineage": lineage.to_dict(), "config": saved_config(config), "metrics": metrics,
                "baselines": baselines, "published": config.published.model_dump() if config.published else None,
                "training": training, "versions": package_versions(), "labels": labels, "label_words": words,
                "data_report": data_report, "citation": config.published.citation if config.published else None}
        seconds = time.perf_counter() - start
        artifacts.write_json(stage / "metrics.json", {
            "test": metrics, "baselines": baselines, "published": card["published"], "training": training,
            "data": data_report, "wall_seconds": seconds})
        (stage / "README.md").write_text(artifacts.model_card(card))
    log.info("run directory %s complete in %.0f s", final, seconds)
    return RunResult(final, metrics, baselines, seconds)


def _examples(test_part: tuple[list[str], list[int]], labels: list[str], per_class: int = 2) -> list[dict]:
    """A few test sequences per class, for the demo's examples."""
    out, counts = [], {i: 0 for i in range(len(labels))}
    for seq, y in zip(*test_part):
        if counts[y] < per_class:
            out.append({"sequence": seq, "label": labels[y]})
            counts[y] += 1
    return out
