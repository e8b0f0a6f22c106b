"""The genome language model protocol (issue 31): pretrain on unlabelled human DNA, then build the splice and
enhancer predictors from (a) today's default start, (b) the genome LM, (c) (a) with task-adaptive pretraining, at
100 % and 10 % of the training labels, 3 seeds each, beside the tuned classical baselines fitted on the same rows.

Run as::

    python benchmarks/genome_lm.py --rows pretrain-lora-s0 pretrain-rows-s0      # pretraining rows
    python benchmarks/genome_lm.py --rows 'splice-*-10-s*' 'enhancers-*-10-s*'   # predictor rows (fnmatch)
    python benchmarks/genome_lm.py --rows 'splice-*_e32-10-s*'   # the same rows with a 32-epoch supervised phase
    python benchmarks/genome_lm.py --rows 'splice-*_e32late-10-s*'   # ... and patience counted from half-way
    python benchmarks/genome_lm.py --list                                       # every row id and its command
    python benchmarks/genome_lm.py --report     # -> benchmarks/results/genome_lm.{jsonl,md} from the run directories

Every row is one ``workbench run`` (its command is in the results), written under ``--out`` (default
``$WORKBENCH_HOME/bench/genome_lm``); a row whose run directory is complete is not run again, so an interrupted
protocol continues where it stopped. Protocol: ``data.seed`` 0 for every predictor row (one fixed test split per
task, never used for selection); ``train.seed`` 0/1/2 varies the adapter's initialisation, the batch order and the
stratified 10 % label subset; the genome LM is the pretraining variant with the lower *validation* bits per base.
``train.threads 1`` throughout, so that two rows run side by side on a 2-core CPU (or several sessions share one,
docs/shared-machines.md); step plans do not depend on machine load, so contention changes only the wall times.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEEDS = (0, 1, 2)
PRETRAIN = {"lora": [], "rows": ["task.train_dna_rows=true"]}
PRETRAIN_STEPS = 750            # per variant: 2 x 750 steps ~ an hour of pretraining on this shared CPU
TAPT_STEPS = 200                # (c): causal-LM steps on the task's own sequences before the supervised phase
TASKS = {"splice": "configs/splice.yaml", "enhancers": "configs/enhancers.yaml"}
STARTS = ("default", "genomelm", "tapt")
LABELS = {"100": 1.0, "10": 0.1}
# Longer supervised phases, as rows of their own (``<task>-<start>_<variant>-<labels>-s<seed>``) at 10 % labels for the
# default and genome-LM starts: the 16-epoch preset stopped the genome-LM start while it was still improving. ``e32late``
# also counts early stopping's patience only in the second half of the plan: at 32 epochs the genome-LM start of seed 1
# sat near the class prior until patience stopped it at step 154 of 448 (test 0.575).
SUPERVISED = {"e32": ["train.epochs=32"], "e32late": ["train.epochs=32", "train.early_stopping_start=0.5"]}
PARENT = {"e32late": "e32"}     # a variant that adds one setting to another: the report pairs their rows too


def out_root(args) -> Path:
    home = Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "workbench")
    return Path(args.out) if args.out else home / "bench" / "genome_lm"


def predictor(root: Path, task: str, start: str, variant: str, labels: str, seed: int,
              extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The ``workbench run`` arguments of one predictor row, ``<task>-<start>[_<variant>]-<labels>-s<seed>``; ``extra``
    are the variant's ``--set`` overrides, after the row's own."""
    name = f"{task}-{start}{'_' + variant if variant else ''}-{labels}-s{seed}"
    sets = [f"name={name}", f"output_dir={root / 'runs'}", f"train.seed={seed}", "train.threads=1",
            "registry.track=false", f"train.label_fraction={LABELS[labels]}"]
    sets += ["model.base_model=@GENOME_LM@"] if start == "genomelm" else []
    sets += [f"train.pretrain_steps={TAPT_STEPS}"] if start == "tapt" else []
    return [TASKS[task]] + [x for s in [*sets, *extra] for x in ("--set", s)]


def rows(root: Path) -> dict[str, list[str]]:
    """Row id -> its ``workbench run`` argument list (after ``workbench run``)."""
    out = {}
    for variant, extra in PRETRAIN.items():
        name = f"pretrain-{variant}-s0"
        out[name] = ["configs/genome_lm.yaml", "--set", f"name={name}", "--set", f"output_dir={root / 'runs'}",
                     "--set", f"train.max_steps={PRETRAIN_STEPS}", "--set", "train.threads=1",
                     "--set", "registry.track=false"] + [x for e in extra for x in ("--set", e)]
    for task in TASKS:
        for start in STARTS:
            for labels in LABELS:
                if start == "tapt" and labels == "100":
                    continue  # (c) is asked at 10 % only
                for seed in SEEDS:
                    out[f"{task}-{start}-{labels}-s{seed}"] = predictor(root, task, start, "", labels, seed)
        for variant, extra in SUPERVISED.items():
            for start in ("default", "genomelm"):
                for seed in SEEDS:
                    name = f"{task}-{start}_{variant}-10-s{seed}"
                    out[name] = predictor(root, task, start, variant, "10", seed, extra)
    return out


def genome_lm(root: Path) -> Path:
    """The pretraining run with the lower validation bits per base (never the test split), or ``$GENOME_LM`` (a run
    directory) where the predictor rows had to start before every pretraining row finished (the report names the
    run each row started from)."""
    if os.environ.get("GENOME_LM"):
        return Path(os.environ["GENOME_LM"])
    done = [d for d in (root / "runs").glob("pretrain-*-s0") if (d / "metrics.json").is_file()]
    if not done:
        raise SystemExit("no pretraining run is complete yet: run the pretrain-* rows first.")
    return min(done, key=lambda d: json.loads((d / "metrics.json").read_text())["training"]["best_val_score"])


def environment(root: Path) -> dict:
    """The environment every row runs with: the splice warehouse (built once) and the enhancer files."""
    from workbench.data.samples import load_splice_into_sqlite

    db = root / "warehouse.db"
    if not db.is_file():
        root.mkdir(parents=True, exist_ok=True)
        load_splice_into_sqlite(db)
    return {**os.environ, "WAREHOUSE_URL": f"sqlite:///{db}", "PYTHONPATH": str(REPO),
            "ENHANCER_DIR": os.environ.get("ENHANCER_DIR", str(REPO.parent / "shared" / "data" / "enhancers")),
            "GENOME_DIR": os.environ.get("GENOME_DIR", str(REPO.parent / "shared" / "data" / "genome"))}


def run_rows(patterns: list[str], root: Path) -> None:
    """Runs every row matching ``patterns`` whose run directory is not complete yet, one after another."""
    table, env = rows(root), environment(root)
    for name, argv in table.items():
        if not any(fnmatch.fnmatch(name, p) for p in patterns) or (root / "runs" / name / "metrics.json").is_file():
            continue
        if any("@GENOME_LM@" in a for a in argv):
            argv = [a.replace("@GENOME_LM@", str(genome_lm(root))) for a in argv]
        log = root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"{name}: workbench run {shlex.join(argv)}", flush=True)
        with log.open("w") as handle:
            code = subprocess.run([sys.executable, "-m", "workbench", "run", *argv], cwd=REPO, env=env,
                                  stdout=handle, stderr=subprocess.STDOUT).returncode
        (root / "runs" / f"{name}.command").write_text("workbench run " + shlex.join(argv) + "\n")
        print(f"{name}: exit {code}; log {log}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=[], help="Row ids or fnmatch patterns to run.")
    parser.add_argument("--out", default=None, help="Where the runs go (default $WORKBENCH_HOME/bench/genome_lm).")
    parser.add_argument("--list", action="store_true", help="Print every row id and its command.")
    parser.add_argument("--report", action="store_true", help="Write benchmarks/results/genome_lm.{jsonl,md}.")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "genome_lm",
                        help="With --report: path stem of the JSON-lines and Markdown results "
                             "(default benchmarks/results/genome_lm).")
    args = parser.parse_args(argv)
    root = out_root(args)
    if args.list:
        for name, cmd in rows(root).items():
            print(f"{name}\tworkbench run {shlex.join(cmd)}")
    if args.rows:
        run_rows(args.rows, root)
    if args.report:
        from genome_lm_report import write_report

        write_report(root, rows(root), args.results, PARENT)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
