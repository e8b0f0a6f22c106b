"""The default recipe under a random split against a group split (whole chromosomes or GenBank loci), with the tuned
classical baselines on the same splits and each split's leakage counts: one row per run, and the summary table.

Run as::

    for s in 0 1 2; do
      python benchmarks/split_leakage.py --task splice --split random --seed $s
      python benchmarks/split_leakage.py --task splice --split group --seed $s
      ENHANCER_DIR=../shared/data/enhancers python benchmarks/split_leakage.py --task enhancers --split random --seed $s
      ENHANCER_DIR=../shared/data/enhancers python benchmarks/split_leakage.py --task enhancers --split group --seed $s
    done
    python benchmarks/split_leakage.py --summary      # -> benchmarks/results/split_leakage.md

A random cell is the same run as benchmarks/genome_lm.py's ``<task>-default-100-s<seed>`` row; record that run
instead of training it again (the config is checked: split, task, ``train.seed``, all labels)::

    python benchmarks/split_leakage.py --task splice --split random --seed 0 --from-run RUNS/splice-default-100-s0

The splits: splice ``random`` is the preset (configs/splice.yaml, stratified 70/10/20, data.seed 0); splice ``group``
keeps each GenBank locus (the ``Donor`` column's name before ``-DONOR``/``-ACCEPTOR``/``-NEG``, e.g. ``HUMA1ATP``)
in one split; enhancers ``random`` is configs/enhancers.yaml, enhancers ``group`` is
configs/enhancers_by_chromosome.yaml (whole chromosomes from the FASTA headers). Both group splits are drawn
stratified by label with data.seed 0 (workbench/data/groups.py). ``--seed`` is ``train.seed`` (adapter
initialisation and batch order); the split stays fixed, so the baselines are the same in every seed's row.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

from machine import describe

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "split_leakage.jsonl"
LOCUS = r"^(.+?)-(?:DONOR|ACCEPTOR|NEG)"
CELLS = {
    ("splice", "random"): ("configs/splice.yaml", {}),
    ("splice", "group"): ("configs/splice.yaml", {
        "source.query": "SELECT Sequence, Class, Donor FROM splice ORDER BY id", "data.split": "group",
        "data.group_column": "Donor", "data.group_pattern": LOCUS}),
    ("enhancers", "random"): ("configs/enhancers.yaml", {}),
    ("enhancers", "group"): ("configs/enhancers_by_chromosome.yaml", {}),
}


def run(task: str, split: str, seed: int, results: Path, extra: dict | None = None) -> dict:
    """Trains one cell with ``train.seed = seed`` (plus ``extra`` config overrides, e.g. ``train.threads``, which
    change neither the split nor the step plan) and appends its row to ``results``."""
    import logging

    import workbench  # noqa: F401  (offline defaults)
    from workbench import load_config, paths, setup
    from workbench.data.samples import load_splice_into_sqlite

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = paths.home() / "warehouse.db"
    load_splice_into_sqlite(db)
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{db}"
    config, overrides = CELLS[(task, split)]
    overrides = {**overrides, "train.seed": seed, "name": f"bench-split-{task}-{split}-s{seed}",
                 "registry.track": False, **(extra or {})}
    start = time.perf_counter()
    result = setup(load_config(REPO / config, overrides), progress=False)
    return record(task, split, seed, result.run_dir, results, overrides, time.perf_counter() - start)


def record(task: str, split: str, seed: int, run_dir: Path, results: Path, overrides: dict | None = None,
           seconds: float | None = None) -> dict:
    """Appends the row of a finished run directory to ``results``. Used by :func:`run` and by ``--from-run``, which
    records a run another protocol trained with the same cell (e.g. benchmarks/genome_lm.py's
    ``splice-default-100-s0`` is this script's splice random cell with ``train.seed`` 0 and ``train.threads`` 1).

    Raises:
        SystemExit: If the run's saved config is not the cell's (another split, task or ``train.seed``).
    """
    import yaml

    config, _ = CELLS[(task, split)]
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    cell_source = yaml.safe_load((REPO / config).read_text())["source"]["kind"]
    problems = [f"{key} is {got!r}, the cell needs {want!r}" for key, got, want in (
        ("source.kind", saved["source"]["kind"], cell_source), ("data.split", saved["data"].get("split", "random"), "group" if split == "group" else "random"),
        ("train.seed", saved["train"]["seed"], seed), ("train.label_fraction",
                                                        saved["train"].get("label_fraction", 1.0), 1.0))
                if got != want]
    if problems:
        raise SystemExit(f"{run_dir} is not the {task}/{split} cell with seed {seed}: " + "; ".join(problems))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data, tr = metrics["data"], metrics["training"]
    row = {"task": task, "split": split, "seed": seed, "config": config, "overrides": overrides or {},
           "run_dir": str(run_dir),
           "command": "python benchmarks/split_leakage.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
           "test_n": metrics["test"]["n"], "test_accuracy": metrics["test"]["accuracy"],
           "test_mcc": metrics["test"]["mcc"], "test_ci95": metrics["test"]["ci95"],
           "baselines": {k: {"accuracy": v["accuracy"], "mcc": v["mcc"], "C": v.get("C")}
                         for k, v in metrics["baselines"].items()},
           "vs_baselines": metrics["test"].get("vs_baselines"), "sizes": data["split"]["sizes"],
           "class_counts": data["split"]["class_counts"], "groups": data["split"].get("groups"),
           "leakage": data["leakage"], "steps": tr["steps"], "train_seconds": tr["seconds"],
           "precision": tr["precision"], "backend": tr["backend"],
           "run_seconds": seconds if seconds is not None else metrics.get("wall_seconds"),
           "machine": describe(),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps({k: row[k] for k in ("task", "split", "seed", "test_accuracy", "sizes")}))
    return row


def _leak(row: dict) -> str:
    pair = row["leakage"]["pairs"]["train~test"]
    n = row["sizes"]["test"]
    return (f"{pair['near']['test']} ({pair['near']['test'] / n:.1%}) / {pair['exact']}")


def _groups(row: dict) -> str:
    """`` (chr12, chr14, ...)`` naming a group split's test groups (their count where there are many), else empty."""
    test = (row.get("groups") or {}).get("test")
    if not test:
        return ""
    return f" ({', '.join(test)})" if len(test) <= 8 else f" ({len(test)} groups)"


def summarise(results: Path) -> str:
    """Writes ``<results>.md``: per task and split, the model's mean ± std over seeds beside the baselines (the same
    split in every seed), the paired-bootstrap difference from the strongest baseline, and the leakage counts."""
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    cells: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        cells.setdefault((row["task"], row["split"]), []).append(row)
    lines = ["| task | split | test n (groups) | test rows sharing a 20-mer with train / identical | seeds | this model, "
             "accuracy (mean ± std) | kmer_svm | onehot_svm | kmer_logreg | onehot_logreg | difference from the "
             "strongest baseline, mean [mean 95 % CI] | train min / run (wall, shared machine) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (task, split), group in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] != "random")):
        acc = [r["test_accuracy"] for r in group]
        base = group[0]["baselines"]
        best = max((k for k in base if k != "majority"), key=lambda k: base[k]["accuracy"])
        diffs = [r["vs_baselines"][best] for r in group]
        mean = statistics.fmean
        spread = f"± {statistics.stdev(acc):.4f}" if len(acc) > 1 else "(1 seed)"
        lines.append(f"| {task} | {split} | {group[0]['test_n']}{_groups(group[0])} | {_leak(group[0])} | "
                     f"{', '.join(str(r['seed']) for r in group)} | {mean(acc):.4f} {spread} | "
                     + " | ".join(f"{base[k]['accuracy']:.4f}" for k in ("kmer_svm", "onehot_svm", "kmer_logreg",
                                                                         "onehot_logreg"))
                     + f" | {mean(d['difference'] for d in diffs):+.4f} [{mean(d['ci95'][0] for d in diffs):+.4f}, "
                     f"{mean(d['ci95'][1] for d in diffs):+.4f}] vs {best} | "
                     f"{mean(r['train_seconds'] for r in group) / 60:.1f} |")
    missing = [f"python benchmarks/split_leakage.py --task {t} --split {sp} --seed {seed}" for seed in (0, 1, 2)
               for (t, sp) in CELLS if not any(r["seed"] == seed for r in cells.get((t, sp), []))]
    commands = sorted({r["command"] for r in rows})
    machines = sorted({r["machine"] for r in rows})
    text = ("# Random split vs group split\n\nWritten by `python benchmarks/split_leakage.py --summary` from "
            f"`{results.name}` (one row per run; the header of benchmarks/split_leakage.py says how each split is "
            "made). Machine: " + "; ".join(machines) + ". Leakage: test rows sharing a stretch of at least 20 nt "
            "(either strand) with a training row, and test sequences identical to a training one "
            "(workbench/data/leakage.py). The baselines are fitted on the same training rows with C chosen on the "
            "same validation rows; the difference column is each run's paired-bootstrap interval (1,000 resamples "
            "of its test rows) against the strongest baseline, averaged over the seeds. A random and a group row score different test rows: "
            "compare the model with the baselines within a row, and each across the two rows.\n\n" + "\n".join(lines)
            + "\n\nCommands:\n\n" + "\n".join(f"- `{c}`" for c in commands) + "\n"
            + ("\nNot run yet (3 seeds per cell planned; the enhancer commands need ENHANCER_DIR):\n\n"
               + "\n".join(f"- `{c}`" for c in missing) + "\n" if missing else ""))
    out = results.with_suffix(".md")
    out.write_text(text)
    print(text)
    return text


def main(argv: list[str] | None = None) -> None:
    """Parses the flags; runs one cell or writes the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["splice", "enhancers"])
    parser.add_argument("--split", choices=["random", "group"])
    parser.add_argument("--seed", type=int, default=0, help="train.seed of the run.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON-lines file the row is appended to.")
    parser.add_argument("--summary", action="store_true", help="Write the Markdown table beside --results.")
    parser.add_argument("--from-run", type=Path, default=None, metavar="RUN_DIR",
                        help="Record this finished run directory as the cell's row instead of training one.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Extra config override, e.g. train.threads=1 where two runs share the CPU; repeatable.")
    args = parser.parse_args(argv)
    if args.summary:
        summarise(args.results)
    elif not (args.task and args.split):
        parser.error("give --task and --split (or --summary)")
    elif args.from_run:
        record(args.task, args.split, args.seed, args.from_run, args.results)
    else:
        extra = dict(item.split("=", 1) for item in args.set)
        run(args.task, args.split, args.seed, args.results, extra)


if __name__ == "__main__":
    main()
