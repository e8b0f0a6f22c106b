"""Sequence regression: a linear head on the pooled hidden state predicts the standardised target (MSE loss).

Run as::

    workbench make-gc-data && GC_CSV=... workbench run configs/regression.yaml
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..runs.card import fmt
from .sequence import SequenceTask, prompt_objective


def parse_targets(values: list[str], column: str) -> list[float]:
    """Parses the label column of a regression source as finite floats.

    Args:
        values: Label strings as read by the connector, shape ``(rows,)``.
        column: Source column name, for the message.

    Raises:
        ValueError: Naming the first rows whose value is not a finite number.
    """
    out, bad = [], []
    for i, v in enumerate(values):
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = float("nan")
        if x != x or x in (float("inf"), float("-inf")):
            bad.append(f"row {i}: {v!r}")
        out.append(x)
    if bad:
        raise ValueError(f"task.type is regression but column {column!r} has {len(bad)} value(s) that are not finite "
                         f"numbers ({'; '.join(bad[:5])}). Fix or filter them in the source, or use classification.")
    return out


class RegressionTask(SequenceTask):
    """``task.type: regression``: validation Spearman keeps the weights; k-mer and one-hot ridge and the training
    mean are the baselines. Not exportable (the head is not part of the LM weights)."""

    type = "regression"
    demo_builder = "build_regression_demo"
    run_files = ("predictions.csv", "regression_head.safetensors", "scatter.png")

    def split(self, sequences: list[str], labels: list, info):
        from ..data.strategies import split_sequences

        values = parse_targets(labels, self.config.columns.label)
        splits, report = split_sequences(sequences, labels, self.config.data, info, targets=values)
        part = {name: ([sequences[i] for i in ix], [values[i] for i in ix]) for name, ix in splits.items()}
        return part, splits, report, {}

    def objective(self, data, model, tokenizer, autocast, device: str):
        import numpy as np
        from scipy.stats import spearmanr

        from ..evaluation.metrics import spearman_stderr
        from ..models.regression_head import RegressionScorer, TargetScaler, predict_standardised

        self.adapt(data, model, tokenizer, autocast, device)
        self.tokenizer = tokenizer
        self.scaler = TargetScaler.fit(data.part["train"][1])
        self.scorer = RegressionScorer(model, autocast, pooling=self.config.task.pooling)
        targets = self.scaler.transform(data.part["train"][1])
        self.scorer.to(device)
        val_prompts, val_targets = self.prompts["validation"], data.part["validation"][1]

        def validate() -> float:
            pred = predict_standardised(self.scorer, tokenizer, val_prompts).numpy()
            if np.ptp(pred) == 0:
                return float("nan")
            return float(spearmanr(pred, val_targets).statistic)

        return prompt_objective(self.scorer, tokenizer, self.prompts["train"], targets.float(),
                                torch.nn.functional.mse_loss, validate if val_prompts else None, "spearman",
                                self.prompts, val_stderr=lambda rho: spearman_stderr(rho, max(len(val_prompts), 4)),
                                chance_score=0.0, chance_loss=1.0)  # a constant prediction; the standardised variance

    def baselines(self, data) -> dict:
        from ..evaluation.baselines import run_regression_baselines

        return run_regression_baselines(*data.part["train"], *data.part["test"])

    def evaluate(self, data, progress: bool) -> dict:
        from ..evaluation.metrics import regression_metrics
        from ..models.regression_head import predict_standardised

        start = time.perf_counter()
        self.pred = self.scaler.invert(predict_standardised(self.scorer, self.tokenizer, self.prompts["test"])).tolist()
        metrics = regression_metrics(data.part["test"][1], self.pred)
        self.eval_seconds = time.perf_counter() - start
        return metrics

    def write(self, stage: Path, record) -> None:
        import pandas as pd

        from ..evaluation.metrics import plot_loss, plot_scatter
        from ..models.regression_head import HEAD_FILE

        test, target, pred = record.data.part["test"], self.config.columns.label, self.pred
        order = sorted(range(len(test[1])), key=lambda i: test[1][i])
        picks = sorted({order[0], order[len(order) // 2], order[-1]})
        examples = [{"sequence": test[0][i], "value": test[1][i]} for i in picks]
        self.scorer.save_head(stage / HEAD_FILE, self.scaler)
        pd.DataFrame({"sequence": test[0], "target": test[1], "predicted": [round(p, 6) for p in pred]}).to_csv(
            stage / "predictions.csv", index=False)
        plot_scatter(test[1], pred, stage / "scatter.png", f"{self.config.name}: test split (n={record.metrics['n']})",
                     target)
        plot_loss(record.result.loss_history, record.result.val_history, stage / "training.png",
                  "MSE (standardised)", "validation Spearman")
        bins = self.config.data.quantile_bins
        train = record.data.part["train"][1]
        task = {"target": target, "scaler": self.scaler.to_dict(), "head_file": HEAD_FILE, "examples": examples,
                "target_range": {"min": float(min(train)), "max": float(max(train))}}
        card_fields = {"target": target, "scaler": self.scaler.to_dict(),
                       "what": f"DNA sequence regression (target `{target}`)",
                       "split_how": f"stratified by {bins} target quantile bins" if bins >= 2 else "shuffled",
                       "head": "linear regression head on the last prompt token, MSE on standardised targets"}
        self.write_sequence_run(stage, record, task, card_fields, results_section, self.eval_seconds)

    @staticmethod
    def summary(result) -> str:
        m, b = result.metrics, result.baselines
        return (f"test Spearman {m['spearman']:.4f}  Pearson {m['pearson']:.4f}  R2 {m['r2']:.4f}  "
                f"RMSE {m['rmse']:.4g}  (k-mer ridge R2 {b['kmer_ridge']['r2']:.4f}, one-hot ridge R2 "
                f"{b['onehot_ridge']['r2']:.4f}, train mean R2 {b['train_mean']['r2']:.4f})")

    @staticmethod
    def export_refusal(task: dict) -> str | None:
        return ("it is a regression run; export handles classification runs only so far (a regression run's linear "
                "head is not part of the LM weights). Use the run directory.")


def results_section(info: dict[str, Any]) -> str:
    """The model card's test-split results in the target's units, beside the baselines."""
    m, base = info["metrics"], info["base_model"]
    rows = [("this model (LoRA + linear head, " + base["name"] + ")", m)] + list(info["baselines"].items())
    table = "\n".join(
        f"| {name} | {fmt(v['mse'])} | {fmt(v['rmse'])} | {fmt(v['mae'])} | {fmt(v['r2'])} | "
        f"{fmt(v['pearson'])} | {fmt(v['spearman'])} |" for name, v in rows)
    return f"""## Test-split results (n = {m['n']}; never used for model selection)

Target `{info['target']}`, in its own units (standardised with the training mean {info['scaler']['mean']:.4g} and
std {info['scaler']['std']:.4g} for training; predictions are mapped back).

| model | MSE | RMSE | MAE | R² | Pearson | Spearman |
|---|---|---|---|---|---|---|
{table}

![predicted vs true](scatter.png)
"""


