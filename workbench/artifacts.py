"""Atomic run directories and the model card.

A run is written into a hidden staging directory beside its final place and renamed
into place only when complete, so an interrupted run never leaves a directory that
looks finished. A previous run of the same name is kept, renamed with its timestamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

REQUIRED_FILES = ("README.md", "config.yaml", "metrics.json", "predictions.csv",
                  "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json",
                  "task.json", "lineage.json")
TASK_FILES = {"classification": ("confusion_matrix.png",), "regression": ("regression_head.safetensors", "scatter.png")}


def write_json(path: Path, data: Any) -> None:
    """Writes JSON atomically (temp file in the same directory, then ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, default=str)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staged_run_dir(final: Path) -> Iterator[Path]:
    """Yields a staging directory that becomes ``final`` only if the block succeeds.

    On success an existing ``final`` is renamed to ``<final>-<its mtime as YYYYmmdd-HHMMSS>``
    (nothing is deleted) and the staging directory is renamed to ``final``. On any
    exception the staging directory is removed and ``final`` is untouched.

    Args:
        final: The run directory to create.

    Yields:
        The staging directory path (same parent as ``final``).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if final.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(final.stat().st_mtime))
        backup = final.with_name(f"{final.name}-{stamp}")
        n = 1
        while backup.exists():
            backup, n = final.with_name(f"{final.name}-{stamp}-{n}"), n + 1
        final.rename(backup)
    stage.rename(final)


def missing_files(run_dir: Path) -> list[str]:
    """Returns the required run-directory files that are absent (empty list = complete).

    The task-specific files (:data:`TASK_FILES`) follow ``task.json``'s ``type`` (classification if absent).
    """
    run_dir = Path(run_dir)
    kind, extra = "classification", ()
    if (run_dir / "task.json").is_file():
        task = json.loads((run_dir / "task.json").read_text())
        kind = task.get("type", "classification")
        extra = (task["head_file"],) if kind == "classification" and task.get("head_file") else ()
    return [f for f in REQUIRED_FILES + TASK_FILES.get(kind, ()) + extra if not (run_dir / f).is_file()]


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _classification_results(info: dict[str, Any]) -> str:
    m, base = info["metrics"], info["base_model"]
    rows = [("this model (LoRA, " + base["name"] + ")", m)] + [(k, v) for k, v in info["baselines"].items()]
    table = "\n".join(
        f"| {name} | {_fmt(v['accuracy'])} | {_fmt(v['macro_f1'])} | {_fmt(v['mcc'])} | {_fmt(v.get('auroc', '–'))} |"
        for name, v in rows)
    published = ""
    if info.get("published"):
        pub = info["published"]
        published = (f"\n\nPublished results on the same data (different split; {pub['source']}):\n\n"
                     "| method | test accuracy |\n|---|---|\n"
                     + "\n".join(f"| {k} | {v:.3f} |" for k, v in pub["test_accuracy"].items()))
    per_class = "\n".join(
        f"| {k} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |"
        for k, v in m["per_class"].items())
    ci = m.get("ci95") or {}
    ci = (f"\nThis model's 95 % bootstrap intervals (test rows resampled 1,000 times; split uncertainty only): "
          f"accuracy [{ci['accuracy'][0]:.4f}, {ci['accuracy'][1]:.4f}], MCC [{ci['mcc'][0]:.4f}, {ci['mcc'][1]:.4f}].\n"
          if ci else "")
    return f"""## Test-split results (n = {m['n']}; never used for model selection)

| model | accuracy | macro-F1 | MCC | AUROC |
|---|---|---|---|---|
{table}
{ci}{published}

Per class (this model):

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{per_class}

![confusion matrix](confusion_matrix.png)
"""


def _regression_results(info: dict[str, Any]) -> str:
    m, base = info["metrics"], info["base_model"]
    rows = [("this model (LoRA + linear head, " + base["name"] + ")", m)] + list(info["baselines"].items())
    table = "\n".join(
        f"| {name} | {_fmt(v['mse'])} | {_fmt(v['rmse'])} | {_fmt(v['mae'])} | {_fmt(v['r2'])} | "
        f"{_fmt(v['pearson'])} | {_fmt(v['spearman'])} |" for name, v in rows)
    return f"""## Test-split results (n = {m['n']}; never used for model selection)

Target `{info['target']}`, in its own units (standardised with the training mean {info['scaler']['mean']:.4g} and
std {info['scaler']['std']:.4g} for training; predictions are mapped back).

| model | MSE | RMSE | MAE | R² | Pearson | Spearman |
|---|---|---|---|---|---|---|
{table}

![predicted vs true](scatter.png)
"""


def model_card(info: dict[str, Any]) -> str:
    """Renders the run's model card (``README.md``) as Markdown.

    Args:
        info: Keys ``name``, ``date``, ``task_type`` (``classification`` if absent), ``base_model`` (dict),
            ``lineage`` (dict), ``data_report``, ``config`` (dict), ``metrics`` (test metrics),
            ``baselines`` (name -> metrics), ``published`` (dict or None), ``training`` (dict),
            ``versions`` (name -> version), ``labels`` and ``label_words`` (classification), ``target``
            and ``scaler`` (regression).

    Returns:
        Markdown text.
    """
    base, lin, cfg, tr = info["base_model"], info["lineage"], info["config"], info["training"]
    regression = info.get("task_type") == "regression"
    lora, train = cfg["lora"], cfg["train"]
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    dr = info["data_report"]
    what = (f"DNA sequence regression (target `{info['target']}`)" if regression
            else f"DNA sequence classification ({', '.join(info['labels'])})")
    split_how = (f"stratified by {cfg['data']['quantile_bins']} target quantile bins" if regression
                 and cfg["data"]["quantile_bins"] >= 2 else "shuffled" if regression else "stratified by label")
    head = ("linear regression head on the last prompt token, MSE on standardised targets" if regression
            else f"label words {info['label_words']}")
    stop = (f"; stopped early (patience {train['early_stopping_patience']} evaluations)" if tr.get("stopped_early")
            else "")
    resumed = f"; resumed from the checkpoint at step {tr['resumed_from_step']}" if tr.get("resumed_from_step") else ""
    results = _regression_results(info) if regression else _classification_results(info)
    return f"""# {info['name']}

A LoRA adapter for {what}, trained with the private
fine-tuning workbench on {info['date']}.

## Base model
- {base['name']} ({base['source_kind']}), sha256 `{base['sha256']}`
- source: `{base['source']}`

## Data
- connector: `{lin['kind']}` at `{lin['location']}`
- query: `{lin['query'] or '–'}`
- rows read: {lin['rows']} (columns {lin['columns']}); fingerprint sha256 `{lin['fingerprint']}`
- IUPAC ambiguity policy `{dr['ambiguity']['policy']}`: {dr['ambiguity']['rows_with_ambiguous']} rows had codes
  {dr['ambiguity']['codes']}, {dr['ambiguity']['rows_dropped']} dropped
- duplicates policy `{dr['split']['policy']}`: {dr['split']['duplicate_rows_dropped']} repeated rows and
  {dr['split']['conflicting_sequences_dropped']} conflicting sequences dropped; sequences in more than one split:
  {dr['split']['cross_split_duplicates']}
- split sizes {dr['split']['sizes']} ({split_how}, seed {cfg['data']['seed']}); fingerprint of rows used `{dr['rows_used_fingerprint']}`
{('- ' + info['citation']) if info.get('citation') else ''}

## Training
- backend: {tr['backend']} ({tr['backend_reason']}); precision {tr['precision']}; {tr['threads']} CPU threads / device {tr['device']}
- LoRA r={lora['r']}, lora_alpha={lora['lora_alpha']}, dropout {lora['lora_dropout']}, modules {lora['target_modules']},
  layers >= {lora['first_layer']}; trainable parameters {tr['trainable_parameters']:,}
- {train['epochs']} epochs, lr {train['learning_rate']}, batch {train['batch_size']}, warm-up {train['warmup_ratio']},
  seed {train['seed']}; {tr['steps']} of {tr['planned_steps']} planned steps in {tr['seconds']:.0f} s{stop}{resumed};
  best validation {tr['val_metric']} {tr['best_val_score']:.4f} at step {tr['best_step']} (weights kept from that step)
- prompt: spaced={cfg['task']['spaced']}, template `{cfg['task']['prompt']!r}`, {head}

{results}
## Software
{versions}
"""
