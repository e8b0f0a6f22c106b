"""The model-card section of one external evaluation (an ``external_evaluations`` entry of ``metrics.json``): the
model beside the baselines refitted on the run's training rows, each difference with its paired-bootstrap interval,
and the leakage between the run's training rows and the external rows."""

from __future__ import annotations

from typing import Any

from ..data.leakage import leakage_sentences
from ..runs.card import fmt
from ..tasks.classification import difference_cell, verdict_sentence


def external_section(entry: dict[str, Any]) -> str:
    """Renders the section (Markdown, starting with a blank line and a ``## External evaluation`` heading).

    Classification: accuracy, the accuracy difference [95 % CI], macro-F1, MCC and AUROC per model, and the verdict
    sentence of the card's results section; regression: RMSE, MAE, R² (with the R² difference [95 % CI]), Pearson and
    Spearman.
    """
    m, base = entry["metrics"], entry["baselines"]
    src = entry["source"]
    model = entry["model"]["spec"] or "this run"
    head = (f"## External evaluation: {entry['name']} (n = {m['n']}, {entry['date']})\n\n"
            f"`workbench evaluate` scored {model} on `{src['kind']}` at `{src['location']}` (fingerprint "
            f"`{src['fingerprint']}`, {m['n']} rows used); nothing of the run (weights, C) was chosen on them. The "
            "baselines were refitted on this run's own training rows (classification: with the C the run chose on "
            "validation) and scored on the same rows; the intervals resample those rows 1,000 times, the same "
            "resamples for both models.\n")
    vs = m.get("vs_baselines", {})
    rows = [("this model", m)] + list(base.items())
    if entry["task_type"] == "regression":
        table = ("| model | RMSE | MAE | R² | R² difference, this model − baseline [95 % CI] | Pearson | Spearman |\n"
                 "|---|---|---|---|---|---|---|\n" + "\n".join(
                     f"| {k} | {fmt(v['rmse'])} | {fmt(v['mae'])} | {fmt(v['r2'])} | {difference_cell(vs.get(k))} | "
                     f"{fmt(v['pearson'])} | {fmt(v['spearman'])} |" for k, v in rows) + "\n")
    else:
        table = ("| model | accuracy | accuracy difference, this model − baseline [95 % CI] | macro-F1 | MCC | AUROC |\n"
                 "|---|---|---|---|---|---|\n" + "\n".join(
                     f"| {k} | {fmt(v['accuracy'])} | {difference_cell(vs.get(k))} | {fmt(v['macro_f1'])} | "
                     f"{fmt(v['mcc'])} | {fmt(v.get('auroc', '–'))} |" for k, v in rows) + "\n\n" + verdict_sentence(vs))
    leak = leakage_sentences(entry.get("leakage") or {}, scored="external", strategy="external")
    notes = "".join(f"\n**Leakage:** {line}\n" for line in leak)
    return f"\n{head}\n{table}{notes}"
