"""Probes two ensembles of finished classification runs without training anything: a blend of each run with a
classical baseline, and the average of several seeds' runs. Every choice is made on the validation split.

- **blend**: ``p = (1 - w) * p_model + w * p_baseline`` with the baseline (k-mer or one-hot logistic
  regression, refitted on the run's training split) and ``w`` in 0, 0.05, ..., 0.9 chosen by validation
  log-loss (the model's probabilities are read from the run's ``validation_predictions.csv``).
- **seed ensemble**: the mean of the runs' class probabilities (every run must share the data split).

Test accuracy of each, beside the model alone, with the paired-bootstrap interval of the difference from the
stronger baseline (``workbench.evaluation.metrics.paired_difference_ci``).

Run as::

    python benchmarks/ensemble_probe.py RUN_DIR [RUN_DIR ...] --out benchmarks/results/ensemble_probe_enhancers
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

WEIGHTS = np.round(np.arange(0.0, 0.91, 0.05), 2)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-probability of the true class; ``y`` shape ``(rows,)``, ``p`` ``(rows, n_labels)``."""
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1.0)).mean())


def read_run(run_dir: Path) -> dict:
    """The run's labels, training split and validation/test probabilities (the split recomputed from its config)."""
    import pandas as pd
    from classical_ceiling import config_splits  # benchmarks/ is on sys.path when run as a script

    labels, part = config_splits(run_dir / "config.yaml")
    out = {"labels": labels, "name": run_dir.name}
    for split, csv in (("validation", "validation_predictions.csv"), ("test", "predictions.csv")):
        frame = pd.read_csv(run_dir / csv)
        if list(frame["sequence"]) != part[split][0]:
            raise SystemExit(f"{run_dir}/{csv} does not match the {split} split its config.yaml gives.")
        out[split] = (part[split][0], np.array(part[split][1]), frame[[f"p_{y}" for y in labels]].to_numpy())
    out["train"] = part["train"]
    return out


def baseline_probabilities(run: dict) -> dict[str, dict[str, np.ndarray]]:
    """``{baseline: {"validation": p, "test": p}}``, each fitted on the run's training split with ``C`` chosen on
    its validation split, as the run's own baselines are (SVM scores are softmaxed decision values)."""
    from workbench.evaluation.baselines import baseline_models, class_scores, fit_baseline

    train_seqs, train_y = run["train"]
    val = (run["validation"][0], run["validation"][1].tolist())
    out = {}
    for name, baseline in baseline_models(max(len(s) for s in train_seqs)).items():
        model = fit_baseline(baseline, (train_seqs, train_y), val)[0]
        out[name] = {split: class_scores(model, baseline.featurise(run[split][0]), len(run["labels"]))
                     for split in ("validation", "test")}
    return out


def choose_blend(y_val: np.ndarray, p_val: np.ndarray, partners: dict[str, dict[str, np.ndarray]]) -> tuple[str, float]:
    """The (baseline, weight) with the lowest validation log-loss; weight 0 = the model alone."""
    best = (log_loss(y_val, p_val), "none", 0.0)
    for name, p in partners.items():
        for w in WEIGHTS[1:]:
            best = min(best, (log_loss(y_val, (1 - w) * p_val + w * p["validation"]), name, float(w)))
    return best[1], best[2]


def score(y_test: np.ndarray, p_test: np.ndarray, partners: dict) -> dict:
    """Test accuracy and the paired-bootstrap difference from each baseline."""
    from workbench.evaluation.metrics import paired_difference_ci

    pred = p_test.argmax(1)
    return {"accuracy": round(float((pred == y_test).mean()), 4),
            "vs": {name: paired_difference_ci(y_test.tolist(), pred.tolist(), p["test"].argmax(1).tolist())
                   for name, p in partners.items()}}


def main(argv: list[str] | None = None) -> dict:
    """Scores every run alone and blended, and the seed ensemble; writes ``OUT.json`` and ``OUT.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Finished classification run directories (same split).")
    parser.add_argument("--out", type=Path, required=True, help="Path stem of the JSON and Markdown results.")
    args = parser.parse_args(argv)
    runs = [read_run(r) for r in args.runs]
    partners = baseline_probabilities(runs[0])  # the split is shared, so the baselines are too
    y_val, y_test = runs[0]["validation"][1], runs[0]["test"][1]
    rows = []
    members = [(r["name"], r["validation"][2], r["test"][2]) for r in runs]
    if len(runs) > 1:
        members.append((f"seed ensemble ({len(runs)} runs)", np.mean([r["validation"][2] for r in runs], 0),
                        np.mean([r["test"][2] for r in runs], 0)))
    for name, p_val, p_test in members:
        partner, w = choose_blend(y_val, p_val, partners)
        blended = p_test if partner == "none" else (1 - w) * p_test + w * partners[partner]["test"]
        rows.append({"model": name, "val_accuracy": round(float((p_val.argmax(1) == y_val).mean()), 4),
                     "alone": score(y_test, p_test, partners), "blend": {"partner": partner, "weight": w},
                     "blended": score(y_test, blended, partners)})
    result = {"runs": [str(r) for r in args.runs], "baselines": {n: score(y_test, p["test"], {}) for n, p in
                                                                 partners.items()}, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    """The results as a Markdown table, one row per model (each run, then the seed ensemble)."""
    base = result["baselines"]
    strongest = max(base, key=lambda n: base[n]["accuracy"])

    def cell(s: dict) -> str:
        v = s["vs"][strongest]
        return f"{s['accuracy']:.4f} ({v['difference']:+.4f} [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}])"

    runs = " ".join(f"$WORKBENCH_HOME/runs/{Path(r).name}" for r in result["runs"])
    lines = ["# Ensemble probe", "", f"Written by `python benchmarks/ensemble_probe.py {runs} --out ...` (run "
             "directories named as in the recipe tables' rows).", "", "Baselines (test accuracy): " + ", ".join(f"{n} {b['accuracy']:.4f}" for n, b in base.items())
             + f". Differences are from the stronger, {strongest}, with their paired-bootstrap 95 % interval.", "",
             "| model | val accuracy | test accuracy alone | blend chosen on validation | test accuracy blended |",
             "|---|---|---|---|---|"]
    for r in result["rows"]:
        b = r["blend"]
        chosen = "none (model alone)" if b["partner"] == "none" else f"{b['partner']}, w = {b['weight']:.2f}"
        lines.append(f"| {r['model']} | {r['val_accuracy']:.4f} | {cell(r['alone'])} | {chosen} | {cell(r['blended'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
