"""Peak memory of reading, tiling and batching a pretraining corpus does not grow with the corpus: the 2.3 Mb
chr2 stretch and a synthetic FASTA 50 times larger, each tiled into a fresh store and then read as 2,000 random
training batches, in a fresh process whose peak resident set size (``ru_maxrss``) is recorded.

Run as::

    python benchmarks/corpus_memory.py [--scale 50] [--tmp /tmp/corpus_memory]

The synthetic FASTA (gzip, under ``--tmp``, never in git) holds ``scale`` records, each the chr2 stretch with
every base replaced at random with probability 0.1 (seeded), so its windows are not copies. Results:
``benchmarks/results/corpus_memory.{json,md}``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GENOME = REPO.parent / "shared" / "data" / "genome" / "hg38_chr2_1-2333275.fa.gz"
CHILD = """
import json, random, resource, sys, time
from pathlib import Path
from workbench.data.corpus import Tiling
from workbench.data.corpus_store import CorpusSpec, build_store
path, root, only_import = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
out = {"rss_after_import_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if not only_import:
    start = time.perf_counter()
    store = build_store(CorpusSpec(fasta=[path], tiling=Tiling(), strands="both"), root)
    out["tile_seconds"] = time.perf_counter() - start
    out["windows"] = store.manifest["windows"]
    out["bases"] = store.manifest["counts"]["bases"]
    rng, n = random.Random(0), store.count("train")
    start = time.perf_counter()
    for _ in range(2000):
        store.read("train", [rng.randrange(n) for _ in range(16)])
    out["read_seconds_2000_batches"] = time.perf_counter() - start
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def synthetic(path: Path, scale: int, genome: Path = GENOME) -> Path:
    """Writes ``scale`` mutated copies of the chr2 stretch (or ``genome``) as one gzip FASTA (streamed: one line at a
    time)."""
    if path.is_file():
        return path
    rng = random.Random(0)
    tmp = path.with_suffix(".partial")
    with gzip.open(genome, "rt") as source:
        lines = [line.strip() for line in source if not line.startswith(">")]
    with gzip.open(tmp, "wt", compresslevel=1) as out:
        for record in range(scale):
            out.write(f">synthetic{record}\n")
            for line in lines:
                out.write("".join(rng.choice("ACGT") if rng.random() < 0.1 and c != "N" else c for c in line) + "\n")
    tmp.rename(path)
    return path


def measure(fasta: Path, root: Path, only_import: bool = False) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(fasta), str(root), "1" if only_import else "0"],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--tmp", default="/tmp/corpus_memory")
    parser.add_argument("--genome", type=Path, default=GENOME,
                        help="gzip FASTA to tile and to copy into the synthetic one (default: the chr2 stretch).")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "corpus_memory",
                        help="Path stem of the JSON and Markdown results (default benchmarks/results/corpus_memory).")
    args = parser.parse_args()
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    big = synthetic(tmp / f"synthetic_x{args.scale}.fa.gz", args.scale, args.genome)
    made = time.perf_counter() - start
    real = "chr2:1-2,333,275 (2.3 Mb)" if args.genome == GENOME else args.genome.name
    rows = {"imports only": measure(args.genome, tmp / "store-import", only_import=True),
            real: measure(args.genome, tmp / f"store-{time.time_ns()}"),
            f"synthetic, {args.scale} x larger": measure(big, tmp / f"store-{time.time_ns()}")}
    cpu = cpu_model()
    result = {"command": " ".join(["python benchmarks/corpus_memory.py", *sys.argv[1:]]), "machine": cpu,
              "synthetic_file_mb": big.stat().st_size / 1e6, "synthetic_seconds": made, "rows": rows}
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Peak memory of streaming a pretraining corpus", "",
             f"Written by `{result['command']}` on {cpu} (shared with three other sessions). Each row is a fresh "
             "process: tile the corpus into a new store (window 100, stride 100, both strands, Markov-5 counts), then "
             "read 2,000 random batches of 16 training windows. Peak RSS is `ru_maxrss`.", "",
             "| corpus | bases | windows (train/validation/test) | tiling s | 2,000 batches s | peak RSS MB |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        windows = "/".join(str(v) for v in r["windows"].values()) if "windows" in r else "–"
        lines.append(f"| {name} | {r.get('bases', 0):,} | {windows} | {r.get('tile_seconds', 0):.0f} | "
                     f"{r.get('read_seconds_2000_batches', 0):.1f} | {r['peak_rss_mb']:.0f} |")
    a, b = rows[real], rows[f"synthetic, {args.scale} x larger"]
    lines += ["", f"Peak RSS grew by {round(b['peak_rss_mb'] - a['peak_rss_mb']) + 0:+d} MB for {b['bases'] / a['bases']:.0f} "
              f"times the bases (imports alone: {rows['imports only']['peak_rss_mb']:.0f} MB): reading and tiling "
              "hold one line, one window and one batch of 4,096 windows for the Markov counts, whatever the size."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
