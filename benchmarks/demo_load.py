"""Benchmark: a bounded load test of the demo from a second process, and the in-silico mutagenesis latency.

Run as:

    python benchmarks/demo_load.py --run-dir RUN_DIR [--clients 20 --requests 50] [--concurrency 2]
    python benchmarks/demo_load.py --tiny          # builds a tiny random Llama run first (no download)

Load test: ``workbench serve RUN_DIR`` starts in a subprocess on 127.0.0.1 with sign-in (a throw-away user
in ``WORKBENCH_DEMO_USER``/``WORKBENCH_DEMO_PASSWORD``); after one warm-up request, ``--clients`` threads of
this process, each with its own signed-in ``gradio_client.Client``, send ``--requests`` ``/classify`` (or
``/predict``) requests each of random valid sequences (seeded; the run's max length or 60 nt, whichever is
shorter). Reported: p50/p95/max latency per request, errors, throughput, and the server's RSS (psutil, or
``/proc/PID/status`` VmRSS) after the warm-up and after the load.

Mutagenesis: :func:`workbench.serving.mutagenesis.saturation_mutagenesis` in this process on random 60-nt and
200-nt sequences (3 runs each, median), the same function the demo's Mutagenesis tab calls.

Results: ``benchmarks/results/demo_load.json`` and ``demo_load.md`` (``--out`` to put them elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def tiny_run(root: Path) -> Path:
    """Trains the test suite's tiny random Llama on the bundled splice data (0.1 epoch) and returns the run dir."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import build_tiny_model_dir, tiny_run_config
    from workbench import setup, validate_config
    from workbench.data.samples import load_splice_into_sqlite

    db = root / "warehouse.db"
    load_splice_into_sqlite(db)
    cfg = tiny_run_config(db, build_tiny_model_dir(root / "tiny_llama"), root / "runs", epochs=0.1)
    return setup(validate_config(cfg), progress=False).run_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def random_sequences(n: int, length: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


def load_test(run_dir: Path, clients: int, requests: int, concurrency: int, seed: int) -> dict:
    """Serves ``run_dir`` in a subprocess and runs ``clients`` × ``requests`` requests against it."""
    import httpx
    from gradio_client import Client

    task = json.loads((run_dir / "task.json").read_text())
    api = "/predict" if task.get("type") == "regression" else "/classify"
    length = min(60, task.get("max_length", 60))
    port, user, password = free_port(), "loadtest", secrets.token_urlsafe(12)
    env = {**os.environ, "WORKBENCH_DEMO_USER": user, "WORKBENCH_DEMO_PASSWORD": password,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log = open(Path(tempfile.mkdtemp(prefix="demo_load_")) / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", str(run_dir), "--port", str(port),
                               "--concurrency", str(concurrency), "--queue-size", str(max(64, clients * 2))],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited ({server.returncode}); see {log.name}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        Client(url, auth=(user, password), verbose=False).predict(random_sequences(1, length, seed)[0], api_name=api)
        rss_before = rss_mb(server.pid)
        latencies, errors, lock = [], [], threading.Lock()

        def worker(k: int) -> None:
            try:
                client = Client(url, auth=(user, password), verbose=False)
            except Exception as exc:  # noqa: BLE001 - a client that cannot even connect fails all its requests
                with lock:
                    errors.extend([f"client {k}: {type(exc).__name__}: {exc}"[:200]] * requests)
                return
            for seq in random_sequences(requests, length, seed + 1 + k):
                start = time.perf_counter()
                try:
                    client.predict(seq, api_name=api)
                    with lock:
                        latencies.append(time.perf_counter() - start)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])

        start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rss_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {"clients": clients, "requests_per_client": requests, "server_concurrency": concurrency, "endpoint": api,
            "sequence_nt": length, "ok": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "p50_s": round(q[49], 4), "p95_s": round(q[94], 4), "max_s": round(max(latencies, default=float("nan")), 4),
            "wall_s": round(wall, 2), "throughput_rps": round(len(latencies) / wall, 2),
            "server_rss_mb_before": round(rss_before, 1), "server_rss_mb_after": round(rss_after, 1)}


def mutagenesis_latency(run_dir: Path, lengths: list[int], seed: int, repeats: int = 3) -> list[dict]:
    """Median wall time of saturation mutagenesis per sequence length, in this process."""
    from workbench.serving.mutagenesis import saturation_mutagenesis
    from workbench.serving.predictor import Predictor

    predictor = Predictor.load(run_dir)
    saturation_mutagenesis(predictor, random_sequences(1, 20, seed)[0])  # warm-up
    out = []
    for length in lengths:
        if length > predictor.task["max_length"]:
            out.append({"length_nt": length, "skipped": f"the run accepts at most {predictor.task['max_length']} nt"})
            continue
        times = [saturation_mutagenesis(predictor, s).seconds for s in random_sequences(repeats, length, seed + length)]
        out.append({"length_nt": length, "variants": 3 * length, "median_s": round(statistics.median(times), 2),
                    "runs_s": [round(t, 2) for t in times]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="Run directory to serve (classification or regression).")
    parser.add_argument("--tiny", action="store_true", help="Train the tiny random Llama run first and use it.")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="Requests per client.")
    parser.add_argument("--concurrency", type=int, default=2, help="The server's queue concurrency (--concurrency).")
    parser.add_argument("--mutagenesis", default="60,200", help="Sequence lengths to time mutagenesis on ('' = none).")
    parser.add_argument("--skip-load", action="store_true", help="Only time mutagenesis.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="Results directory.")
    args = parser.parse_args()
    if not args.run_dir and not args.tiny:
        parser.error("give --run-dir RUN_DIR or --tiny")
    os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="demo_load_home_"))
    run_dir = args.run_dir or tiny_run(Path(tempfile.mkdtemp(prefix="demo_load_tiny_")))
    task = json.loads((run_dir / "task.json").read_text())
    result = {"run_dir": str(run_dir), "base_model": task.get("base_model", {}).get("spec"),
              "num_layers": task.get("num_layers"), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
              "command": " ".join(["python", "benchmarks/demo_load.py", *sys.argv[1:]])}
    if not args.skip_load:
        result["load"] = load_test(run_dir, args.clients, args.requests, args.concurrency, args.seed)
        print(json.dumps(result["load"], indent=1), flush=True)
    lengths = [int(x) for x in args.mutagenesis.split(",") if x.strip()]
    if lengths:
        result["mutagenesis"] = mutagenesis_latency(run_dir, lengths, args.seed)
        print(json.dumps(result["mutagenesis"], indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_load.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "demo_load.md").write_text(report(result))
    print(f"wrote {args.out / 'demo_load.md'}")


def report(r: dict) -> str:
    """The results as a short Markdown note."""
    lines = [f"# Demo load test and mutagenesis latency\n", f"`{r['command']}` on {r['machine']}, {r['date']}.",
             f"Run: `{r['run_dir']}` (base model `{r['base_model']}`, {r['num_layers']} layers kept).\n"]
    if "load" in r:
        x = r["load"]
        lines += ["| clients × requests | server concurrency | ok | errors | p50 | p95 | max | throughput | "
                  "server RSS before → after |", "|---|---|---|---|---|---|---|---|---|",
                  f"| {x['clients']} × {x['requests_per_client']} | {x['server_concurrency']} | {x['ok']} | "
                  f"{x['errors']} | {x['p50_s']} s | {x['p95_s']} s | {x['max_s']} s | {x['throughput_rps']} req/s | "
                  f"{x['server_rss_mb_before']} → {x['server_rss_mb_after']} MiB |\n"]
    for m in r.get("mutagenesis", []):
        lines.append(f"- mutagenesis, {m['length_nt']} nt: " + (m.get("skipped") or
                     f"{m['variants']} variants, median {m['median_s']} s (runs {m['runs_s']})"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
