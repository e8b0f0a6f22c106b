"""Which checkpoint-averaging rule generalises: one run of a sequence preset (through ``splice_recipes.py``, so
its usual row is written too) with every validation evaluation's trainable weights kept, then each rule's weights
scored on the validation and the test split. Paired: every rule reads the same training trajectory.

Rules (none looks at the test split; K = ``train.average_top_k`` is not used here):

- ``best``: the best single evaluation by validation accuracy (ties: the later one).
- ``top3`` / ``top5``: the uniform average of the 3 / 5 best evaluations by validation accuracy ("uniform soup").
- ``last3`` / ``last5``: the uniform average of the last 3 / 5 evaluations (latest-weight averaging: Kaddour 2022,
  "Stop wasting my time! Saving days of ImageNet and BERT training with latest weight averaging", arXiv 2209.14981).
- ``tail_half``: the average of every evaluation in the second half of training (SWA's averaging window:
  Izmailov et al. 2018, UAI).
- ``kept``: the weights the run kept under its own rule (``train.average_keep``); its test score is the row's.

Cost: each rule adds a validation and a test pass after training (both strands where reverse-complement
averaging is on): about 1 min on splice, about 15 min on the enhancer task on a 2-core CPU.

Run as::

    python benchmarks/averaging_probe.py --out benchmarks/results/averaging_probe_splice.jsonl -- \
        --tag probe --set train.backend=peft --set train.threads=2 --set train.seed=0
    python benchmarks/averaging_probe.py --summary --out benchmarks/results/averaging_probe_splice.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

RULES = ("best", "top3", "top5", "last3", "last5", "tail_half")


def choose(evals: list[tuple[int, float]], rule: str) -> list[int]:
    """The evaluation indices a rule averages.

    Args:
        evals: ``[(step, validation accuracy), ...]`` in training order.
        rule: One of :data:`RULES`.

    Returns:
        Indices into ``evals`` (one index: a single checkpoint).

    Raises:
        ValueError: For an unknown rule or no evaluations.
    """
    if not evals:
        raise ValueError("the run made no validation evaluation; run with a validation split.")
    by_score = sorted(range(len(evals)), key=lambda i: (-evals[i][1], -evals[i][0]))
    if rule == "best":
        return by_score[:1]
    if rule in ("top3", "top5"):
        return by_score[:int(rule[-1])]
    if rule in ("last3", "last5"):
        return list(range(len(evals)))[-int(rule[-1]):]
    if rule == "tail_half":
        last = evals[-1][0]
        return [i for i, (step, _) in enumerate(evals) if step > last / 2]
    raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}.")


def probe(recipe_args: list[str]) -> dict:
    """Runs ``splice_recipes.main(recipe_args)`` with the evaluations' weights captured; scores every rule."""
    import torch

    import splice_recipes
    from workbench.tasks.classification import ClassificationTask
    from workbench.training import averaging, loop

    states: list[tuple[int, float, dict]] = []
    named_ref: dict = {}
    original_offer, original_evaluate = averaging.offer, ClassificationTask.evaluate

    def offer(top, k, score, step, named, maximize=True):
        named_ref.update(named)
        states.append((step, score, {n: p.detach().clone() for n, p in named.items()}))
        return original_offer(top, k, score, step, named, maximize)

    scores: dict[str, dict] = {}

    def evaluate(self, data, progress):
        kept = {n: p.detach().clone() for n, p in named_ref.items()}
        y = {s: torch.tensor(data.part[s][1]) for s in ("validation", "test")}

        def accuracy(split: str) -> float:
            return (self._proba(split).argmax(-1) == y[split]).float().mean().item()

        scores["kept"] = {"validation": accuracy("validation"), "test": accuracy("test"), "steps": None}
        evals = [(step, score) for step, score, _ in states]
        for rule in RULES:
            chosen = choose(evals, rule)
            loop.load(named_ref, averaging.average([(None, None, states[i][2]) for i in chosen]))
            scores[rule] = {"validation": accuracy("validation"), "test": accuracy("test"),
                            "steps": [states[i][0] for i in chosen]}
        loop.load(named_ref, kept)
        return original_evaluate(self, data, progress)

    averaging.offer, ClassificationTask.evaluate = offer, evaluate
    argv, sys.argv = sys.argv, ["benchmarks/splice_recipes.py", *recipe_args]  # the row's command: the recipe run
    try:
        row = splice_recipes.main(recipe_args)
    finally:
        averaging.offer, ClassificationTask.evaluate = original_offer, original_evaluate
        sys.argv = argv
    return {"tag": row["tag"], "seed": row["seed"], "command": row["command"], "date": row["date"],
            "test_n": row["test_n"], "val_history": row["val_history"], "rules": scores}


def summarise(out: Path) -> str:
    """Mean ± std over the rows of ``out`` per rule (validation and test accuracy); writes ``out`` .md beside it."""
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    lines = [f"# Checkpoint-averaging rules\n\nWritten by `python benchmarks/averaging_probe.py --summary --out {out}` "
             f"from {len(rows)} run{'s' if len(rows) != 1 else ''} (seeds {sorted(r['seed'] for r in rows)}), one trajectory per run.\n",
             "| rule | validation accuracy (mean ± std) | test accuracy (mean ± std) | test per run |", "|---|---|---|---|"]
    for rule in ("kept", *RULES):
        val = [r["rules"][rule]["validation"] for r in rows]
        test = [r["rules"][rule]["test"] for r in rows]
        sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
        lines.append(f"| {rule} | {statistics.mean(val):.4f} ± {sd(val):.4f} | {statistics.mean(test):.4f} ± "
                     f"{sd(test):.4f} | {' / '.join(f'{t:.4f}' for t in test)} |")
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    """Parses flags; runs and appends one row to ``--out``, or summarises it."""
    argv = sys.argv[1:] if argv is None else argv
    recipe = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON-lines file of probe rows (one per run).")
    parser.add_argument("--summary", action="store_true", help="Summarise --out into a Markdown table beside it.")
    args = parser.parse_args(own)
    if args.summary:
        print(summarise(Path(args.out)))
        return
    row = probe(recipe)
    with open(args.out, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row["rules"], indent=1))


if __name__ == "__main__":
    main()
