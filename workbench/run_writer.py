"""Evaluates a trained model on the test split and writes the run directory (atomically).

Also guards ``<run>.partial/``, where an unfinished run keeps its checkpoints: a fresh run
refuses to overwrite another run's checkpoints, and a resume refuses a changed config or data.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from . import artifacts
from .checkpoints import list_checkpoints

# Config keys that may change between an interrupted run and its resume without changing the result.
_RESUME_FREE = ("serve", "published", "train.save_every", "train.threads")


def _flatten(config: dict, prefix: str = "") -> dict:
    """``{"train": {"seed": 0}}`` -> ``{"train.seed": 0}``, leaving out :data:`_RESUME_FREE` keys."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if any(name == free or name.startswith(free + ".") for free in _RESUME_FREE):
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def check_partial(partial: Path, config: dict, fingerprint: str, resume: bool, save_every: int) -> None:
    """Checks ``partial`` before training and records what a later resume must match.

    Args:
        partial: ``<output_dir>/<name>.partial``.
        config: The redacted config dict (see ``recipe.saved_config``).
        fingerprint: sha256 of the rows used.
        resume: Whether this run resumes.
        save_every: ``train.save_every``; with 0 and no resume nothing is written.

    Raises:
        ValueError: A fresh run finds checkpoints (resume or delete them), or a resume finds a
            checkpoint written under a different config or different data.
    """
    record = partial / "run.json"
    found = list_checkpoints(partial / "checkpoints")
    if found and not resume:
        raise ValueError(f"{partial} holds checkpoints of an interrupted run (latest {found[-1].name}). "
                         f"Add --resume to continue it, or delete {partial} to start again.")
    if found and resume and record.is_file():
        saved = json.loads(record.read_text())
        if saved["rows_used_fingerprint"] != fingerprint:
            raise ValueError(f"cannot resume: the data differ from the interrupted run's (rows fingerprint "
                             f"{fingerprint[:12]}… vs {saved['rows_used_fingerprint'][:12]}…). "
                             f"Delete {partial} to start again.")
        before, now = _flatten(saved["config"]), _flatten(config)
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise ValueError(f"cannot resume: config fields changed since the interrupted run: {changed}. "
                             f"Restore them, or delete {partial} to start again.")
    if save_every or resume:
        partial.mkdir(parents=True, exist_ok=True)
        artifacts.write_json(record, {"config": config, "rows_used_fingerprint": fingerprint})


def _write_common(stage: Path, config, data, tokenizer, scorer, result, context: dict, metrics: dict,
                  baselines: dict, task: dict, card_extra: dict, eval_seconds: float) -> None:
    """Writes the files every run directory has (adapter, tokenizer, config, lineage, task, metrics, card)."""
    base = context["base"]
    scorer.model.save_pretrained(stage / "adapter")
    tokenizer.save_pretrained(stage / "tokenizer")
    (stage / "config.yaml").write_text(yaml.safe_dump(context["saved_config"], sort_keys=False))
    artifacts.write_json(stage / "lineage.json", data.lineage.to_dict())
    task = {"type": config.task.type, **task, "prompt": config.task.prompt, "spaced": config.task.spaced,
            "pooling": config.task.pooling,
            "max_length": config.data.max_length, "num_layers": config.model.num_layers,
            "base_model": {"spec": config.model.base_model, **base.to_dict()}}
    artifacts.write_json(stage / "task.json", task)
    training = {k: context[k] for k in ("backend", "backend_reason", "device", "threads", "precision",
                                         "model_load_seconds")}
    training.update(eval_seconds=eval_seconds, **asdict(result))
    if result.val_metric == "accuracy":
        training["best_val_accuracy"] = result.best_val_score
    data_report = {"ambiguity": asdict(data.ambiguity), "split": data.split_report.to_dict(),
                   "rows_used_fingerprint": data.fingerprint}
    published = config.published.model_dump() if config.published else None
    card = {"name": config.name, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "task_type": config.task.type,
            "base_model": base.to_dict(), "lineage": data.lineage.to_dict(), "config": context["saved_config"],
            "metrics": metrics, "baselines": baselines, "published": published, "training": training,
            "versions": context["versions"], "data_report": data_report,
            "citation": config.published.citation if config.published else None, **card_extra}
    artifacts.write_json(stage / "metrics.json", {
        "test": metrics, "baselines": baselines, "published": published, "training": training, "data": data_report,
        "wall_seconds": time.perf_counter() - context["start"]})
    (stage / "README.md").write_text(artifacts.model_card(card))


def write_classification_run(final: Path, config, data, scorer, tokenizer, prompts: dict, words: list[str], result,
                             context: dict, progress: bool) -> tuple[dict, dict]:
    """Scores the test split, fits the classification baselines and writes the run directory.

    Returns:
        ``(test metrics, baselines)``.
    """
    import pandas as pd

    from .baselines import run_baselines
    from .engine import predict_proba
    from .metrics import classification_metrics, plot_confusion_matrix, plot_loss

    labels, test = data.labels, data.part["test"]
    baselines = run_baselines(*data.part["train"], *test, labels)
    eval_start = time.perf_counter()
    proba = predict_proba(scorer, tokenizer, prompts["test"], progress=progress).numpy()
    pred = proba.argmax(1).tolist()
    metrics = classification_metrics(test[1], pred, labels, proba)
    eval_seconds = time.perf_counter() - eval_start
    examples, counts = [], {i: 0 for i in range(len(labels))}
    for seq, y in zip(*test):
        if counts[y] < 2:
            examples.append({"sequence": seq, "label": labels[y]})
            counts[y] += 1
    with artifacts.staged_run_dir(final) as stage:
        frame = pd.DataFrame({"sequence": test[0], "label": [labels[i] for i in test[1]],
                              "predicted": [labels[i] for i in pred]})
        for j, name in enumerate(labels):
            frame[f"p_{name}"] = proba[:, j].round(6)
        frame.to_csv(stage / "predictions.csv", index=False)
        plot_confusion_matrix(metrics["confusion_matrix"], labels, stage / "confusion_matrix.png",
                              f"{config.name}: test split (n={metrics['n']})")
        plot_loss(result.loss_history, result.val_history, stage / "training.png")
        task = {"labels": labels, "label_words": words, "label_token_ids": scorer.label_ids.tolist(),
                "classifier": scorer.classifier, "examples": examples}
        if scorer.classifier == "linear":
            from .engine import CLASSIFIER_HEAD_FILE

            scorer.save_head(stage / CLASSIFIER_HEAD_FILE)
            task["head_file"] = CLASSIFIER_HEAD_FILE
        _write_common(stage, config, data, tokenizer, scorer, result, context, metrics, baselines, task,
                      {"labels": labels, "label_words": words}, eval_seconds)
    return metrics, baselines


def write_regression_run(final: Path, config, data, scorer, tokenizer, prompts: dict, scaler, result,
                         context: dict, progress: bool) -> tuple[dict, dict]:
    """Scores the test split, fits the regression baselines and writes the run directory.

    Returns:
        ``(test metrics in target units, baselines)``.
    """
    import pandas as pd

    from .baselines import run_regression_baselines
    from .metrics import plot_loss, plot_scatter, regression_metrics
    from .regression import HEAD_FILE, predict_standardised

    test, target = data.part["test"], config.columns.label
    baselines = run_regression_baselines(*data.part["train"], *test)
    eval_start = time.perf_counter()
    pred = scaler.invert(predict_standardised(scorer, tokenizer, prompts["test"])).tolist()
    metrics = regression_metrics(test[1], pred)
    eval_seconds = time.perf_counter() - eval_start
    order = sorted(range(len(test[1])), key=lambda i: test[1][i])
    picks = sorted({order[0], order[len(order) // 2], order[-1]})
    examples = [{"sequence": test[0][i], "value": test[1][i]} for i in picks]
    with artifacts.staged_run_dir(final) as stage:
        scorer.save_head(stage / HEAD_FILE, scaler)
        pd.DataFrame({"sequence": test[0], "target": test[1], "predicted": [round(p, 6) for p in pred]}).to_csv(
            stage / "predictions.csv", index=False)
        plot_scatter(test[1], pred, stage / "scatter.png", f"{config.name}: test split (n={metrics['n']})", target)
        plot_loss(result.loss_history, result.val_history, stage / "training.png", "MSE (standardised)",
                  "validation Spearman")
        task = {"target": target, "scaler": scaler.to_dict(), "head_file": HEAD_FILE, "examples": examples}
        _write_common(stage, config, data, tokenizer, scorer, result, context, metrics, baselines, task,
                      {"target": target, "scaler": scaler.to_dict()}, eval_seconds)
    return metrics, baselines
