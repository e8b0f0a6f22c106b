"""Regression end to end on a tiny random Llama: GC content of the bundled splice sequences."""

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import tiny_run_config
from workbench import setup, validate_config
from workbench.runs.run_dir import missing_files
from workbench.cli import app
from workbench.serving.predictor import Predictor

pytestmark = pytest.mark.integration


def regression_config(csv, model_dir, out, **train) -> dict:
    """The tiny-model config on the first 800 rows of the GC-content CSV."""
    raw = tiny_run_config(csv, model_dir, out, **{"epochs": 1.0, "eval_every": 5, **train})
    raw.update(name="tiny-gc", source={"kind": "files", "path": str(csv), "limit": 800},
               columns={"sequence": "sequence", "label": "gc_content"}, task={"type": "regression"})
    return raw


@pytest.fixture(scope="module")
def gc_csv(tmp_path_factory):
    from workbench.data.samples import write_gc_csv

    path = tmp_path_factory.mktemp("gc") / "splice_gc.csv"
    write_gc_csv(path)
    return path


@pytest.fixture(scope="module")
def reg_run(gc_csv, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reg_runs")
    return setup(validate_config(regression_config(gc_csv, tiny_model_dir, out)), progress=False)


def test_gc_csv_is_the_computed_gc_content(gc_csv):
    frame = pd.read_csv(gc_csv)
    assert len(frame) == 3175  # 3,190 splice rows less the 15 with IUPAC codes
    row = frame.iloc[0]
    assert row["gc_content"] == pytest.approx((row["sequence"].count("G") + row["sequence"].count("C")) / 60, abs=1e-6)


def test_regression_run_directory_and_metrics(reg_run):
    assert reg_run.task_type == "regression" and missing_files(reg_run.run_dir) == []
    metrics = json.loads((reg_run.run_dir / "metrics.json").read_text())
    assert set(metrics["test"]) == {"n", "mse", "rmse", "mae", "r2", "pearson", "spearman"}
    assert set(metrics["baselines"]) == {"kmer_ridge", "onehot_ridge", "train_mean"}
    split = metrics["data"]["split"]
    assert sum(split["sizes"].values()) + split["duplicate_rows_dropped"] == 800
    assert split["class_counts"]["test"] == {f"q{k}": split["sizes"]["test"] // 5 for k in range(5)}
    training = metrics["training"]
    assert training["val_metric"] == "spearman" and training["val_history"][0][0] == 5
    # the adapter + head learned something: better than predicting the training mean
    assert reg_run.metrics["mse"] < reg_run.baselines["train_mean"]["mse"] and reg_run.metrics["spearman"] > 0.3
    task = json.loads((reg_run.run_dir / "task.json").read_text())
    assert task["type"] == "regression" and task["target"] == "gc_content"
    assert task["scaler"]["mean"] == pytest.approx(split["target_stats"]["train"]["mean"])
    card = (reg_run.run_dir / "README.md").read_text()
    for needle in ("DNA sequence regression", "Spearman", "R²", "kmer_ridge", "train_mean", "scatter.png",
                   "stratified by 5 target quantile bins", "best validation spearman"):
        assert needle in card, needle


def test_predictor_cli_and_demo_give_the_saved_values(reg_run):
    frame = pd.read_csv(reg_run.run_dir / "predictions.csv")
    predictor = Predictor.load(reg_run.run_dir, precision="fp32")
    preds = predictor.predict(frame["sequence"][:10].tolist())
    assert [p.value for p in preds] == pytest.approx(frame["predicted"][:10].tolist(), abs=1e-5)

    result = CliRunner().invoke(app, ["predict", str(reg_run.run_dir), "--json", "-s", frame["sequence"][0]])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["target"] == "gc_content" and line["value"] == pytest.approx(frame["predicted"][0], abs=1e-4)

    from gradio_client import Client

    from workbench.serving.demo import serve

    demo, url = serve(reg_run.run_dir, host="127.0.0.1", port=0, block=False)
    try:
        value = Client(url, verbose=False).predict(frame["sequence"][0], api_name="/predict")
        assert value == pytest.approx(frame["predicted"][0], abs=1e-3)
        with pytest.raises(Exception, match=r"'X' at 5"):
            Client(url, verbose=False).predict("ACGTX", api_name="/predict")
        task = json.loads((reg_run.run_dir / "task.json").read_text())
        train_values = pd.read_csv(reg_run.run_dir / "predictions.csv")["target"]  # the test split's targets
        low, high = task["target_range"]["min"], task["target_range"]["max"]
        assert low <= train_values.median() <= high
        shown, note, plot = Client(url, verbose=False).predict(frame["sequence"][0], api_name="/one")
        assert shown == pytest.approx(value, abs=1e-4) and plot is not None
        assert f"Training range of `gc_content`: {low:.4g} to {high:.4g}" in note
    finally:
        demo.close()


def test_dry_run_reports_and_writes_nothing(gc_csv, tiny_model_dir, tmp_path):
    out = tmp_path / "runs"
    cfg = tmp_path / "reg.yaml"
    cfg.write_text(yaml.safe_dump(regression_config(gc_csv, tiny_model_dir, out, save_every=2)))
    result = CliRunner().invoke(app, ["run", str(cfg), "--dry-run"])
    assert result.exit_code == 0, result.output
    for needle in ("dry run (nothing written)", "train 496 rows", "16 per epoch, 16 in total", "trainable parameters",
                   "estimated peak memory (cpu-peak-rss)", "estimated training time"):
        assert needle in result.output, result.output
    assert not out.exists()


def test_regression_rejects_label_words_and_non_numeric_targets(gc_csv, tiny_model_dir, tmp_path):
    from workbench.config import ConfigError

    raw = regression_config(gc_csv, tiny_model_dir, tmp_path)
    raw["task"]["label_words"] = {"a": "b"}
    with pytest.raises(ConfigError, match="classification only"):
        validate_config(raw)
    bad = tmp_path / "bad.csv"
    rows = "".join(f"ACGT{'ACGT' * (i % 7)},{i}\n" for i in range(30))
    bad.write_text("sequence,gc_content\n" + rows + "AAAA,high\n")
    raw = regression_config(bad, tiny_model_dir, tmp_path)
    with pytest.raises(ValueError, match="row 30: 'high'"):
        setup(validate_config(raw), progress=False)
