"""Classical baselines (workbench.baselines)."""

import random

import numpy as np

from workbench.evaluation.baselines import baseline_models, class_scores, fit_baseline, run_baselines


def _motif_rows(n, seed=0):
    rng = random.Random(seed)

    def sample(label):
        seq = [rng.choice("ACGT") for _ in range(30)]
        if label == 1:
            seq[10:12] = ["G", "T"]
        return "".join(seq)

    ys = [i % 2 for i in range(n)]
    return [sample(y) for y in ys], ys


def test_onehot_baselines_learn_a_positional_motif():
    seqs, ys = _motif_rows(600)
    res = run_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:], ["neg", "pos"])
    assert set(res) == {"kmer_logreg", "onehot_logreg", "kmer_svm", "onehot_svm", "majority"}
    assert res["onehot_logreg"]["accuracy"] > 0.9 and res["onehot_svm"]["accuracy"] > 0.9
    assert res["majority"]["accuracy"] < 0.6
    assert res["onehot_logreg"]["accuracy"] > res["majority"]["accuracy"]
    for name in ("onehot_logreg", "onehot_svm", "kmer_svm"):  # scores for AUROC, SVMs included
        assert 0.0 <= res[name]["auroc"] <= 1.0
    assert res["onehot_svm"]["auroc"] > 0.9
    assert res["onehot_logreg"]["val_accuracy"] is None  # no validation split: every C is the default
    assert res["onehot_logreg"]["C"] == baseline_models(30)["onehot_logreg"].default
    again, predictions = run_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:], ["neg", "pos"],
                                       return_predictions=True)
    assert set(predictions) == set(res) and all(len(p) == 200 for p in predictions.values())
    for name, pred in predictions.items():  # the returned predictions are the ones the metrics were computed from
        assert sum(p == y for p, y in zip(pred, ys[400:])) / 200 == again[name]["accuracy"] == res[name]["accuracy"]


def test_validation_chooses_each_baselines_c_and_never_reads_the_test_split():
    seqs, ys = _motif_rows(700, seed=3)
    train, val, test = (seqs[:300], ys[:300]), (seqs[300:400], ys[300:400]), (seqs[400:], ys[400:])
    res = run_baselines(*train, *test, ["neg", "pos"], val_seqs=val[0], val_y=val[1])
    models = baseline_models(30)
    for name, b in models.items():
        model, c, score = fit_baseline(b, train, val)
        assert c in b.grid and res[name]["C"] == c and res[name]["val_accuracy"] == score
        # the chosen C scores best on validation (ties to the smaller C)
        for other in b.grid:
            fitted = b.make(other).fit(b.featurise(train[0]), train[1])
            other_score = (fitted.predict(b.featurise(val[0])) == np.array(val[1])).mean()
            assert other_score <= score and (other_score < score or other >= c)
    # flipping every test label changes no choice of C: the test split is only scored
    flipped = run_baselines(*train, test[0], [1 - y for y in test[1]], ["neg", "pos"], val_seqs=val[0],
                            val_y=val[1])
    assert all(flipped[n]["C"] == res[n]["C"] for n in models)
    assert all(abs(flipped[n]["accuracy"] - (1 - res[n]["accuracy"])) < 1e-12 for n in models)


def test_class_scores_are_probabilities_for_every_class():
    seqs, ys = _motif_rows(300)
    three = [y if i % 3 else 2 for i, y in enumerate(ys)]
    for name, b in baseline_models(30).items():
        model = fit_baseline(b, (seqs[:200], three[:200]))[0]
        scores = class_scores(model, b.featurise(seqs[200:]), 4)  # a fourth class absent from training gets 0
        assert scores.shape == (100, 4) and np.allclose(scores.sum(1), 1.0) and (scores[:, 3] == 0).all()
        assert (scores[:, :3].argmax(1) == model.predict(b.featurise(seqs[200:]))).mean() > 0.95, name


def test_the_card_names_each_baselines_c_and_how_it_was_chosen():
    from workbench.tasks.classification import tuning_sentence

    chosen = tuning_sentence({"onehot_svm": {"C": 0.3, "val_accuracy": 0.97}, "kmer_logreg": {"C": 0.01,
                              "val_accuracy": 0.7}, "majority": {"accuracy": 0.5}})
    assert chosen == ("Baselines' regularisation strength C (chosen by validation accuracy, as the model's weights "
                      "are): onehot_svm 0.3, kmer_logreg 0.01.\n")
    assert "default" in tuning_sentence({"onehot_svm": {"C": 1.0, "val_accuracy": None}})
    assert tuning_sentence({"kmer_logreg": {"accuracy": 0.7}}) == ""  # a run written before C was recorded


def test_regression_baselines_fit_a_composition_target():
    from workbench.evaluation.baselines import run_regression_baselines

    rng = random.Random(1)
    seqs = ["".join(rng.choice("ACGT") for _ in range(40)) for _ in range(500)]
    ys = [(s.count("G") + s.count("C")) / len(s) + rng.gauss(0, 0.01) for s in seqs]
    res = run_regression_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:])
    assert set(res) == {"kmer_ridge", "onehot_ridge", "train_mean"}
    assert res["kmer_ridge"]["r2"] > 0.9 and res["onehot_ridge"]["r2"] > 0.9
    assert res["train_mean"]["r2"] < 0.05 and res["train_mean"]["mse"] > res["kmer_ridge"]["mse"]
