"""What the leakage report costs: on the quickstart's splice split (every run computes it), and on 100,000 windows of
200 nt, overlapping windows of a real genome stretch and unrelated random rows, with the cluster split's components.

Run as::

    python benchmarks/leakage_index.py          # -> benchmarks/results/leakage_index.{json,md}
    python benchmarks/leakage_index.py --rows 2000 --out /tmp/leakage_index   # a smaller check, elsewhere

Windows: 100,000 start positions drawn at random (seed 0) in the first 2.33 Mb of human chr2
(/work/shared/data/genome/hg38_chr2_1-2333275.fa.gz; GRCh38, soft-masked, upper-cased here; windows with N left out),
so each base is covered about 9 times: the overlapping-window case a random split rewards. Random rows: 100,000
uniform A/C/G/T rows of 200 nt, where every shared 20-mer is chance (about m^2 / (2 * 4^20) of the m k-mer pairs:
~150 at this size). Each figure is the median of 3 repeats; peak memory is tracemalloc's (numpy allocations
included). The machine is shared with other jobs: the wall times are upper bounds of a quiet machine's, the CPU
times (one thread) close to them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from machine import cpu_model

HERE = Path(__file__).resolve().parent
GENOME = Path(os.environ.get("GENOME_FA", HERE.parent.parent / "shared" / "data" / "genome" /
                             "hg38_chr2_1-2333275.fa.gz"))


def _timed(fn, repeats: int = 3) -> tuple[dict, float, object]:
    """Median wall and CPU seconds over ``repeats`` calls (``{"wall", "cpu"}``), peak traced MiB of the last, and its
    result. The index runs on one thread, so on a machine shared with other jobs its CPU seconds are close to what a
    quiet machine's wall clock would show."""
    wall, cpu = [], []
    for i in range(repeats):
        if i == repeats - 1:
            tracemalloc.start()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}, peak, result


def _splits(rows: list[str], seed: int = 0) -> dict[str, list[str]]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(rows))
    n_test, n_val = len(rows) // 5, len(rows) // 10
    pick = lambda ix: [rows[i] for i in ix]  # noqa: E731
    return {"train": pick(order[n_test + n_val:]), "validation": pick(order[n_test:n_test + n_val]),
            "test": pick(order[:n_test])}


def genome_windows(n: int = 100_000, width: int = 200, seed: int = 0) -> list[str]:
    """``n`` windows of ``width`` nt at random positions of the genome stretch (windows with N skipped)."""
    import numpy as np

    with gzip.open(GENOME, "rt") as handle:
        genome = "".join(line.strip() for line in handle if not line.startswith(">")).upper()
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        for start in rng.integers(0, len(genome) - width, size=n):
            window = genome[start:start + width]
            if "N" not in window:
                out.append(window)
                if len(out) == n:
                    break
    return out


def quickstart_split() -> tuple[dict[str, list[str]], float]:
    """The quickstart preset's three splits (configs/splice.yaml on the bundled data) and the read + split seconds."""
    from workbench import load_config, paths
    from workbench.data.samples import load_splice_into_sqlite
    from workbench.tasks import get_task

    db = paths.home() / "warehouse.db"
    load_splice_into_sqlite(db)
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{db}"
    task = get_task("classification")(load_config(HERE.parent / "configs" / "splice.yaml"))
    start = time.perf_counter()
    _, part, *_ = task.read_and_split()
    return {name: part[name][0] for name in ("train", "validation", "test")}, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    """Measures every case and writes the JSON and Markdown results.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``): ``--rows`` (genome windows and random rows of the
            two large cases, 100,000) and ``--out`` (path stem of the results, benchmarks/results/leakage_index).

    Returns:
        The results written to ``OUT.json``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000,
                        help="Genome windows and random rows of 200 nt in each of the two large cases.")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "leakage_index",
                        help="Path stem of the JSON and Markdown results (default benchmarks/results/leakage_index).")
    args = parser.parse_args(argv)
    import numpy as np

    import workbench  # noqa: F401  (offline defaults)
    from workbench.data.leakage import kmer_components, leakage_report

    cases = []
    splice, read_seconds = quickstart_split()
    seconds, peak, report = _timed(lambda: leakage_report(splice, 20))
    rows = sum(map(len, splice.values()))
    cases.append({"case": f"quickstart splice split ({rows:,} rows of 60 nt)", "rows": rows,
                  "report_seconds": seconds, "peak_mib": peak, "read_and_split_seconds": read_seconds,
                  "test_rows_sharing_a_20mer_with_train": report.pairs["train~test"]["near"]["test"]})
    rng = np.random.default_rng(0)
    n = args.rows
    for name, rows in ((f"{n:,} overlapping windows of 200 nt (hg38 chr2 stretch)", genome_windows(n)),
                       (f"{n:,} random rows of 200 nt", ["".join(r) for r in rng.choice(list("ACGT"),
                                                                                        size=(n, 200))])):
        splits = _splits(rows)
        seconds, peak, report = _timed(lambda: leakage_report(splits, 20))
        comp_seconds, comp_peak, components = _timed(lambda: kmer_components(rows, 20), repeats=1)
        sizes = np.bincount(components)
        cases.append({"case": name, "rows": len(rows), "report_seconds": seconds, "peak_mib": peak,
                      "test_rows_sharing_a_20mer_with_train": report.pairs["train~test"]["near"]["test"],
                      "components_seconds": comp_seconds, "components_peak_mib": comp_peak,
                      "clusters": int(len(sizes)), "largest_cluster_rows": int(sizes.max())})
    command = " ".join(["python benchmarks/leakage_index.py", *(sys.argv[1:] if argv is None else argv)])
    result = {"command": command, "machine": f"{platform.machine()}, "
              f"{os.cpu_count()} cores, {cpu_model()}", "python": sys.version.split()[0], "cases": cases,
              "date": time.strftime("%Y-%m-%d %H:%M")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| case | rows | leakage report, s CPU (s wall) | peak MiB | test rows sharing a 20-mer with train | "
             "cluster split: components s CPU (s wall) / clusters / largest |", "|---|---|---|---|---|---|"]
    for c in cases:
        t = c["report_seconds"]
        comp = (f"{c['components_seconds']['cpu']:.1f} ({c['components_seconds']['wall']:.1f}) / {c['clusters']:,} / "
                f"{c['largest_cluster_rows']:,}" if "clusters" in c else "–")
        lines.append(f"| {c['case']} | {c['rows']:,} | {t['cpu']:.2f} ({t['wall']:.2f}) | {c['peak_mib']:.0f} | "
                     f"{c['test_rows_sharing_a_20mer_with_train']:,} | {comp} |")
    note = (f"Quickstart: reading and splitting the source took {cases[0]['read_and_split_seconds']:.1f} s and the "
            f"report {cases[0]['report_seconds']['wall']:.2f} s, against a run of about 14 min.")
    args.out.with_suffix(".md").write_text(
        f"# Leakage report cost\n\nCommand: `{result['command']}` ({result['date']})\n\nMachine: {result['machine']} "
        "(shared with other jobs while measured: times are upper bounds)\n\n" + "\n".join(lines) + f"\n\n{note}\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
