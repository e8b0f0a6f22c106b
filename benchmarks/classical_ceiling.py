"""How far the classical models reach on a task's seeded split, and where they all fail: the bar a fine-tuned
model has to clear, measured without training anything.

Fits the run's own baselines (``workbench.evaluation.baselines.run_baselines``: logistic regressions and RBF SVMs
on k-mer and one-hot features, each ``C`` chosen on the validation split) on the config's split, then reports

- each baseline's validation and test accuracy and its chosen ``C``;
- the *hard rows*: test rows that both of the two best baselines on validation get wrong;
- for each given fine-tuned run: its test accuracy, its paired-bootstrap difference from the best baseline on
  validation, and how many of the hard rows it gets wrong too.

Run as::

    python benchmarks/classical_ceiling.py --config configs/splice.yaml \\
        --out benchmarks/results/classical_ceiling_splice
    ENHANCER_DIR=../shared/data/enhancers python benchmarks/classical_ceiling.py --config configs/enhancers.yaml \\
        --out benchmarks/results/classical_ceiling_enhancers [--runs RUN_DIR ...]

``--runs`` takes finished classification run directories of the same config (their ``predictions.csv`` is read).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def config_splits(config_path: Path) -> tuple[list[str], dict[str, tuple[list[str], list[int]]]]:
    """``(labels, {split: (sequences, class indices)})`` exactly as a run of this config splits its rows."""
    from workbench import load_config
    from workbench.tasks import get_task

    cfg = load_config(config_path)
    _, part, _, _, extra, _ = get_task("classification")(cfg).read_and_split()  # any data.split, as a run does
    return extra["labels"], part


def main(argv: list[str] | None = None) -> dict:
    """Measures the classical bar on one config's split; writes ``OUT.json`` and ``OUT.md``."""
    from workbench.evaluation.baselines import run_baselines
    from workbench.evaluation.metrics import paired_difference_ci

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="A classification preset (its data and split).")
    parser.add_argument("--out", type=Path, required=True, help="Path stem of the JSON and Markdown results.")
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="Finished runs of this config to compare.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    labels, part = config_splits(args.config)
    (train, val, test) = (part["train"], part["validation"], part["test"])
    metrics, predictions = run_baselines(*train, *test, labels, return_predictions=True, val_seqs=val[0],
                                         val_y=val[1])
    y = np.array(test[1])
    ranked = sorted((n for n in metrics if n != "majority"), key=lambda n: -metrics[n]["val_accuracy"])  # stable
    hard = (np.array(predictions[ranked[0]]) != y) & (np.array(predictions[ranked[1]]) != y)  # (rows,)
    result = {"config": str(args.config), "n_test": len(y), "seconds": round(time.perf_counter() - start, 1),
              "baselines": {n: {"C": metrics[n]["C"], "val_accuracy": metrics[n]["val_accuracy"],
                                "test_accuracy": metrics[n]["accuracy"], "test_mcc": metrics[n]["mcc"]}
                            for n in ranked},
              "best_on_validation": ranked[0], "hard_rows": int(hard.sum()), "runs": []}
    for run_dir in args.runs:
        import pandas as pd

        frame = pd.read_csv(run_dir / "predictions.csv")
        if list(frame["sequence"]) != test[0]:
            raise SystemExit(f"{run_dir}/predictions.csv is not this config's test split; pass runs of {args.config}.")
        pred = np.array([labels.index(p) for p in frame["predicted"]])
        training = json.loads((run_dir / "metrics.json").read_text())["training"]
        result["runs"].append({"run": f"{run_dir.name} ({training['steps']} steps, {training['precision']}, "
                                      f"{training['backend']})", "test_accuracy": float((pred == y).mean()),
                               "vs_best_on_validation": paired_difference_ci(y.tolist(), pred.tolist(),
                                                                             predictions[ranked[0]]),
                               "hard_rows_wrong": int((pred[hard] != y[hard]).sum())})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result, args))
    print(markdown(result, args))
    return result


def markdown(result: dict, args) -> str:
    """The results as Markdown: one row per baseline, the hard rows, then one row per fine-tuned run."""
    runs = " --runs ..." if result["runs"] else ""
    lines = [f"# Classical ceiling: {result['config']}", "",
             f"Written by `python benchmarks/classical_ceiling.py --config {result['config']} --out {args.out}{runs}` "
             f"({result['seconds']:.0f} s on 2 cores). Each C is chosen by validation accuracy; the test split is "
             f"only scored (n = {result['n_test']}).", "",
             "| baseline | C | validation accuracy | test accuracy | test MCC |", "|---|---|---|---|---|"]
    for name, b in result["baselines"].items():
        lines.append(f"| {name} | {b['C']:g} | {b['val_accuracy']:.4f} | {b['test_accuracy']:.4f} "
                     f"| {b['test_mcc']:.4f} |")
    best, hard, n = result["best_on_validation"], result["hard_rows"], result["n_test"]
    lines += ["", f"Hard rows (wrong for both of the two best baselines on validation): {hard} of {n}; the best on "
              f"validation is {best}."]
    if result["runs"]:
        lines += ["", f"| fine-tuned run | test accuracy | difference from {best} [95 % CI] | hard rows also wrong |",
                  "|---|---|---|---|"]
        for r in result["runs"]:
            v = r["vs_best_on_validation"]
            lines.append(f"| {r['run']} | {r['test_accuracy']:.4f} | {v['difference']:+.4f} [{v['ci95'][0]:+.4f}, "
                         f"{v['ci95'][1]:+.4f}] | {r['hard_rows_wrong']} of {hard} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
