"""Runs the splice preset (or another sequence preset, ``--config``) with overrides and appends one row per run
to a results table.

Each row records the overrides, the command that produced it, test accuracy/MCC, the one-hot
baseline on the same split, the best validation accuracy, training seconds and steps/s.

Run as::

    python benchmarks/splice_recipes.py --tag spaced --set train.epochs=2
    python benchmarks/splice_recipes.py --tag unspaced --set task.spaced=false --set train.epochs=2
    python benchmarks/splice_recipes.py --tag quickstart --record ~/.cache/workbench/runs/splice \
        --command "workbench quickstart"      # add the row of a run made elsewhere
    for s in 0 1 2; do python benchmarks/splice_recipes.py --tag e4 --set train.epochs=4 --set train.seed=$s; done
    python benchmarks/splice_recipes.py --summary   # mean +- std over seeds per tag -> results/splice_recipes.md
    ENHANCER_DIR=../shared/data/enhancers python benchmarks/splice_recipes.py --config configs/enhancers.yaml \
        --results benchmarks/results/enhancer_recipes.jsonl --tag default   # the second task, default recipe

The data split (``data.seed``) stays fixed so every row is scored on the same test split; ``train.seed``
varies adapter initialisation and batch order. The summary reports seed-to-seed spread (std) beside the
mean of the per-run bootstrap intervals (test-split uncertainty).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def main(argv: list[str] | None = None) -> dict:
    """Parses flags, runs one configuration, appends its row; returns the row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="Short name of this configuration (free text); required unless --summary.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override with a dotted key, e.g. train.epochs=2 (YAML value); repeatable.")
    parser.add_argument("--config", default=str(REPO / "configs" / "splice.yaml"), help="Preset to start from.")
    parser.add_argument("--record", default=None, metavar="RUN_DIR",
                        help="Record an existing run directory instead of training (no run is made).")
    parser.add_argument("--command", default=None, help="With --record: the command that produced RUN_DIR.")
    parser.add_argument("--results", default=str(HERE / "results" / "splice_recipes.jsonl"),
                        help="JSON-lines file the row is appended to.")
    parser.add_argument("--summary", action="store_true",
                        help="Summarise --results by tag into a Markdown table beside it (no run is made).")
    parser.add_argument("--target", type=float, default=0.93,
                        help="With --summary: validation accuracy (0-1) whose first crossing is reported as "
                             "time-to-target, in minutes of training loop (rows recorded with val_seconds only).")
    args = parser.parse_args(argv)
    if args.summary:
        return summarise(Path(args.results), args.target)
    if not args.tag:
        parser.error("--tag is required to run or record a configuration.")

    import yaml

    import workbench  # noqa: F401  (offline defaults)
    from workbench import load_config, setup
    from workbench import paths
    from workbench.config import parse_overrides
    from workbench.data.samples import load_splice_into_sqlite

    if args.record:
        run_dir = Path(args.record).expanduser()
        overrides = {"(recorded run)": str(run_dir)}
        seconds = None
        command = args.command or f"(run directory {run_dir})"
    else:
        db = paths.home() / "warehouse.db"
        load_splice_into_sqlite(db)
        os.environ["WAREHOUSE_URL"] = f"sqlite:///{db}"
        overrides = parse_overrides(args.set)
        overrides.setdefault("name", f"bench-{args.tag}")
        start = time.perf_counter()
        run_dir = setup(load_config(args.config, overrides), progress=False).run_dir
        seconds = time.perf_counter() - start
        command = "python benchmarks/splice_recipes.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    tr = metrics["training"]
    row = {
        "tag": args.tag,
        "overrides": overrides,
        "command": command,
        "config": {"lora": saved["lora"], "task": saved["task"], "train": saved["train"]},
        "test_accuracy": metrics["test"]["accuracy"],
        "test_mcc": metrics["test"]["mcc"],
        "test_ci95": metrics["test"].get("ci95"),
        "seed": saved["train"]["seed"],
        "test_n": metrics["test"]["n"],
        "onehot_baseline_accuracy": metrics["baselines"]["onehot_logreg"]["accuracy"],
        "kmer_baseline_accuracy": metrics["baselines"]["kmer_logreg"]["accuracy"],
        "baseline_accuracy": {k: v["accuracy"] for k, v in metrics["baselines"].items() if k != "majority"},
        "vs_baselines": metrics["test"].get("vs_baselines"),  # accuracy difference + paired-bootstrap 95 % CI
        "best_val_accuracy": tr["best_val_accuracy"],
        "val_history": tr["val_history"],
        "val_seconds": tr.get("val_seconds"),
        "train_seconds": tr["seconds"],
        "steps": tr["steps"],
        "steps_per_second": tr["steps"] / tr["seconds"],
        "tokens_per_second": tr["tokens_seen"] / tr["seconds"],
        "trainable_parameters": tr["trainable_parameters"],
        "precision": tr["precision"],
        "backend": tr["backend"],
        "run_wall_seconds": metrics["wall_seconds"] if seconds is None else seconds,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=2))
    return row


def time_to_target(row: dict, target: float) -> float | None:
    """Minutes of training loop until the validation accuracy first reached ``target`` (None if never/unrecorded)."""
    for (_, score), seconds in zip(row["val_history"], row.get("val_seconds") or []):
        if score >= target:
            return seconds / 60
    return None


def versus(group: list[dict]) -> str:
    """The summary's difference column: per run, the paired-bootstrap difference from that run's strongest baseline
    (of those it recorded: one-hot and k-mer logistic regression in older rows, the SVMs too since they joined),
    averaged over the runs, and how many runs' intervals exclude 0 (``–`` for rows without intervals)."""
    import statistics

    picked = []
    for row in group:
        vs = row.get("vs_baselines") or {}
        accuracy = row.get("baseline_accuracy") or {"onehot_logreg": row["onehot_baseline_accuracy"],
                                                    "kmer_logreg": row["kmer_baseline_accuracy"]}
        if accuracy and all(name in vs for name in accuracy):
            picked.append(vs[max(accuracy, key=accuracy.get)])
    if not picked:
        return "–"
    mean = lambda xs: statistics.fmean(xs)  # noqa: E731
    above = sum(p["ci95"][0] > 0 for p in picked)
    return (f"{mean(p['difference'] for p in picked):+.4f} [{mean(p['ci95'][0] for p in picked):+.4f}, "
            f"{mean(p['ci95'][1] for p in picked):+.4f}]; CI above 0 in {above}/{len(picked)}")


def summarise(results: Path, target: float = 0.93) -> dict:
    """Groups result rows by tag and writes ``<results>.md``: seeds, mean +- std of test accuracy and MCC.

    Args:
        results: The JSON-lines file written by this script.
        target: Validation accuracy for the time-to-target column.

    Returns:
        ``{tag: {"seeds": n, "accuracy_mean": ..., "accuracy_std": ..., ...}}``.
    """
    import statistics

    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["tag"], []).append(row)
    out = {}
    lines = ["| tag | seeds | test accuracy (mean ± std) | MCC (mean ± std) | mean 95 % bootstrap CI (accuracy) | "
             "one-hot baseline | k-mer baseline | "
             "difference from the strongest recorded baseline, mean [mean 95 % CI] | "
             "train min / run | min to val ≥ {target} | command |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines[0] = lines[0].replace("{target}", f"{target:g}")
    for tag, group in groups.items():
        acc = [r["test_accuracy"] for r in group]
        mcc = [r["test_mcc"] for r in group]
        cis = [r["test_ci95"]["accuracy"] for r in group if r.get("test_ci95")]
        std = (lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0)
        out[tag] = {"seeds": len(group), "accuracy_mean": statistics.fmean(acc), "accuracy_std": std(acc),
                    "mcc_mean": statistics.fmean(mcc), "mcc_std": std(mcc)}
        times = [t for t in (time_to_target(r, target) for r in group) if t is not None]
        ttt = f"{statistics.fmean(times):.1f}" if times else "–"
        ci = (f"[{statistics.fmean(c[0] for c in cis):.4f}, {statistics.fmean(c[1] for c in cis):.4f}]"
              if cis else "–")
        lines.append(f"| {tag} | {len(group)} | {out[tag]['accuracy_mean']:.4f} ± {out[tag]['accuracy_std']:.4f} | "
                     f"{out[tag]['mcc_mean']:.4f} ± {out[tag]['mcc_std']:.4f} | {ci} | "
                     f"{statistics.fmean(r['onehot_baseline_accuracy'] for r in group):.4f} | "
                     f"{statistics.fmean(r['kmer_baseline_accuracy'] for r in group):.4f} | {versus(group)} | "
                     f"{statistics.fmean(r['train_seconds'] for r in group) / 60:.1f} | {ttt} | "
                     f"`{group[-1]['command']}` |")
    md = results.with_suffix(".md")
    title = results.stem.replace("_", " ").capitalize()
    md.write_text(f"# {title}\n\nWritten by `python benchmarks/splice_recipes.py --summary --results benchmarks/results/{results.name}` "
                  f"from `{results.name}` (one row per run). The baseline columns are logistic regression; rows "
                  "written since 2026-12-06 also record the RBF SVMs, with every baseline's C chosen on validation, "
                  "and their difference column is from the strongest of the four (older rows: from the stronger "
                  "logistic regression at its fixed C).\n\n" + "\n".join(lines) + "\n")
    print(md.read_text())
    return out


if __name__ == "__main__":
    main()
