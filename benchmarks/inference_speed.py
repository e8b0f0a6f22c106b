"""Benchmark: in-silico mutagenesis and gradient attribution, today's code and the fast path side by side.

Run as:

    python benchmarks/inference_speed.py --run-dir RUN_DIR [--length 200] [--rounds 2]

Today's code (kept callable as :func:`workbench.serving.mutagenesis.reference_mutagenesis` on a predictor loaded
with ``merge=False``: a full forward pass per variant through the unmerged PEFT adapter) and the new default
(:func:`workbench.serving.mutagenesis.saturation_mutagenesis` on the default predictor: each variant runs
only its suffix on the reference's key/value cache) score the same random ``--length``-nt sequence in the same
process, interleaved A B B A per round (timings are noisy where other jobs share the cores); medians are reported
with their ratio, and the largest |difference| of the two (4, L) delta maps. Input × gradient attribution
(:func:`workbench.serving.attribution.input_x_gradient`) is timed on the same sequence. ``--precision``: ``auto``
(the default: bfloat16 autocast on a CPU with AVX512-BF16/AMX, else float32), ``fp32`` or ``bf16``; the fast path
merges the adapter only in float32 (see ``Predictor.load``).

Results: ``benchmarks/results/inference_speed.json`` (the ``mutagenesis_<precision>`` key) and ``inference_speed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from machine import vector_extension

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> str:
    """``arch, N CPU cores (flags), Python X`` and the GPU where one is present."""
    import torch

    isa = vector_extension() or "AVX2"
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores ({isa}), Python {platform.python_version()}{gpu}"


def update_results(key: str, value: dict, results: Path = RESULTS) -> dict:
    """Sets ``key`` in ``inference_speed.json`` (keeping the other parts) and rewrites the Markdown note.

    Args:
        key: The part to set, e.g. ``mutagenesis_fp32`` or ``batch``.
        value: Its figures.
        results: Directory of ``inference_speed.json`` and ``inference_speed.md`` (default: benchmarks/results).

    Returns:
        Every part of the JSON file after the update.
    """
    path = results / "inference_speed.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = value
    results.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    (results / "inference_speed.md").write_text(report(data))
    return data


def mutagenesis(run_dir: Path, length: int, rounds: int, seed: int, precision: str) -> dict:
    """Times today's mutagenesis against the fast path, A B B A per round, and compares their values."""
    import numpy as np

    from workbench.serving.attribution import input_x_gradient
    from workbench.serving.mutagenesis import reference_mutagenesis, saturation_mutagenesis
    from workbench.serving.predictor import Predictor

    today = Predictor.load(run_dir, precision, merge=False)
    fast = Predictor.load(run_dir, precision)
    rng = random.Random(seed)
    seq = "".join(rng.choice("ACGT") for _ in range(length))
    saturation_mutagenesis(fast, seq[:20]), reference_mutagenesis(today, seq[:20])  # warm-up
    times: dict[str, list[float]] = {"today": [], "fast": []}
    results = {}
    for _ in range(rounds):
        for which in ("today", "fast", "fast", "today"):
            result = (reference_mutagenesis(today, seq) if which == "today" else saturation_mutagenesis(fast, seq))
            times[which].append(result.seconds)
            results[which] = result
            print(which, round(result.seconds, 2), flush=True)
    attr = [input_x_gradient(fast, seq, results["today"].target).seconds for _ in range(3)]
    diff = float(np.abs(results["today"].delta - results["fast"].delta).max())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"length_nt": length, "variants": results["fast"].variants, "rounds": rounds,
            "precision": precision, "merged": any(getattr(m, "merged", False) for m in fast.scorer.model.modules()),
            "today_median_s": round(med["today"], 2), "fast_median_s": round(med["fast"], 2),
            "speedup": round(med["today"] / med["fast"], 2), "today_runs_s": [round(t, 2) for t in times["today"]],
            "fast_runs_s": [round(t, 2) for t in times["fast"]], "max_abs_delta_difference": diff,
            "max_abs_delta": float(np.abs(results["today"].delta).max()),
            "attribution_median_s": round(statistics.median(attr), 3)}


def report(data: dict) -> str:
    """The results as a Markdown note."""
    lines = ["# Inference speed: mutagenesis, attribution, batch scoring\n"]
    for m in (data.get(k) for k in ("mutagenesis_fp32", "mutagenesis_auto", "mutagenesis_bf16")):
        if not m:
            continue
        lines += [f"## Mutagenesis, precision {m['precision']} (adapter merged in the fast path: {m['merged']})\n",f"`{m['command']}` on {m['machine']}, {m['date']}; run `{m['run_dir']}` ({m['base_model']}, "
                  f"{m['num_layers']} layers kept). Today's code and the fast path in one process, interleaved "
                  f"A B B A x {m['rounds']}; medians.\n",
                  "| sequence | variants | today (full pass per variant, unmerged adapter) | fast (prefix KV cache, "
                  "merged adapter) | speed-up | max abs difference of the delta maps (largest abs delta) | "
                  "input × gradient attribution |", "|---|---|---|---|---|---|---|",
                  f"| {m['length_nt']} nt | {m['variants']} | {m['today_median_s']} s | {m['fast_median_s']} s | "
                  f"{m['speedup']}x | {m['max_abs_delta_difference']:.2e} ({m['max_abs_delta']:.3f}) | "
                  f"{m['attribution_median_s']} s |\n",
                  f"Runs (s): today {m['today_runs_s']}, fast {m['fast_runs_s']}.\n"]
    for b in (data.get(k) for k in ("batch", "batch_real")):
        if not b:
            continue
        lines += [f"## Batch scoring\n\n`{b['command']}` on {b['machine']}, {b['date']}.\n",
                  "| model | rows | engine | seconds | rows/s | x single process |", "|---|---|---|---|---|---|"]
        for r in b["rows"]:
            lines.append(f"| {r['model']} | {r['rows']:,} | {r['engine']} | {r['seconds']} | {r['rows_per_s']} | "
                         f"{r['ratio']} |")
        lines.append("")
        lines += [f"- {note}" for note in b.get("notes", [])] + [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="Directory of inference_speed.json and .md (default: benchmarks/results).")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    task = json.loads((args.run_dir / "task.json").read_text())
    result = mutagenesis(args.run_dir, args.length, args.rounds, args.seed, args.precision)
    result.update(run_dir=str(args.run_dir), base_model=task["base_model"]["spec"], num_layers=task.get("num_layers"),
                  machine=machine(), date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  command=" ".join(["python", "benchmarks/inference_speed.py", *sys.argv[1:]]))
    print(json.dumps(result, indent=1))
    update_results(f"mutagenesis_{args.precision}", result, args.results)


if __name__ == "__main__":
    main()
