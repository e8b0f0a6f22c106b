"""The main job end to end, as a user runs it, for tests/integration/test_offline_job.py to run inside a network
namespace that has only loopback: `workbench quickstart` (bundled data -> SQLite -> train on the bundled SmolLM2
-> evaluate -> write -> serve the demo), then a prediction through the served demo, one through the CLI, one
through `mlflow models serve` (the run as an MLflow Model, REST on 127.0.0.1), then one short continued-pretraining
run (`task.type: pretrain`) on a FASTA of the bundled sequences.

Run as::

    python tests/integration/offline_main_job.py OUT_JSON [--epochs 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SEQUENCE = "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=float, default=0.05)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = args.out.with_suffix(".log")
    log = log_path.open("w")
    job = subprocess.Popen([sys.executable, "-m", "workbench", "quickstart", "--port", str(port),
                            "--set", f"train.epochs={args.epochs}"], stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    result: dict = {"port": port}
    try:
        deadline, run_dir = time.monotonic() + 1500, None
        while time.monotonic() < deadline and job.poll() is None:
            found = re.search(r"run directory: (\S+)", log_path.read_text(errors="replace"))
            if found:
                run_dir = found.group(1)
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    pass
            time.sleep(1)
        result["run_dir"] = run_dir
        if run_dir is None or job.poll() is not None:
            raise SystemExit(f"the main job did not reach its demo:\n{log_path.read_text()[-4000:]}")
        from gradio_client import Client

        demo = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(SEQUENCE, api_name="/classify")
        result["demo"] = demo if isinstance(demo, (dict, list, str)) else repr(demo)
        cli = subprocess.run([sys.executable, "-m", "workbench", "predict", run_dir, "--sequence", SEQUENCE, "--json"],
                             capture_output=True, text=True, timeout=600)
        result["cli"] = json.loads(cli.stdout.strip().splitlines()[-1]) if cli.returncode == 0 else cli.stderr[-2000:]
        result["metrics"] = json.loads((Path(run_dir) / "metrics.json").read_text())["test"]
        result["rest"] = rest_request(Path(run_dir), args.out.parent / "pyfunc_model")
        result["pretrain"] = pretrain(args.out.parent)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGINT)
            try:
                job.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
        log.close()
    args.out.write_text(json.dumps(result, indent=1, default=str))


def rest_request(run_dir: Path, model_dir: Path) -> dict | str:
    """The run as an MLflow Model (workbench.registry.pyfunc), served by `mlflow models serve --env-manager local` on
    127.0.0.1 with telemetry off as the README says, and one POST /invocations: its first prediction row."""
    import httpx

    from tests.integration.mlflow_server import served
    from workbench.registry.pyfunc import build_model

    build_model(run_dir, model_dir, with_run_files=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)  # as with an activated virtual environment (MLflow runs `uvicorn`)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PATH": os.pathsep.join([bin_dir, os.environ["PATH"]])}
    mlflow = str(Path(bin_dir) / "mlflow")
    cmd = [mlflow, "models", "serve", "-m", str(model_dir), "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    column = json.loads((run_dir / "task.json").read_text()).get("sequence_column") or "sequence"
    with served(cmd, env, f"http://127.0.0.1:{port}/ping", model_dir.with_suffix(".log"), timeout=600):
        reply = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=300,
                           json={"dataframe_split": {"columns": [column], "data": [[SEQUENCE]]}})
    return reply.json()["predictions"][0] if reply.status_code == 200 else reply.text[-2000:]


def pretrain(work: Path) -> dict:
    """A 3-step pretraining run of the bundled SmolLM2 on the bundled splice sequences as one FASTA record."""
    import csv

    import yaml

    rows = csv.DictReader((Path(__file__).resolve().parents[2] / "workbench" / "resources" / "splice" /
                           "splice.csv").open())
    seq = "".join("".join(r[k] for k in r if k.strip() == "Sequence").strip() for r in rows)
    fasta = work / "corpus.fa"
    fasta.write_text(">bundled\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    config = work / "pretrain.yaml"
    config.write_text(yaml.safe_dump({
        "name": "offline-lm", "output_dir": str(work / "runs"), "corpus": {"fasta": [str(fasta)]},
        "data": {"block": 2000}, "task": {"type": "pretrain", "window": 60, "stride": 60, "max_eval_windows": 16},
        "train": {"max_steps": 3, "eval_every": 0, "batch_size": 8}, "registry": {"track": False}}))
    done = subprocess.run([sys.executable, "-m", "workbench", "run", str(config)], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        return {"error": done.stdout[-2000:] + done.stderr[-2000:]}
    return json.loads((work / "runs" / "offline-lm" / "metrics.json").read_text())["test"]


if __name__ == "__main__":
    main()
