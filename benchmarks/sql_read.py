"""Benchmark: read a 1,000,000-row PostgreSQL table with the SQL connector and with plain ``pandas.read_sql``.

Run as:

    python benchmarks/sql_read.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--rows 1000000]

Creates the table ``bench_sql_read_<rows>`` (id, sequence of 60 random nt, label; seeded, loaded with
COPY) if it is absent, then reads it in one run, each read in a fresh subprocess:

* ``connector``: ``data_connectors.read_source`` (server-side cursor, 10,000-row chunks, streamed into an
  on-disk Arrow file with the sha256 fingerprint, then memory-mapped as a ``datasets.Dataset``);
* ``pandas``: ``pandas.read_sql(sqlalchemy.text(query), engine)`` (the whole result in memory).

Both read the full table and its first quarter (``WHERE id <= rows/4``), so the table shows how peak memory
scales with the table. Peak RSS is the child's ``ru_maxrss`` (``os.wait4``; Linux reports KiB); the child
also reports its RSS after imports, before the read. Results: ``benchmarks/results/sql_read.json`` and
``sql_read.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
mode, url, query = sys.argv[1:4]
import pandas as pd, pyarrow, sqlalchemy as sa, psycopg, datasets
import data_connectors
from data_connectors import ColumnMapping, read_source
rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == "connector":
    ds, lineage = read_source({"kind": "sql", "url": url, "query": query, "chunk_rows": 10000},
                              ColumnMapping("sequence", "label"))
    rows, extra = len(ds), {"fingerprint": lineage.fingerprint, "arrow_file_mb": round(
        sum(__import__("os").path.getsize(f["filename"]) for f in ds.cache_files) / 2**20, 1)}
else:
    engine = sa.create_engine(url)
    frame = pd.read_sql(sa.text(query), engine)
    rows, extra = len(frame), {}
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "rss_after_imports_kb": rss_imports, **extra}))
"""


def ensure_table(url: str, rows: int, seed: int = 0) -> str:
    """Creates ``bench_sql_read_<rows>`` with seeded random 60-nt sequences unless it already has ``rows`` rows."""
    import numpy as np
    import psycopg
    import sqlalchemy as sa

    table = f"bench_sql_read_{rows}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar()
        if exists and conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == rows:
            return table
    engine.dispose()
    print(f"creating {table} ({rows:,} rows) ...", flush=True)
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    labels = np.array(["EI", "IE", "N"])
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, sequence TEXT NOT NULL, label TEXT NOT NULL)")
        with cur.copy(f"COPY {table} (id, sequence, label) FROM STDIN") as copy:
            for start in range(0, rows, 100_000):
                n = min(100_000, rows - start)
                seqs = letters[rng.integers(0, 4, size=(n, 60))].view("S60").ravel()
                ys = labels[rng.integers(0, 3, size=n)]
                copy.write("".join(f"{start + i + 1}\t{s.decode()}\t{y}\n" for i, (s, y) in enumerate(zip(seqs, ys))))
        cur.execute(f"ANALYZE {table}")
    return table


def run_child(mode: str, url: str, query: str) -> dict:
    """Runs one read in a fresh interpreter; returns its report plus peak RSS from ``os.wait4``."""
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env = {**os.environ, "WORKBENCH_HOME": home, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, url, query], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} child failed ({proc.returncode}):\n{err[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    report.update(mode=mode, peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
                  rss_after_imports_mb=round(report.pop("rss_after_imports_kb") / 1024, 1),
                  rows_per_s=round(report["rows"] / report["seconds"]))
    report["read_growth_mb"] = round(report["peak_rss_mb"] - report["rss_after_imports_mb"], 1)
    report["seconds"] = round(report["seconds"], 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="Directory of sql_read.json and sql_read.md (default: benchmarks/results).")
    args = parser.parse_args()
    table = ensure_table(args.url, args.rows)
    results = []
    for rows, where in ((args.rows // 4, f" WHERE id <= {args.rows // 4}"), (args.rows, "")):
        query = f"SELECT sequence, label FROM {table}{where}"
        for mode in ("connector", "pandas"):
            print(f"reading {rows:,} rows with {mode} ...", flush=True)
            results.append({"table_rows": rows, "query": query, **run_child(mode, args.url, query)})
    full = {r["mode"]: r for r in results if r["table_rows"] == args.rows}
    ours, theirs = full["connector"], full["pandas"]
    ratios = {"rows_per_s_connector_over_pandas": round(ours["rows_per_s"] / theirs["rows_per_s"], 2),
              "peak_rss_connector_over_pandas": round(ours["peak_rss_mb"] / theirs["peak_rss_mb"], 2),
              "read_growth_connector_over_pandas": round(ours["read_growth_mb"] / theirs["read_growth_mb"], 2)}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "url": args.url.split("@")[-1],
            "command": f"python benchmarks/sql_read.py --rows {args.rows}"}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "sql_read.json").write_text(json.dumps({"meta": meta, "results": results, "ratios": ratios},
                                                           indent=2))
    header = "| rows | reader | seconds | rows/s | peak RSS (MB) | RSS after imports (MB) | growth during read (MB) |"
    lines = [header, "|" + "---|" * 7]
    for r in results:
        lines.append(f"| {r['table_rows']:,} | {r['mode']} | {r['seconds']} | {r['rows_per_s']:,} | "
                     f"{r['peak_rss_mb']} | {r['rss_after_imports_mb']} | {r['read_growth_mb']} |")
    lines.append("")
    lines.append(f"Ratios at {args.rows:,} rows (connector / pandas): "
                 f"rows/s {ratios['rows_per_s_connector_over_pandas']}, "
                 f"peak RSS {ratios['peak_rss_connector_over_pandas']}, growth during read "
                 f"{ratios['read_growth_connector_over_pandas']}.")
    table_md = "\n".join(lines)
    (args.results / "sql_read.md").write_text(f"# SQL read benchmark\n\n`{meta['command']}` on {meta['date']} "
                                         f"({meta['machine']}, Python {meta['python']}, PostgreSQL at "
                                         f"{meta['url']}).\n\n{table_md}\n")
    print(table_md)


if __name__ == "__main__":
    main()
