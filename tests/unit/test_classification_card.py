"""The classification model card: its results section (workbench.tasks.classification) and the sentence on which
weights were kept (workbench.runs.card)."""

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


def _training(averaged_steps=None, averaged=False, kept_score=0.9799, averaged_score=None):
    return {"val_metric": "accuracy", "best_step": 1179, "best_val_score": kept_score,
            "val_history": [[1048, 0.9498], [1179, 0.9799], [1834, 0.9699], [1965, 0.9699]],
            "averaged_steps": averaged_steps, "averaged": averaged, "averaged_val_score": averaged_score}


def test_the_card_says_which_weights_were_kept_and_against_which_bar():
    from workbench.runs.card import kept_weights_note

    members, older = {"average_keep": "members"}, {}  # a run recorded before average_keep existed used 'best'
    assert kept_weights_note(_training(), members) == ("best validation accuracy 0.9799 at step 1179 "
                                                       "(weights kept from that step)")
    kept = kept_weights_note(_training([1179, 1834, 1965], True, 0.9732, 0.9732), members)
    assert kept.startswith("best validation accuracy 0.9799 at step 1179; kept: the average of the evaluations at "
                           "steps [1179, 1834, 1965], validation accuracy 0.9732 (at least their mean score)")
    refused = kept_weights_note(_training([1179, 1834, 1965], False, 0.9799, 0.9732), older)
    assert refused == ("best validation accuracy 0.9799 at step 1179 (weights kept from that step: the average of the "
                       "evaluations at steps [1179, 1834, 1965] scored 0.9732, below the best single score)")


def test_the_card_says_when_averaging_was_skipped():
    from workbench.runs.card import kept_weights_note

    skipped = kept_weights_note({**_training(), "average_skipped": True}, {"average_keep": "members"})
    assert skipped == ("best validation accuracy 0.9799 at step 1179 (weights kept from that step: no other "
                       "evaluation scored within two standard errors of it, so checkpoint averaging was skipped)")
