"""The classification model card's results section (workbench.tasks.classification)."""

import numpy as np

from workbench.evaluation.metrics import classification_metrics, paired_difference_ci
from workbench.tasks.classification import difference_cell, results_section, verdict_sentence


def _info():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 400)
    wrong = (truth + 1) % 3
    model = np.where(rng.random(400) < 0.97, truth, wrong)
    strong = model.copy()
    strong[:3] = wrong[:3]  # a baseline a hair worse than the model: its interval contains 0
    weak = np.where(rng.random(400) < 0.70, truth, wrong)
    labels = ["a", "b", "c"]
    metrics = classification_metrics(truth.tolist(), model.tolist(), labels)
    baselines = {"onehot_logreg": classification_metrics(truth.tolist(), strong.tolist(), labels),
                 "kmer_logreg": classification_metrics(truth.tolist(), weak.tolist(), labels)}
    metrics["vs_baselines"] = {"onehot_logreg": paired_difference_ci(truth, model, strong),
                               "kmer_logreg": paired_difference_ci(truth, model, weak)}
    return {"metrics": metrics, "baselines": baselines, "base_model": {"name": "tiny"}}


def test_the_card_prints_each_baselines_difference_interval_and_says_which_wins_are_real():
    info = _info()
    section = results_section(info)
    vs = info["metrics"]["vs_baselines"]
    assert "accuracy difference, this model − baseline [95 % CI]" in section
    for name in ("onehot_logreg", "kmer_logreg"):
        row = next(line for line in section.splitlines() if line.startswith(f"| {name} |"))
        assert difference_cell(vs[name]) in row
    own = next(line for line in section.splitlines() if line.startswith("| this model"))
    assert own.split("|")[3].strip() == "–"
    sentence = verdict_sentence(vs)
    assert sentence in section
    assert "better than kmer_logreg (interval above 0)" in sentence
    assert "not distinguishable from onehot_logreg (interval contains 0)" in sentence
    assert verdict_sentence({}) == ""


def test_a_card_without_differences_still_renders():
    info = _info()
    del info["metrics"]["vs_baselines"]  # a run directory written before the column existed
    section = results_section(info)
    assert "Paired bootstrap" not in section and "| kmer_logreg |" in section
