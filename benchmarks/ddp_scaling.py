"""Data-parallel scaling: training tokens/s of 1 process and of N processes side by side, on the same machine.

Each run is a real ``workbench run`` of the main job's preset (``configs/splice.yaml``: bundled SmolLM2-135M,
first 4 decoder layers, LoRA r=64, bundled splice data in a SQLite warehouse) for ``--epochs`` of training,
with the same global batch. What differs is how the machine's cores are used:

- ``1 x T``: one process with all T cores (``train.threads=T``), the single-process baseline;
- ``N x T/N``: ``--nproc N`` through torchrun, T/N threads per rank, gloo (CPU) or NCCL (CUDA) all-reduce;
- ``1 x T/N``: one process with one rank's threads, to tell the gain of data parallelism from that of running
  fewer threads per process (on a small model, torch's intra-op threading can cost more than it gives).

Both go through transformers + PEFT (``train.backend=peft``), since multi-process runs do, so the backend is
not what is compared. The figure per run is ``tokens_seen / (loop seconds - validation seconds)`` from the
run's ``metrics.json``: the prompt tokens of every training step, across all ranks, per second of training
(model loading, baselines, validation and the test evaluation excluded). Runs go in ABBA order (``--repeats``
pairs) so that drift of the machine's load hits both alike; the ratio is N-process / 1-process of the medians.

Results go to ``--out`` (JSON lines) and a table in the same name with ``.md``.

Run as::

    nice -n 19 .venv/bin/python benchmarks/ddp_scaling.py                 # 1 x 2 vs 2 x 1 on a 2-core CPU
    .venv/bin/python benchmarks/ddp_scaling.py --nproc 4 --threads 16     # a 16-core machine, 4 ranks
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(nproc: int, threads: int, args, home: Path, out: Path) -> dict:
    name = f"ddp{nproc}-{time.time_ns()}"
    cmd = [sys.executable, "-m", "workbench", "run", str(REPO / args.config), "--nproc", str(nproc),
           "--set", f"name={name}", "--set", f"output_dir={out}", "--set", f"train.epochs={args.epochs}",
           "--set", f"train.threads={threads}", "--set", "train.backend=peft", "--set", "train.save_every=0",
           "--set", "train.eval_every=0"]
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
           "PYTHONPATH": str(REPO)}
    began = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"run failed ({' '.join(cmd)}):\n{done.stderr[-3000:]}")
    metrics = json.loads((out / name / "metrics.json").read_text())
    t = metrics["training"]
    train_s = t["seconds"] - t.get("validation_seconds", 0.0)
    return {"layout": f"{nproc} x {threads}", "nproc": nproc, "threads_per_rank": threads, "steps": t["steps"],
            "tokens": t["tokens_seen"], "train_seconds": round(train_s, 2), "tokens_per_s": round(t["tokens_seen"] / train_s, 1),
            "wall_seconds": round(time.perf_counter() - began, 1), "val_accuracy": t["best_val_score"],
            "device": t["device"], "backend": t["backend"]}


def main() -> None:
    """Runs the side-by-side comparison and writes the JSON lines and the table."""
    cores = os.cpu_count() or 1
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/splice.yaml", help="Run config, relative to the repository.")
    p.add_argument("--nproc", type=int, default=2, help="Processes of the data-parallel layout (>= 2).")
    p.add_argument("--threads", type=int, default=cores, help="CPU threads in all (default: all cores); the "
                   "N-process layout gives each rank threads // nproc.")
    p.add_argument("--epochs", type=float, default=0.15, help="Epochs of training per run (0.15 = ~150 steps of "
                   "the splice preset's batch).")
    p.add_argument("--repeats", type=int, default=1, help="ABBA pairs (each pair = 2 runs of each layout).")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ddp_scaling.jsonl",
                   help="JSON-lines output; the table goes beside it as .md.")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ddp_bench_"))
    subprocess.run([sys.executable, "-m", "workbench", "load-sample-data", "--db", str(home / "warehouse.db")],
                   env={**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(REPO)}, check=True,
                   capture_output=True)
    per_rank = max(1, args.threads // args.nproc)
    layouts = [(1, args.threads), (args.nproc, per_rank)] + ([(1, per_rank)] if per_rank != args.threads else [])
    rows = []
    for _ in range(args.repeats):
        for nproc, threads in layouts + layouts[::-1]:
            row = _run(nproc, threads, args, home, home / "runs")
            print(json.dumps(row), flush=True)
            rows.append(row)
    same = lambda r, lay: (r["nproc"], r["threads_per_rank"]) == lay  # noqa: E731
    med = {lay: statistics.median(r["tokens_per_s"] for r in rows if same(r, lay)) for lay in layouts}
    ratio = med[layouts[1]] / med[layouts[0]]
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as fh:
        for row in rows:
            fh.write(json.dumps({"date": stamp, **row}) + "\n")
    lines = [f"# Data-parallel scaling ({stamp} UTC, {cores} cores, device {rows[0]['device']})", "",
             f"`{' '.join(sys.argv)}`: {args.config}, {args.epochs} epochs per run, {len(rows)} runs in ABBA order.",
             "", "| layout (processes x threads) | runs | median tokens/s | median train s | steps |",
             "|---|---|---|---|---|"]
    for lay in layouts:
        rs = [r for r in rows if same(r, lay)]
        lines.append(f"| {lay[0]} x {lay[1]} | {len(rs)} | {med[lay]:.0f} | "
                     f"{statistics.median(r['train_seconds'] for r in rs):.1f} | {rs[0]['steps']} |")
    lines += ["", f"Ratio {layouts[1][0]} x {layouts[1][1]} / 1 x {layouts[0][1]} tokens/s: **{ratio:.2f}x**."]
    if len(layouts) > 2:
        lines.append(f"Ratio {layouts[1][0]} x {layouts[1][1]} / 1 x {layouts[2][1]} (same threads per process): "
                     f"**{med[layouts[1]] / med[layouts[2]]:.2f}x**.")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
