"""Training-step time of the quickstart recipe on a shared CPU: threads and OpenMP wait policy, with and without
one competing busy process.

Each setting runs in its own subprocess (OpenMP reads ``OMP_WAIT_POLICY`` once, when it starts): it builds the
splice preset's objective through the workbench's own pipeline pieces (4 decoder layers of the bundled
SmolLM2-135M-Instruct, LoRA r 64 on every linear layer, batch 16, restricted LM head), runs ``--warmup`` untimed
steps, then times training steps (forward, backward, clipping, AdamW) until ``--steps`` are done or
``--max-seconds`` have passed. A "busy" setting starts one ``python -c "while True: pass"`` before the timing and
kills it after. The settings run in the order given, repeated ``--repeats`` times in ABBA order, so slow drift of
the machine hits all alike. Results: ``--out`` (JSON lines) and the same name with ``.md`` (a table of medians).

Run as::

    .venv/bin/python benchmarks/shared_cpu.py                 # the default table (~15 min on 2 cores)
    .venv/bin/python benchmarks/shared_cpu.py --settings quiet-2,busy-2-passive --steps 10 --repeats 1

Settings are ``quiet|busy`` - threads - policy, where policy is ``default`` (the OpenMP runtime's own wait policy:
libgomp spins 300,000 times before it sleeps), ``passive`` (``OMP_WAIT_POLICY=PASSIVE``: sleep at once), ``spin0``
(``GOMP_SPINCOUNT=0``), ``spin10k`` or ``spin100k`` (``GOMP_SPINCOUNT=10000`` / ``100000``). Offline: the model is the
bundled one and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
DEFAULT_SETTINGS = ["quiet-2-default", "busy-2-default", "busy-2-passive", "busy-2-spin0", "busy-1-default",
                    "quiet-2-passive", "quiet-1-default"]
POLICY_ENV = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "spin0": {"GOMP_SPINCOUNT": "0"},
              "spin10k": {"GOMP_SPINCOUNT": "10000"}, "spin100k": {"GOMP_SPINCOUNT": "100000"}}


def parse_setting(name: str) -> tuple[bool, int, str]:
    """``"busy-2-passive"`` -> ``(busy, threads, policy)``.

    Raises:
        ValueError: If the name is not ``quiet|busy``-THREADS-POLICY (a key of :data:`POLICY_ENV`).
    """
    parts = name.split("-")
    if len(parts) != 3 or parts[0] not in ("quiet", "busy") or not parts[1].isdigit() or parts[2] not in POLICY_ENV:
        raise ValueError(f"setting {name!r}: expected quiet|busy-THREADS-POLICY with POLICY one of "
                         f"{', '.join(POLICY_ENV)}, e.g. busy-2-passive")
    return parts[0] == "busy", int(parts[1]), parts[2]


def worker(args: argparse.Namespace) -> None:
    """In the subprocess: builds the preset's objective and prints one JSON line of step times."""
    import torch

    from workbench.config import load_config, parse_overrides
    from workbench.models.backends import resolve_precision, seed_everything, select_backend, set_threads
    from workbench.models.lora import LoRASpec, load_lora_model
    from workbench.tasks import LazyModel, get_task

    config = load_config(args.config, parse_overrides(args.set))
    backend, _ = select_backend(config.train.backend)
    set_threads(args.threads)
    seed_everything(0)
    task = get_task(config.task.type)(config)
    model = LazyModel(config.model.base_model, lambda base: load_lora_model(
        base.path, LoRASpec(**config.lora.model_dump()), backend, 0, task.max_seq_length(),
        num_layers=config.model.num_layers))
    data = task.prepare(model)
    module, tokenizer = model.get()
    objective = task.objective(data, module, tokenizer, resolve_precision(config.train.precision), "cpu")
    params = [p for p in objective.module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.train.learning_rate)
    order = torch.randperm(objective.n_train, generator=torch.Generator().manual_seed(0)).tolist()
    bs = config.train.batch_size
    times: list[float] = []
    began = None
    for step in range(args.warmup + args.steps):
        idx = order[(step * bs) % (len(order) - bs):][:bs]
        start = time.perf_counter()
        loss = objective.batch_loss(idx)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
            began = began or start
            if time.perf_counter() - began > args.max_seconds:
                break
        elif step == args.warmup - 1 and args.signal:
            Path(args.signal).write_text("ready")  # the parent starts the competing process now
            time.sleep(1.0)
    print(json.dumps({"backend": backend, "threads": torch.get_num_threads(), "step_seconds": times}))


def run_setting(name: str, args: argparse.Namespace, tmp: Path) -> dict:
    """Runs one setting in a subprocess (with a busy competitor where it says so) and returns its row."""
    busy, threads, policy = parse_setting(name)
    signal = tmp / f"{name}.ready"
    signal.unlink(missing_ok=True)
    env = {**os.environ, **POLICY_ENV[policy]}
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if key not in POLICY_ENV[policy]:
            env.pop(key, None)
    cmd = [sys.executable, __file__, "--worker", "--config", str(args.config), "--threads", str(threads),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--max-seconds", str(args.max_seconds),
           "--signal", str(signal)] + [x for s in args.set for x in ("--set", s)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    competitor = None
    if busy:
        while not signal.exists() and proc.poll() is None:
            time.sleep(0.2)
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    out, _ = proc.communicate()
    if competitor is not None:
        competitor.kill()
        competitor.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"setting {name} failed (exit {proc.returncode})")
    row = json.loads(out.strip().splitlines()[-1])
    times = row["step_seconds"]
    return {"setting": name, "busy": busy, "threads": threads, "policy": policy, "backend": row["backend"],
            "steps_timed": len(times), "median_s_per_step": statistics.median(times),
            "mean_s_per_step": statistics.fmean(times), "max_s_per_step": max(times), "step_seconds": times}


def table(rows: list[dict], machine: str) -> str:
    """The markdown table of medians per setting (over repeats), with the ratio to the quiet 2-thread default."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r)
    ref = by.get("quiet-2-default")
    ref_s = statistics.median(r["median_s_per_step"] for r in ref) if ref else None
    lines = [f"Machine: {machine}", "",
             "| setting | competing busy process | torch threads | OpenMP wait | median s/step | worst step s | "
             "x quiet 2-thread default |", "|---|---|---|---|---|---|---|"]
    for name, rs in by.items():
        med = statistics.median(r["median_s_per_step"] for r in rs)
        worst = max(r["max_s_per_step"] for r in rs)
        ratio = f"{med / ref_s:.2f}" if ref_s else "-"
        r0 = rs[0]
        lines.append(f"| {name} | {'yes' if r0['busy'] else 'no'} | {r0['threads']} | {r0['policy']} | {med:.3f} | "
                     f"{worst:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "splice.yaml", help="Run config (a preset).")
    p.add_argument("--set", action="append", default=[], help="Config override KEY=VALUE; repeatable.")
    p.add_argument("--settings", default=",".join(DEFAULT_SETTINGS), help="Comma-separated settings (see above).")
    p.add_argument("--steps", type=int, default=30, help="Timed training steps per setting (count).")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps before timing (count).")
    p.add_argument("--max-seconds", type=float, default=90.0, help="Stop timing a setting after this many seconds.")
    p.add_argument("--repeats", type=int, default=2, help="Passes over the settings, ABBA order (count).")
    p.add_argument("--out", type=Path, default=HERE / "results" / "shared_cpu.jsonl", help="JSON lines to write.")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument("--signal", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    import tempfile

    from workbench import paths
    from workbench.data.samples import load_splice_into_sqlite

    db = paths.home() / "warehouse.db"
    load_splice_into_sqlite(db)
    os.environ.setdefault("WAREHOUSE_URL", f"sqlite:///{db.resolve()}")
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    for s in settings:
        parse_setting(s)
    order = [s for r in range(args.repeats) for s in (settings if r % 2 == 0 else settings[::-1])]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {cpu_model()}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in order:
            row = run_setting(name, args, Path(tmp))
            row.update(machine=machine, date=time.strftime("%Y-%m-%d"))
            rows.append(row)
            print(f"{name}: median {row['median_s_per_step']:.3f} s/step over {row['steps_timed']} steps", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp_out.replace(args.out)
    md = args.out.with_suffix(".md")
    md.write_text(f"# Training step time on a shared CPU\n\nCommand: `python benchmarks/shared_cpu.py "
                  f"--settings {','.join(settings)} --steps {args.steps} --repeats {args.repeats}`\n\n"
                  + table(rows, machine))
    print(md.read_text())


if __name__ == "__main__":
    main()
