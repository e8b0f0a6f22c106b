"""Classical baselines (workbench.baselines)."""

import random

from workbench.evaluation.baselines import run_baselines


def test_onehot_baseline_learns_a_positional_motif():
    rng = random.Random(0)

    def sample(label):
        seq = [rng.choice("ACGT") for _ in range(30)]
        if label == 1:
            seq[10:12] = ["G", "T"]
        return "".join(seq)

    ys = [i % 2 for i in range(600)]
    seqs = [sample(y) for y in ys]
    res = run_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:], ["neg", "pos"])
    assert set(res) == {"kmer_logreg", "onehot_logreg", "majority"}
    assert res["onehot_logreg"]["accuracy"] > 0.9
    assert res["majority"]["accuracy"] < 0.6
    assert res["onehot_logreg"]["accuracy"] > res["majority"]["accuracy"]
    again, predictions = run_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:], ["neg", "pos"],
                                       return_predictions=True)
    assert set(predictions) == set(res) and all(len(p) == 200 for p in predictions.values())
    for name, pred in predictions.items():  # the returned predictions are the ones the metrics were computed from
        assert sum(p == y for p, y in zip(pred, ys[400:])) / 200 == again[name]["accuracy"] == res[name]["accuracy"]


def test_regression_baselines_fit_a_composition_target():
    from workbench.evaluation.baselines import run_regression_baselines

    rng = random.Random(1)
    seqs = ["".join(rng.choice("ACGT") for _ in range(40)) for _ in range(500)]
    ys = [(s.count("G") + s.count("C")) / len(s) + rng.gauss(0, 0.01) for s in seqs]
    res = run_regression_baselines(seqs[:400], ys[:400], seqs[400:], ys[400:])
    assert set(res) == {"kmer_ridge", "onehot_ridge", "train_mean"}
    assert res["kmer_ridge"]["r2"] > 0.9 and res["onehot_ridge"]["r2"] > 0.9
    assert res["train_mean"]["r2"] < 0.05 and res["train_mean"]["mse"] > res["kmer_ridge"]["mse"]
