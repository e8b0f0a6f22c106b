"""The results of benchmarks/genome_lm.py as ``benchmarks/results/genome_lm.{jsonl,md}``, read from its run
directories: pretraining rows (bits per base against the Markov chain and uniform), predictor rows (accuracy from
each start against the tuned baselines fitted on the same labelled rows), seed summaries, paired comparisons of
the starts, and the rows still missing with the command of each.

Run as::

    python benchmarks/genome_lm.py --report
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from machine import describe


def _load(run: Path) -> dict:
    return {name: json.loads((run / name).read_text()) for name in ("metrics.json", "task.json")}


def _command(root: Path, name: str, fallback: list[str]) -> str:
    saved = root / "runs" / f"{name}.command"
    return saved.read_text().strip() if saved.is_file() else "workbench run " + " ".join(fallback)


def pretrain_row(name: str, run: Path, command: str) -> dict:
    m = _load(run)["metrics.json"]
    tr, test, base = m["training"], m["test"], m["baselines"]
    return {"row": name, "kind": "pretrain", "variant": name.split("-")[1], "steps": tr["steps"],
            "tokens_seen": tr["tokens_seen"], "train_seconds": round(tr["seconds"], 1),
            "wall_seconds": round(m["wall_seconds"], 1), "val_bits_per_base": tr["best_val_score"],
            "test_bits_per_base": test["bits_per_base"], "markov_bits_per_base": test["markov_bits_per_base"],
            "base_model_bits_per_base": base["base_model"]["bits_per_base"], "uniform_bits_per_base": 2.0,
            "vs_markov": test["vs_markov"], "test_bases": test["bases"], "command": command}


def best_baseline(baselines: dict) -> str:
    """The tuned baseline with the highest *validation* accuracy (the test split never chooses)."""
    tuned = {k: v for k, v in baselines.items() if v.get("val_accuracy") is not None}
    return max(tuned, key=lambda k: tuned[k]["val_accuracy"])


def predictor_row(name: str, run: Path, command: str) -> dict:
    loaded = _load(run)
    m = loaded["metrics.json"]
    test, base, tr, data = m["test"], m["baselines"], m["training"], m["data"]
    task, start, labels, seed = name.split("-")
    best = best_baseline(base)
    return {"row": name, "kind": "predictor", "task": task, "start": start, "labels": int(labels),
            "seed": int(seed[1:]), "labelled_rows": (data.get("labels_used") or {}).get("labelled_rows",
                                                                                         data["split"]["sizes"]["train"]),
            "accuracy": test["accuracy"], "mcc": test["mcc"], "best_baseline": best,
            "best_baseline_accuracy": base[best]["accuracy"], "vs_best_baseline": test["vs_baselines"][best],
            "baselines": {k: v["accuracy"] for k, v in base.items()}, "steps": tr["steps"],
            "planned_steps": tr["planned_steps"], "train_seconds": round(tr["seconds"], 1),
            "wall_seconds": round(m["wall_seconds"], 1), "pretrain_phase": data.get("pretrain_phase"),
            "base_model": loaded["task.json"]["base_model"].get("name"),
            "pretrained_from": (loaded["task.json"]["base_model"].get("pretraining") or {}).get("run"),
            "both_strands": (data.get("strand") or {}).get("on"), "command": command}


def paired(root: Path, a: str, b: str) -> dict | None:
    """Paired bootstrap of accuracy, run ``a`` minus run ``b``, on the same test rows (their predictions.csv)."""
    import pandas as pd

    from workbench.evaluation.metrics import paired_difference_ci

    fa, fb = root / "runs" / a / "predictions.csv", root / "runs" / b / "predictions.csv"
    if not (fa.is_file() and fb.is_file()):
        return None
    pa, pb = pd.read_csv(fa), pd.read_csv(fb)
    if list(pa["sequence"]) != list(pb["sequence"]):
        return None
    return paired_difference_ci(pa["label"], pa["predicted"], pb["predicted"])


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f} (1 seed)"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _names(rows: list[dict]) -> str:
    """The validation-chosen baseline of each seed, in seed order (one name where every seed chose the same)."""
    names = [r["best_baseline"] for r in sorted(rows, key=lambda r: r["seed"])]
    return names[0] if len(set(names)) == 1 else " / ".join(names)


def _yes_no(flag: bool | None) -> str:
    """``task.reverse_complement`` as the run settled it (``auto``: the strand probe on its labelled rows)."""
    return "–" if flag is None else ("yes" if flag else "no")


def _counterparts(start: str, parents: dict[str, str]) -> list[str]:
    """The starts a row is paired with: the default start at the same supervised phase (``genomelm_e32`` ->
    ``default_e32``), the same start with the preset's phase where this one is longer (-> ``genomelm``), and the
    same start at the parent variant (``parents``: ``{"e32late": "e32"}``: ``genomelm_e32late`` -> ``genomelm_e32``)."""
    base, _, variant = start.partition("_")
    same_phase = [f"default_{variant}" if variant else "default"] if base != "default" else []
    parent = [f"{base}_{parents[variant]}"] if variant in parents else []
    return same_phase + ([base] if variant else []) + parent


def _add_pairs(root: Path, done: list[dict], earlier: dict[str, dict], parents: dict[str, str]) -> None:
    """Sets each predictor row's ``paired``: ``{counterpart start: paired bootstrap}`` (:func:`paired`) where both
    run directories exist; a row recorded earlier keeps the comparisons it had, since its predictions are gone."""
    rows = {r["row"]: r for r in done if r["kind"] == "predictor"}
    for r in rows.values():
        kept = dict(earlier.get(r["row"], {}).get("paired") or {}) if not (root / "runs" / r["row"]).is_dir() else {}
        for other in _counterparts(r["start"], parents):
            twin = f"{r['task']}-{other}-{r['labels']}-s{r['seed']}"
            d = paired(root, r["row"], twin) if twin in rows else None
            if d:
                kept[other] = {"difference": float(d["difference"]), "ci95": [float(x) for x in d["ci95"]]}
        r["paired"] = kept


def _ci(d: dict) -> str:
    return f"{d['difference']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"


def write_report(root: Path, table: dict[str, list[str]], out: Path, parents: dict[str, str]) -> None:
    """Writes ``out.jsonl`` (one row per completed run) and ``out.md`` (tables, summaries, missing rows);
    ``parents`` maps a supervised variant to the one it adds a setting to (their rows are paired too)."""
    done, missing = [], []
    earlier = _earlier_rows(out.with_suffix(".jsonl"))
    for name, argv in table.items():
        run = root / "runs" / name
        command = _command(root, name, argv)
        if (run / "metrics.json").is_file():
            row = pretrain_row(name, run, command) if name.startswith("pretrain") else predictor_row(name, run, command)
            done.append({**row, "machine": describe(), "date": time.strftime("%Y-%m-%d")})
        elif name in earlier:
            done.append(earlier[name])  # recorded by an earlier session whose run directory is gone
        else:
            missing.append((name, command))
    _add_pairs(root, done, earlier, parents)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in done))
    notes = out.with_name(out.name + "_notes.md")  # the closing note, written by hand from these tables
    text = _markdown(done, missing)
    if notes.is_file():
        text = text.replace("\n## Pretraining rows", "\n" + notes.read_text().strip() + "\n\n## Pretraining rows", 1)
    out.with_suffix(".md").write_text(text)


def _earlier_rows(jsonl: Path) -> dict[str, dict]:
    """Rows already in the results file, by row id: kept where their run directory no longer exists (a run
    directory under /tmp does not outlive its machine), so the table only grows."""
    if not jsonl.is_file():
        return {}
    rows = (json.loads(line) for line in jsonl.read_text().splitlines() if line.strip())
    return {r["row"]: r for r in rows}


def _markdown(done: list[dict], missing: list[tuple[str, str]]) -> str:
    pre = [r for r in done if r["kind"] == "pretrain"]
    pred = [r for r in done if r["kind"] == "predictor"]
    lines = ["# Genome language model: pretraining on unlabelled DNA, then predictors from it", "",
             f"Written by `python benchmarks/genome_lm.py --report` on {time.strftime('%Y-%m-%d')} from the run "
             f"directories of `python benchmarks/genome_lm.py --rows ...` (each row's own command is in "
             f"genome_lm.jsonl, with its machine and date; the last table names them). Report written on: "
             f"{describe()}; every run with "
             "`train.threads=1`, fp32/bf16 as `train.precision: auto` chose; the wall times depend on what else "
             "shared the CPU (see the notes).", "", "## Pretraining rows (held-out test blocks of chr2:1-2,333,275)", "",
             "| row | steps | tokens seen | train min | validation bits/base | test bits/base | Markov-5 | base model "
             "| uniform | LM − Markov-5 [95 % CI] |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in pre:
        lines.append(f"| {r['row']} | {r['steps']} | {r['tokens_seen']:,} | {r['train_seconds'] / 60:.0f} | "
                     f"{r['val_bits_per_base']:.4f} | {r['test_bits_per_base']:.4f} | {r['markov_bits_per_base']:.4f} "
                     f"| {r['base_model_bits_per_base']:.3f} | 2.0 | {_ci(r['vs_markov'])} |")
    if pre:
        chosen = min(pre, key=lambda r: r["val_bits_per_base"])
        used = sorted({r["pretrained_from"] for r in done if r.get("pretrained_from")})
        lines += ["", f"Lower validation bits per base: **{chosen['row']}**. The genome-LM rows below started from: "
                  f"{', '.join(used) or '(none yet)'}."]
    lines += ["", "## Predictor rows: mean ± sd over seeds", "",
              "| task | start | labels | seeds | test accuracy | best baseline (on validation), same rows | "
              "mean difference | seeds with CI > 0 | steps (by seed) | min per run |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in pred:
        groups.setdefault((r["task"], r["labels"], r["start"]), []).append(r)
    for (task, labels, start), rs in sorted(groups.items()):
        diffs = [r["vs_best_baseline"]["difference"] for r in rs]
        above = sum(r["vs_best_baseline"]["ci95"][0] > 0 for r in rs)
        lines.append(f"| {task} | {start} | {labels} % | {len(rs)} | {_mean_sd([r['accuracy'] for r in rs])} | "
                     f"{_names(rs)} {_mean_sd([r['best_baseline_accuracy'] for r in rs])} | "
                     f"{statistics.mean(diffs):+.4f} | {above} of {len(rs)} | "
                     f"{' / '.join(str(r['steps']) for r in sorted(rs, key=lambda r: r['seed']))} | "
                     f"{statistics.mean(r['wall_seconds'] for r in rs) / 60:.0f} |")
    lines += ["", "## Paired comparisons of the starts (same seed, same test rows; paired bootstrap, 1,000 resamples)", "",
              "| task | labels | seed | comparison | accuracy difference [95 % CI] |", "|---|---|---|---|---|"]
    for r in sorted(pred, key=lambda r: r["row"]):
        for other, d in (r.get("paired") or {}).items():
            lines.append(f"| {r['task']} | {r['labels']} % | {r['seed']} | {r['start']} − {other} | {_ci(d)} |")
    lines += ["", "## Every predictor run", "", "| row | labelled rows | accuracy | MCC | best baseline | its accuracy | "
              "difference [95 % CI] | steps | both strands | wall min | machine |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(pred, key=lambda r: r["row"]):
        lines.append(f"| {r['row']} | {r['labelled_rows']} | {r['accuracy']:.4f} | {r['mcc']:.4f} | {r['best_baseline']} "
                     f"| {r['best_baseline_accuracy']:.4f} | {_ci(r['vs_best_baseline'])} | {r['steps']} | "
                     f"{_yes_no(r.get('both_strands'))} | {r['wall_seconds'] / 60:.0f} | "
                     f"{r.get('machine') or 'not recorded'}{', ' + r['date'] if r.get('date') else ''} |")
    if missing:
        lines += ["", f"## Missing rows ({len(missing)}): not run in this session", "",
                  "Each runs with `python benchmarks/genome_lm.py --rows ROW` (or a pattern, e.g. `'splice-*-100-s*'`), "
                  "which builds the warehouse, sets the data paths and runs `workbench run` with the overrides listed "
                  "by `python benchmarks/genome_lm.py --list` (`@GENOME_LM@`: the pretraining run with the lower "
                  "validation bits per base).", ""]
        lines += ["- " + ", ".join(f"`{name}`" for name, _ in missing)]
    return "\n".join(lines) + "\n"
