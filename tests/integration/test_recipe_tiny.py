"""End-to-end recipe on a tiny random Llama: connect -> split -> train -> evaluate -> save."""

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import EXPECTED_BACKEND, guarded_subprocess_env, tiny_run_config
from workbench import setup, validate_config
from workbench.runs.run_dir import missing_files
from workbench.serving.predictor import Predictor, RunDirError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_run(splice_db, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = validate_config(tiny_run_config(splice_db, tiny_model_dir, out, epochs=1.0))
    return setup(cfg, progress=False)


def test_run_directory_is_complete(tiny_run):
    assert missing_files(tiny_run.run_dir) == []
    metrics = json.loads((tiny_run.run_dir / "metrics.json").read_text())
    assert metrics["test"]["n"] == 598 and metrics["data"]["split"]["sizes"] == {
        "train": 2092, "validation": 299, "test": 598}
    assert metrics["data"]["ambiguity"]["rows_dropped"] == 15
    assert metrics["data"]["split"]["duplicate_rows_dropped"] == 184
    assert metrics["training"]["backend"] == EXPECTED_BACKEND, metrics["training"]["backend_reason"]


def test_loss_falls(tiny_run):
    history = json.loads((tiny_run.run_dir / "metrics.json").read_text())["training"]["loss_history"]
    first, last = history[0][1], history[-1][1]
    assert last < first, history


def test_model_card_records_provenance(tiny_run):
    card = (tiny_run.run_dir / "README.md").read_text()
    lineage = json.loads((tiny_run.run_dir / "lineage.json").read_text())
    for needle in ("## Base model", "sha256", "## Data", lineage["fingerprint"], "SELECT Sequence, Class FROM splice",
                   "onehot_logreg", "kmer_logreg", "onehot_svm", "kmer_svm", "C (chosen by validation accuracy", "MCC",
                   "LoRA r=8", "torch", "transformers", "peft",
                   f"- backend: {EXPECTED_BACKEND} (", *(["unsloth 20"] if EXPECTED_BACKEND == "unsloth" else [])):
        assert needle in card, needle
    saved = yaml.safe_load((tiny_run.run_dir / "config.yaml").read_text())
    assert saved["lora"]["r"] == 8 and saved["train"]["epochs"] == 1.0


def test_predictor_reproduces_saved_predictions(tiny_run):
    frame = pd.read_csv(tiny_run.run_dir / "predictions.csv")
    predictor = Predictor.load(tiny_run.run_dir, precision="fp32")
    preds = predictor.predict(frame["sequence"][:20].tolist())
    for p, (_, row) in zip(preds, frame.head(20).iterrows()):
        assert p.label == row["predicted"]
        for label in predictor.labels:
            assert p.probabilities[label] == pytest.approx(row[f"p_{label}"], abs=1e-4)


def test_validation_predictions_are_the_kept_weights_on_the_validation_split(tiny_run):
    """validation_predictions.csv holds every validation row once with the kept weights' probabilities (what a
    threshold or blend is chosen on, never the test split): the predictor reproduces them, and its accuracy is the
    best validation score the loop kept."""
    frame = pd.read_csv(tiny_run.run_dir / "validation_predictions.csv")
    metrics = json.loads((tiny_run.run_dir / "metrics.json").read_text())
    split = metrics["data"]["split"]["sizes"]
    assert len(frame) == split["validation"] and not set(frame["sequence"]) & set(
        pd.read_csv(tiny_run.run_dir / "predictions.csv")["sequence"])
    predictor = Predictor.load(tiny_run.run_dir, precision="fp32")
    columns = [f"p_{label}" for label in predictor.labels]
    for p, (_, row) in zip(predictor.predict(frame["sequence"][:10].tolist()), frame.head(10).iterrows()):
        assert [p.probabilities[y] for y in predictor.labels] == pytest.approx(row[columns].tolist(), abs=1e-4)
    predicted = frame[columns].to_numpy().argmax(1)
    accuracy = (frame["label"].to_numpy() == [predictor.labels[i] for i in predicted]).mean()
    assert accuracy == pytest.approx(metrics["training"]["best_val_accuracy"], abs=1e-6)


def test_predict_in_a_fresh_process_reproduces_saved_predictions(tiny_run, tmp_path):
    """`workbench predict` in its own process (transformers + PEFT, nothing patched by an earlier Unsloth load in
    this process) reads the adapter the recipe saved and gives the probabilities written at training time."""
    import subprocess
    import sys

    frame = pd.read_csv(tiny_run.run_dir / "predictions.csv").head(8)
    args = [a for s in frame["sequence"] for a in ("--sequence", s)]
    code = ("import sys, tests.netguard; tests.netguard.install(); from workbench.cli import main; sys.argv[0] = 'workbench'\n"
            "try: main()\nfinally: print('unsloth imported:', 'unsloth' in sys.modules, file=sys.stderr)")
    netlog = tmp_path / "net.log"
    out = subprocess.run([sys.executable, "-c", code, "predict", str(tiny_run.run_dir), *args, "--json"],
                         capture_output=True, text=True, env=guarded_subprocess_env(netlog), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not netlog.exists(), netlog.read_text()
    assert "unsloth imported: False" in out.stderr, "predicting should not need Unsloth"
    lines = [json.loads(x) for x in out.stdout.strip().splitlines()]
    assert len(lines) == len(frame)
    for got, (_, row) in zip(lines, frame.iterrows()):
        assert got["label"] == row["predicted"]
        for label, p in got["probabilities"].items():
            # 5e-4: a fresh process (other thread count, other batch padding) sums the mean-pooled float32
            # hidden states in another order; the label itself must match exactly (above).
            assert p == pytest.approx(row[f"p_{label}"], abs=5e-4)


def test_incomplete_run_dir_is_refused(tiny_run, tmp_path):
    with pytest.raises(RunDirError, match="not a complete run directory"):
        Predictor.load(tmp_path)


def test_linear_classifier_mean_pooling_run_reloads(splice_db, tiny_model_dir, tmp_path):
    """task.classifier=linear + task.pooling=mean: the head is saved, reloaded, and export refuses the run."""
    from workbench.export import ExportError, export_run

    cfg = tiny_run_config(splice_db, tiny_model_dir, tmp_path, epochs=0.1)
    cfg["task"].update(classifier="linear", pooling="mean")
    run_dir = setup(validate_config(cfg), progress=False).run_dir
    task = json.loads((run_dir / "task.json").read_text())
    assert (task["classifier"], task["pooling"]) == ("linear", "mean")
    assert missing_files(run_dir) == [] and (run_dir / task["head_file"]).is_file()
    frame = pd.read_csv(run_dir / "predictions.csv")
    preds = Predictor.load(run_dir, precision="fp32").predict(frame["sequence"][:10].tolist())
    for p, (_, row) in zip(preds, frame.head(10).iterrows()):
        assert p.label == row["predicted"]
        assert p.probabilities["EI"] == pytest.approx(row["p_EI"], abs=1e-4)
    with pytest.raises(ExportError, match="task.classifier=linear"):
        export_run(run_dir, "merged")
    (run_dir / task["head_file"]).unlink()
    assert missing_files(run_dir) == [task["head_file"]]


def test_dinucleotide_tokens_reach_the_predictor(splice_db, tiny_model_dir, tmp_path):
    """task.kmer=2: task.json records it, training sees about half the prompt tokens of one base per token, and
    the predictor formats new sequences the same way (it reproduces the saved probabilities)."""
    seen = {}
    for kmer in (1, 2):
        cfg = tiny_run_config(splice_db, tiny_model_dir, tmp_path / f"k{kmer}", epochs=0.1)
        cfg["task"]["kmer"] = kmer
        run_dir = setup(validate_config(cfg), progress=False).run_dir
        seen[kmer] = json.loads((run_dir / "metrics.json").read_text())["training"]["tokens_seen"]
    assert json.loads((run_dir / "task.json").read_text())["kmer"] == 2
    assert 0.45 < seen[2] / seen[1] < 0.75  # 60 bases -> 60 tokens vs ~33, plus the shared template tokens
    frame = pd.read_csv(run_dir / "predictions.csv")
    for p, (_, row) in zip(Predictor.load(run_dir, precision="fp32").predict(frame["sequence"][:10].tolist()),
                           frame.head(10).iterrows()):
        assert p.label == row["predicted"] and p.probabilities["EI"] == pytest.approx(row["p_EI"], abs=1e-4)
