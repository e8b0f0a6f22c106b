"""Chat SFT with and without padding-free packing (``train.packing``), side by side in one process.

Both runs train ``configs/chat_sft.yaml`` (the bundled handbook corpus on SmolLM2-135M-Instruct) with the
same seed, so the same conversations in the same order per step; only ``train.packing`` differs. Runs go
padded, packed (``--repeats 2``: padded, packed, packed, padded, so that drift of the machine's load hits
both alike). Reported per mode (median over its runs): training-loop seconds (validation included),
conversation tokens per second of that loop (padding not counted, so both modes count the same tokens and
the ratio is that of the loop times), best validation loss and test perplexity of the tuned model; ratios
are packed / padded.

Run as::

    .venv/bin/python benchmarks/sft_packing.py [--repeats 2] [--set train.threads=2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from workbench.config import parse_overrides

REPO = Path(__file__).resolve().parents[1]


def run_once(packing: bool, overrides: dict, out: Path) -> dict:
    """Trains one chat SFT run; returns its figures (seconds, tokens/s, losses)."""
    from workbench import setup
    from workbench.config import load_sft_config

    name = f"bench-packing-{'on' if packing else 'off'}"
    config = load_sft_config(REPO / "configs" / "chat_sft.yaml",
                             {**overrides, "train.packing": packing, "name": name, "output_dir": str(out)})
    setup(config, progress=False)
    metrics = json.loads((out / name / "metrics.json").read_text())
    t = metrics["training"]
    return {"packing": packing, "train_seconds": t["seconds"], "steps": t["steps"], "tokens_seen": t["tokens_seen"],
            "trained_tokens": t["trained_tokens"], "tokens_per_second": t["tokens_seen"] / t["seconds"],
            "best_val_loss": t["best_val_loss"], "test_perplexity": metrics["tuned"]["test"]["perplexity"],
            "packing_check": t.get("packing_check", {}), "backend": t["backend"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="Runs per mode (2 = ABBA order); count.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override for both modes, e.g. train.epochs=1 (YAML value); repeatable.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sft_packing.json",
                        help="JSON results file; a Markdown table is written beside it (.md).")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    order = [False, True] + ([True, False] if args.repeats >= 2 else [])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, packing in enumerate(order):
            runs.append(run_once(packing, overrides, Path(tmp) / str(i)))
    modes = {}
    for packing in (False, True):
        mine = [r for r in runs if r["packing"] is packing]
        modes["packed" if packing else "padded"] = {
            k: statistics.median(r[k] for r in mine)
            for k in ("train_seconds", "tokens_per_second", "best_val_loss", "test_perplexity")}
    ratio = {k: modes["packed"][k] / modes["padded"][k] for k in modes["padded"]}
    flags = [f"--set {s}" for s in args.set] + ([f"--repeats {args.repeats}"] if args.repeats != 1 else [])
    result = {"command": " ".join(["python benchmarks/sft_packing.py", *flags]),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": runs, "median": modes,
              "packed_over_padded": ratio}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Chat SFT: packed vs padded batches\n\nCommand: `{result['command']}`; {result['date']}; "
             f"backend {runs[0]['backend']}; run order {' '.join('packed' if p else 'padded' for p in order)}.\n",
             "| | padded | packed | packed / padded |", "|---|---|---|---|"]
    for k in modes["padded"]:
        lines.append(f"| {k} (median) | {modes['padded'][k]:.4g} | {modes['packed'][k]:.4g} | x{ratio[k]:.3f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
