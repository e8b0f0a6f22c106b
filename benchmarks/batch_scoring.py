"""Benchmark: batch scoring rows/s, one process (`workbench predict --input`) vs Spark `local[2]` (`spark_udf`) on
the same Parquet table, and the peak memory of one process on a 1 M-row table.

Run as:

    python benchmarks/batch_scoring.py --tiny --rows 100000 [--rss-rows 1000000]
    python benchmarks/batch_scoring.py --run-dir RUN_DIR --rows 2000 --label "SmolLM2 4 layers"

The table holds ``--rows`` random 60-nt sequences (seeded) in a Parquet file. One process: ``workbench predict
MODEL --input table.parquet --out scores.parquet`` in a subprocess (wall time; peak RSS from ``getrusage`` of the
child). Spark: the run's pyfunc files (:func:`workbench.registry.pyfunc.build_model`) through
``mlflow.pyfunc.spark_udf(..., env_manager="local")`` on ``local[2]``, reading the same Parquet file and writing
Parquet (wall time from the read to the written result; Spark's start-up excluded). ``--tiny`` trains the test
suite's tiny random Llama on the bundled splice data first (seconds per 100k rows, so the figures show the
pipeline's own cost); ``--run-dir`` scores with a real run. ``--rss-rows`` also scores a table of that many rows
into SQLite with one process and records its peak RSS.

Results: the ``batch`` key of ``benchmarks/results/inference_speed.json`` and ``inference_speed.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from inference_speed import machine, update_results  # noqa: E402


def make_table(path: Path, rows: int, seed: int, column: str) -> Path:
    """A Parquet file of ``rows`` random 60-nt sequences in ``column`` (plus ``id``), written in slices."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    schema = pa.schema([("id", pa.string()), (column, pa.string())])
    with pq.ParquetWriter(str(path), schema) as writer:
        for first in range(0, rows, 100_000):
            n = min(100_000, rows - first)
            writer.write_table(pa.table({"id": [f"r{first + i}" for i in range(n)],
                                         column: ["".join(rng.choices("ACGT", k=60)) for _ in range(n)]}, schema=schema))
    return path


def one_process(run_dir: Path, table: Path, out: str) -> dict:
    """``workbench predict RUN_DIR --input TABLE --out/--to OUT`` in a child process: seconds and peak RSS (MiB)."""
    flag = "--to" if "#" in out else "--out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # a fresh intermediate process reports the peak RSS (KiB) of its one child: the scoring job
    wrapper = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
               "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(rc)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "workbench.cli", "predict",
                           str(run_dir), "--input", str(table), flag, out], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak = int(done.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak / 1024, 1)}


def spark(run_dir: Path, table: Path, out: Path, column: str) -> dict:
    """spark_udf on local[2] over the same Parquet table: seconds from the read to the written result."""
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import struct

    from workbench.registry.pyfunc import build_model
    from workbench.serving.table import output_columns

    model_dir = build_model(run_dir, Path(tempfile.mkdtemp(prefix="bench_pyfunc_")) / "model", with_run_files=True)
    import json

    task = json.loads((run_dir / "task.json").read_text())
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this environment's Python
    session = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.memory", "4g").getOrCreate())
    try:
        udf = mlflow.pyfunc.spark_udf(session, str(model_dir), env_manager="local",
                                      result_type=", ".join(f"{n} {k}" for n, k in output_columns(task)))
        start = time.perf_counter()
        frame = session.read.parquet(str(table))
        frame.withColumn("p", udf(struct(column))).select("id", "p.*").write.mode("overwrite").parquet(str(out))
        seconds = time.perf_counter() - start
    finally:
        session.stop()
    return {"seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rss-rows", type=int, default=0)
    parser.add_argument("--label", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="Directory of inference_speed.json and .md (default: benchmarks/results).")
    args = parser.parse_args()
    if not args.run_dir and not args.tiny:
        parser.error("give --run-dir RUN_DIR or --tiny")
    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="batch_bench_home_"))
    work = Path(tempfile.mkdtemp(prefix="batch_bench_"))
    if args.tiny:
        from demo_load import tiny_run

        run_dir, label = tiny_run(work), "tiny random Llama (2 layers, hidden 32)"
    else:
        run_dir, label = args.run_dir, args.label or str(args.run_dir)
    import json

    column = json.loads((run_dir / "task.json").read_text()).get("sequence_column") or "sequence"
    table = make_table(work / "table.parquet", args.rows, args.seed, column)
    single = one_process(run_dir, table, str(work / "scores.parquet"))
    spk = spark(run_dir, table, work / "spark_scores", column)
    rows = [{"model": label, "rows": args.rows, "engine": "1 process (workbench predict --input --out)", **single},
            {"model": label, "rows": args.rows, "engine": "Spark local[2] (mlflow spark_udf)", **spk}]
    for r in rows:
        r["rows_per_s"] = round(args.rows / r["seconds"], 1)
        r["ratio"] = round(r["rows_per_s"] / rows[0]["rows_per_s"], 2)
    key = "batch" if args.tiny else "batch_real"
    threads = os.environ.get("OMP_NUM_THREADS", "torch's default")

    def save() -> None:  # after each part, so a long run leaves what it measured
        result = {"rows": rows, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  "command": " ".join(["python", "benchmarks/batch_scoring.py", *sys.argv[1:]]),
                  "notes": [f"OMP_NUM_THREADS={threads} in every scoring process (Spark's Python workers get 1 "
                            "thread per task by default)"]
                  + [f"peak RSS of the one-process job on {r['rows']:,} rows: {r['peak_rss_mib']} MiB"
                     for r in rows if r.get("peak_rss_mib")]}
        print(json.dumps(result, indent=1), flush=True)
        update_results(key, result, args.results)

    save()
    if args.rss_rows:
        big = make_table(work / "big.parquet", args.rss_rows, args.seed + 1, column)
        rss = one_process(run_dir, big, f"sqlite:///{work / 'scores.db'}#scores")
        rows.append({"model": label, "rows": args.rss_rows, "engine": "1 process -> SQLite table", **rss,
                     "rows_per_s": round(args.rss_rows / rss["seconds"], 1), "ratio": "-"})
        save()


if __name__ == "__main__":
    main()
