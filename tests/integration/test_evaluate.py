"""``workbench evaluate`` end to end on the tiny random Llama: a finished, registered run is scored on an external
CSV; its own test rows reproduce the card's figures for the model and every refitted baseline; the entry lands in
metrics.json, the model card and an MLflow run linked to the version; bad input is refused with what to do."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def evaluated(splice_db, tiny_model_dir, tmp_path_factory):
    """A registered tiny run (``tiny-eval`` version 1) in a fresh WORKBENCH_HOME, and an external CSV holding the
    run's own test rows (``sequence``, ``label``: the columns of its predictions.csv)."""
    import os

    tmp = tmp_path_factory.mktemp("evaluate")
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_HOME", "WORKBENCH_TRACKING_URI")}
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    os.environ.pop("WORKBENCH_TRACKING_URI", None)
    raw = tiny_run_config(splice_db, tiny_model_dir, tmp / "runs", epochs=0.05)
    raw["registry"] = {"model_name": "tiny-eval"}
    result = setup(validate_config(raw), progress=False)  # logged to MLflow by the pipeline
    from workbench.registry.log import run_tags, track_run
    from workbench.registry.versions import register_version

    # a model this short a run trains learns nothing, so the pipeline would not register it: register it here
    register_version("tiny-eval", track_run(result.run_dir, "tiny-eval").run_id, run_tags(result.run_dir))
    frame = pd.read_csv(result.run_dir / "predictions.csv")[["sequence", "label"]]
    frame.to_csv(tmp / "own_test.csv", index=False)
    yield tmp, result
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def test_the_runs_own_test_rows_reproduce_its_card_and_the_result_is_recorded(evaluated, monkeypatch):
    from mlflow import MlflowClient

    from workbench.registry import tracking_uri

    tmp, result = evaluated
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp / "home"))
    out = runner.invoke(__import__("workbench.cli", fromlist=["app"]).app,
                        ["evaluate", str(result.run_dir), "--input", str(tmp / "own_test.csv"), "--name", "own-test",
                         "--sequence-column", "sequence", "--label-column", "label"])
    assert out.exit_code == 0, out.output
    assert "own-test: n = 598; this model accuracy" in out.output and "onehot_svm" in out.output
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    entry = metrics["external_evaluations"][-1]
    assert entry["metrics"]["n"] == metrics["test"]["n"] == 598
    assert entry["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
    for name, figures in metrics["baselines"].items():  # refitted on the recovered training rows, same C
        assert entry["baselines"][name]["accuracy"] == pytest.approx(figures["accuracy"], abs=1e-9), name
        assert entry["baselines"][name].get("C") == figures.get("C")
        assert entry["metrics"]["vs_baselines"][name] == metrics["test"]["vs_baselines"][name]
    pair = entry["leakage"]["pairs"]["train~external"]
    assert pair["exact"] == 0  # the run dropped repeats before splitting: no test sequence is a training one
    card = (result.run_dir / "README.md").read_text()
    assert "## External evaluation: own-test (n = 598" in card and "| onehot_svm |" in card.split("External")[-1]
    run = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri()).get_run(entry["mlflow_run_id"])
    assert run.data.tags["workbench.external_evaluation"] == "own-test"
    assert run.data.tags["evaluated_run_id"]  # the MLflow run the pipeline logged for this run directory
    assert run.data.metrics["external.accuracy"] == pytest.approx(entry["metrics"]["accuracy"])


def test_a_registered_version_is_evaluated_and_tagged(evaluated, monkeypatch):
    from mlflow import MlflowClient

    from workbench.external import evaluate_external
    from workbench.registry import resolve_run_dir, tracking_uri

    tmp, _ = evaluated
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp / "home"))
    rows = pd.read_csv(tmp / "own_test.csv").sample(120, random_state=0)  # the file is sorted by label
    rows.rename(columns={"sequence": "Sequence", "label": "Class"}).to_csv(tmp / "part.csv", index=False)
    (tmp / "part.yaml").write_text(f"name: part\nsource:\n  kind: files\n  path: {tmp / 'part.csv'}\n")
    entry = evaluate_external("tiny-eval@1", source_file=tmp / "part.yaml")
    assert entry["metrics"]["n"] == 120 and entry["model"]["spec"] == "tiny-eval@1"
    version = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri()).get_model_version("tiny-eval", "1")
    assert float(version.tags["external.part.accuracy"]) == pytest.approx(entry["metrics"]["accuracy"], abs=1e-6)
    recorded = json.loads((resolve_run_dir("tiny-eval@1") / "metrics.json").read_text())
    assert recorded["external_evaluations"][-1]["name"] == "part"


def test_labels_the_run_never_saw_are_named(evaluated, monkeypatch):
    from workbench.external import EvaluationError, evaluate_external

    tmp, result = evaluated
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp / "home"))
    rows = pd.read_csv(tmp / "own_test.csv").head(30)
    rows.loc[:4, "label"] = "donor"
    rows.to_csv(tmp / "relabelled.csv", index=False)
    with pytest.raises(EvaluationError, match=r"label\(s\) 'donor' \(5 rows\) that the run never saw; it knows "
                                              r"\['EI', 'IE', 'N'\]"):
        evaluate_external(str(result.run_dir), input_file=tmp / "relabelled.csv", sequence_column="sequence",
                          label_column="label")
    out = runner.invoke(__import__("workbench.cli", fromlist=["app"]).app,
                        ["evaluate", str(result.run_dir), "--input", str(tmp / "relabelled.csv")])
    assert out.exit_code == 2 and "Sequence" in out.output  # the run's columns are not in this file: named


def test_a_changed_training_source_is_refused(evaluated, monkeypatch, tmp_path):
    import shutil
    import sqlite3

    from workbench.external import EvaluationError, evaluate_external

    tmp, result = evaluated
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp / "home"))
    changed = tmp_path / "changed.db"
    shutil.copy(json.loads((result.run_dir / "lineage.json").read_text())["location"].removeprefix("sqlite:///"),
                changed)
    with sqlite3.connect(changed) as conn:
        conn.execute("UPDATE splice SET Class = 'N' WHERE id < 40 AND Class != 'N'")
    with pytest.raises(EvaluationError, match="no longer gives the rows it trained on"):
        evaluate_external(str(result.run_dir), input_file=tmp / "own_test.csv", sequence_column="sequence",
                          label_column="label", overrides={"source.url": f"sqlite:///{changed}"})
