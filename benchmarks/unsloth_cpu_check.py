"""Checks Unsloth's CPU backend against the workbench engine, offline, and times it against plain PEFT.

What it does, in order:

1. Refuses and records every non-loopback DNS lookup or socket connection made in this process
   (a guard on ``socket.getaddrinfo`` and ``socket.socket.connect``), then imports Unsloth first, as
   Unsloth asks, and reports its version and the notices it prints (the "no GPU found" line).
2. Uses ``--model-dir`` (a local Hugging Face directory) or builds a tiny random Llama here
   (hidden 64, 2 layers), with SmolLM2's tokenizer when one is found under ``--tokenizer-from`` or a
   word-level tokenizer otherwise.
3. Loads it with ``FastLanguageModel.from_pretrained(model_name=DIR, max_seq_length=..., dtype=None,
   load_in_4bit=False, local_files_only=True)`` and ``FastLanguageModel.get_peft_model`` with the
   arguments ``workbench.models.lora.load_lora_model`` passes, wraps it in ``workbench.models.heads.LabelScorer``
   (which uses ``get_decoder()`` and the output embeddings), compares its logits with
   ``model(input_ids).logits[..., label_ids]`` at each prompt's last token, and runs a few
   forward + backward + AdamW steps on a fixed batch, checking that the loss falls.
4. Checks the same logits match through ``load_lora_model(..., backend="unsloth")``, then times
   training steps (median of interleaved steps, so all see the same background load) for that model,
   the ``dtype=None`` model of step 3 and ``load_lora_model(..., backend="peft")``, each with the
   LabelScorer in float32 and under bfloat16 autocast (``--precision``), on the same batch, and
   reports each one's ratio to the PEFT path at the same autocast setting.

Exit status 0 when every check passed, 1 otherwise. The figures are printed and, with ``--json``,
written to a file.

Run as::

    # in a venv set up with scripts/install_unsloth_cpu.sh; one thread, low priority
    nice -n 19 python benchmarks/unsloth_cpu_check.py
    nice -n 19 python benchmarks/unsloth_cpu_check.py --model-dir PATH/TO/SmolLM2-135M-Instruct --steps 3 --timed-steps 3
    # and, to see every connect() of the process and its children as well:
    strace -f -e trace=connect -o /tmp/connect.log python benchmarks/unsloth_cpu_check.py
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import ipaddress
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "UNSLOTH_DISABLE_STATISTICS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
           # Only consulted when torchvision is installed; the PyPI build does not load against the CPU torch.
           "UNSLOTH_SKIP_TORCHVISION_CHECK": "1"}
for _k, _v in OFFLINE.items():
    os.environ.setdefault(_k, _v)

NETWORK_ATTEMPTS: list[str] = []
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host) -> bool:
    if host in (None, "localhost", "") or isinstance(host, bytes) and host == b"localhost":
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        NETWORK_ATTEMPTS.append(f"getaddrinfo({host!r})")
        raise socket.gaierror(f"unsloth_cpu_check: lookup of {host!r} refused (offline)")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        NETWORK_ATTEMPTS.append(f"connect({address!r})")
        raise OSError(f"unsloth_cpu_check: connection to {address!r} refused (offline)")
    return _real_connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
WORDS = ["donor", "acceptor", "neither"]
CLASSES = {"EI": 0, "IE": 1, "N": 2}


class _Tee(io.TextIOBase):
    """Writes to a stream and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, s):
        self.copy.write(s)
        return self.stream.write(s)

    def flush(self):
        self.stream.flush()


def import_unsloth() -> dict:
    """Imports unsloth (before transformers), returning its version, the import time and what it printed."""
    already = [m for m in ("transformers", "peft", "trl") if m in sys.modules]
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        import unsloth
    printed = (out.copy.getvalue() + err.copy.getvalue()).splitlines()
    notices = [line for line in printed if "unsloth" in line.lower() or "no gpu" in line.lower()]
    import importlib.util

    return {"version": unsloth.__version__, "import_seconds": round(time.perf_counter() - start, 2),
            "imported_before_unsloth": already, "no_gpu_notice": next((n for n in notices if "no GPU" in n), None),
            "printed": [line for line in printed if line.strip()],
            "torchvision_installed": importlib.util.find_spec("torchvision") is not None}


def find_smollm2_tokenizer(extra: list[str]) -> Path | None:
    """A directory holding SmolLM2's tokenizer.json, from the given paths or the workbench caches."""
    candidates = [Path(p).expanduser() for p in extra]
    home = Path(os.environ.get("WORKBENCH_HOME") or "~/.cache/workbench").expanduser()
    candidates += sorted((home / "models").glob("SmolLM2*"))
    candidates += sorted(Path("/tmp").glob("pytest-of-*/*/workbench_home*/models/SmolLM2*"))
    return next((c for c in candidates if (c / "tokenizer.json").is_file()), None)


def build_tiny_llama(path: Path, tokenizer_dir: Path | None) -> Path:
    """Saves a randomly initialised Llama (hidden 64, 2 layers) and a tokenizer into ``path``."""
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if tokenizer_dir is not None:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
            if (tokenizer_dir / name).is_file():
                path.mkdir(parents=True, exist_ok=True)
                shutil.copy(tokenizer_dir / name, path / name)
        tokenizer = AutoTokenizer.from_pretrained(path)
    else:  # as tests/conftest.py: a word-level vocabulary of the prompt's words
        from tokenizers import Tokenizer, models, pre_tokenizers

        words = ["<pad>", "<unk>", "<s>", "</s>", "DNA", ":", "Class", "A", "C", "G", "T", "N", *WORDS]
        tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                            bos_token="<s>", eos_token="</s>")
        tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def splice_prompts(n: int) -> tuple[list[str], list[int]]:
    """The first ``n`` rows of the bundled splice data, cycling through the classes, as engine prompts."""
    from workbench.data.sequences import format_prompt

    rows: dict[int, list[str]] = {0: [], 1: [], 2: []}
    with open(REPO / "workbench" / "resources" / "splice" / "splice.csv") as f:
        for row in csv.reader(f):
            cls, seq = row[0].strip(), row[-1].strip()
            if cls in CLASSES and set(seq) <= set("ACGT") and len(rows[CLASSES[cls]]) < n:
                rows[CLASSES[cls]].append(seq)
    prompts, targets = [], []
    for i in range(n):
        prompts.append(format_prompt(rows[i % 3][i // 3]))
        targets.append(i % 3)
    return prompts, targets


def train_steps(scorer, batch, targets, steps: int, lr: float) -> list[float]:
    """Forward + cross-entropy + backward + AdamW, ``steps`` times on one batch; returns the losses."""
    import torch

    params = [p for p in scorer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    scorer.train()
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(scorer(**batch), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 5))
    return losses


def perturb_lora_b(model, std: float = 0.02) -> None:
    """LoRA B starts at zero; a logits comparison must include the adapter's contribution, so fill it
    (``std=0`` puts the fresh adapter back)."""
    import torch

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * std)


def compare_logits(model, scorer, tokenizer, prompts, label_ids) -> dict:
    """LabelScorer logits vs the full LM's logits at each prompt's last token, restricted to the labels."""
    import torch

    from workbench.models.heads import encode_prompts

    scorer.eval()
    ids = torch.tensor(label_ids)
    with torch.no_grad():
        batch = encode_prompts(tokenizer, prompts)  # right-padded: prompts differ in length
        restricted = scorer(**batch)
        full = model(**batch).logits
        last = batch["attention_mask"].sum(1) - 1
        reference = full[torch.arange(len(prompts)), last][:, ids].float()
        single = encode_prompts(tokenizer, prompts[:1])  # no padding: exactly model(input_ids).logits[:, -1, ids]
        plain = model(input_ids=single["input_ids"]).logits[:, -1, ids].float()
        restricted_single = scorer(**single)
    scorer.train()
    return {"max_abs_diff_padded_batch": (restricted - reference).abs().max().item(),
            "max_abs_diff_single_unpadded": (restricted_single - plain).abs().max().item(),
            "max_abs_logit": reference.abs().max().item(), "full_logits_dtype": str(full.dtype)}


def main(argv: list[str] | None = None) -> int:
    """Runs the checks; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="Local HF model directory (default: build a tiny random Llama).")
    parser.add_argument("--tokenizer-from", action="append", default=[],
                        help="Directory with SmolLM2's tokenizer.json for the tiny model (default: search caches).")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1).")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="Training steps on the fixed batch.")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (configs/splice.yaml's).")
    parser.add_argument("--timed-steps", type=int, default=10, help="Timed steps per backend (after 1 warm-up).")
    parser.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both",
                        help="LabelScorer autocast for the timed steps: fp32 (none), bf16, or both (default).")
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--first-layer", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    report: dict = {"threads": args.threads, "torch": torch.__version__}
    report["unsloth"] = import_unsloth()  # before transformers, as Unsloth asks
    import peft
    import transformers
    from unsloth import FastLanguageModel

    import workbench  # noqa: F401  (offline defaults; already set above)
    from workbench.models.heads import LabelScorer, encode_prompts, label_token_ids
    from workbench.models.lora import LoRASpec, load_lora_model

    report.update(transformers=transformers.__version__, peft=peft.__version__)
    checks: dict[str, bool] = {}

    with tempfile.TemporaryDirectory() as tmp:
        if args.model_dir:
            model_dir = Path(args.model_dir).expanduser()
            report["model"] = str(model_dir)
        else:
            tok_dir = find_smollm2_tokenizer(args.tokenizer_from)
            model_dir = build_tiny_llama(Path(tmp) / "tiny-llama", tok_dir)
            report["model"] = f"tiny random Llama (hidden 64, 2 layers), tokenizer: {tok_dir or 'word-level'}"
        spec = LoRASpec(args.r, args.lora_alpha, 0.0, TARGETS, args.first_layer)
        prompts, targets = splice_prompts(args.batch_size)
        y = torch.tensor(targets)

        # --- 3. The engine's Unsloth arguments with dtype=None, Unsloth's own dtype (the engine passes float32 on CPU) ---
        torch.manual_seed(args.seed)
        load_start = time.perf_counter()
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=str(model_dir), max_seq_length=512, dtype=None, load_in_4bit=False, local_files_only=True)
        n_layers = model.config.num_hidden_layers
        model = FastLanguageModel.get_peft_model(
            model, r=spec.r, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout,
            target_modules=spec.target_modules, bias="none", use_gradient_checkpointing=False,
            random_state=args.seed,
            layers_to_transform=list(range(spec.first_layer, n_layers)) if spec.first_layer else None)
        report["unsloth_load_seconds"] = round(time.perf_counter() - load_start, 2)
        base = model.get_base_model()
        decoder = base.get_decoder()
        label_ids = label_token_ids(tokenizer, WORDS)
        scorer = LabelScorer(model, label_ids)
        trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
        report["unsloth_model"] = {
            "peft_class": type(model).__name__, "base_class": type(base).__name__,
            "get_decoder": type(decoder).__name__, "get_decoder_is_base_model": decoder is getattr(base, "model", None),
            "output_embeddings": type(base.get_output_embeddings()).__name__,
            "base_weight_dtype": str(base.get_input_embeddings().weight.dtype),
            "lora_weight_dtypes": sorted({str(p.dtype) for p in trainable.values()}),
            "trainable_parameters": sum(p.numel() for p in trainable.values()),
            "adapted_layers": sorted({int(n.split(".layers.")[1].split(".")[0]) for n in trainable}),
            "use_cache": base.config.use_cache, "tokenizer_padding_side": tokenizer.padding_side,
            "label_token_ids": label_ids}
        checks["get_decoder returns the base model's decoder"] = decoder is getattr(base, "model", None)
        checks["adapters only on layers >= first_layer"] = (
            report["unsloth_model"]["adapted_layers"] == list(range(spec.first_layer, n_layers)))

        perturb_lora_b(model)
        match = compare_logits(model, scorer, tokenizer, prompts, label_ids)
        bf16 = base.get_input_embeddings().weight.dtype == torch.bfloat16
        # bf16 weights: the full LM head computes in bf16 (8-bit mantissa), the scorer in float32.
        tolerance = (2e-2 * max(1.0, match["max_abs_logit"])) if bf16 else 1e-4
        match["tolerance"] = tolerance
        report["logits_match"] = match
        checks["LabelScorer logits == model(input_ids).logits[:, last, label_ids]"] = (
            max(match["max_abs_diff_padded_batch"], match["max_abs_diff_single_unpadded"]) <= tolerance)

        perturb_lora_b(model, std=0.0)  # train from the fresh adapter, as the engine does
        batch = encode_prompts(tokenizer, prompts)
        losses = train_steps(scorer, batch, y, args.steps, args.lr)
        report["unsloth_training"] = {"steps": args.steps, "lr": args.lr, "batch_size": len(prompts),
                                      "loss_first": losses[0], "loss_last": losses[-1], "losses": losses}
        checks["loss falls over the steps"] = losses[-1] < losses[0]

        # --- 4. step time: engine's Unsloth path, Unsloth dtype=None (above), engine's PEFT path ---
        precisions = {"fp32": [None], "bf16": [torch.bfloat16], "both": [None, torch.bfloat16]}[args.precision]
        models = {"unsloth (dtype=None)": (model, tokenizer)}
        for backend in ("unsloth", "peft"):
            start = time.perf_counter()
            m, tok = load_lora_model(str(model_dir), spec, backend, seed=args.seed, max_seq_length=512)
            report[f"engine_{backend}_load_seconds"] = round(time.perf_counter() - start, 2)
            report[f"engine_{backend}_base_dtype"] = str(m.get_base_model().get_input_embeddings().weight.dtype)
            models[f"engine backend={backend}"] = (m, tok)
        init = [{n: p.detach().float() for n, p in models[k][0].named_parameters() if "lora_A" in n}
                for k in ("engine backend=unsloth", "engine backend=peft")]
        a, b = init
        report["engine_lora_init_max_abs_diff"] = (
            max((a[k] - b[k]).abs().max().item() for k in a) if a.keys() == b.keys() else "different adapter names")
        m, tok = models["engine backend=unsloth"]
        perturb_lora_b(m)
        engine_match = compare_logits(m, LabelScorer(m, label_token_ids(tok, WORDS)), tok, prompts, label_ids)
        report["engine_unsloth_logits_match"] = engine_match
        checks["engine's Unsloth path: LabelScorer logits == full logits (1e-4)"] = (
            max(engine_match["max_abs_diff_padded_batch"], engine_match["max_abs_diff_single_unpadded"]) <= 1e-4)
        contenders = {}
        for k, (m, tok) in models.items():
            for dtype in precisions:
                contenders[f"{k}, autocast={'bf16' if dtype else 'fp32'}"] = LabelScorer(m, label_ids, dtype)
        optimizers = {k: torch.optim.AdamW([p for p in s.parameters() if p.requires_grad], lr=args.lr)
                      for k, s in contenders.items()}
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for i in range(args.timed_steps + 1):  # interleaved; step 0 is a warm-up
            for k, s in contenders.items():
                s.train()
                t0 = time.perf_counter()
                loss = torch.nn.functional.cross_entropy(s(**batch), y)
                loss.backward()
                optimizers[k].step()
                optimizers[k].zero_grad(set_to_none=True)
                if i:
                    times[k].append(time.perf_counter() - t0)
        report["step_seconds_median"] = {k: round(statistics.median(v), 5) for k, v in times.items()}
        report["step_time_ratio_vs_peft_same_autocast"] = {
            k: round(statistics.median(v) / statistics.median(times["engine backend=peft, " + k.split(", ")[-1]]), 3)
            for k, v in times.items()}
        report["tokens_per_step"] = int(batch["attention_mask"].sum())

    report["network_attempts"] = list(NETWORK_ATTEMPTS)
    checks["no non-loopback network attempt"] = not NETWORK_ATTEMPTS
    checks["unsloth printed its CPU notice"] = report["unsloth"]["no_gpu_notice"] is not None
    report["checks"] = checks
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    failed = [k for k, ok in checks.items() if not ok]
    print(("FAILED: " + "; ".join(failed)) if failed else f"all {len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
