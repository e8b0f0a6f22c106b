"""Tracking and registry on a real local SQLite MLflow store: every run is logged (redacted config, metrics, plots,
model card, adapter), registered versions carry their provenance tags, aliases move with promote/rollback, and
``NAME@REF`` resolves to a run directory that serves and exports."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, guarded_subprocess_env, tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registered(splice_db, tiny_model_dir, tmp_path_factory):
    """A fresh WORKBENCH_HOME with two registered versions of ``tiny-splice`` (runs ``tiny`` and ``tiny-seed1``)."""
    import os

    tmp = tmp_path_factory.mktemp("registry")
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_HOME", "WORKBENCH_TRACKING_URI")}
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    os.environ.pop("WORKBENCH_TRACKING_URI", None)
    raw = tiny_run_config(splice_db, tiny_model_dir, tmp / "runs", epochs=0.05)
    raw["registry"] = {"register_version": True, "model_name": "tiny-splice"}
    first = setup(validate_config(raw), progress=False)
    raw["train"]["seed"], raw["name"] = 1, "tiny-seed1"
    second = setup(validate_config(raw), progress=False)
    yield tmp / "home", first, second
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def home(registered, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(registered[0]))
    return registered[0]


def test_runs_are_logged_and_versions_carry_provenance(home, registered):
    from mlflow import MlflowClient

    from workbench.registry import (compare_versions, get_version, list_models, list_versions, promote,
                                    resolve_run_dir, rollback, tracking_uri)
    from workbench.registry.tracking import RegistryError

    _, first, second = registered
    assert tracking_uri() == f"sqlite:///{home / 'mlflow.db'}" and (home / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())
    v1 = client.get_model_version("tiny-splice", "1")
    lineage = json.loads((first.run_dir / "lineage.json").read_text())
    task = json.loads((first.run_dir / "task.json").read_text())
    assert v1.tags["data_fingerprint"] == lineage["fingerprint"]
    assert v1.tags["base_model_sha256"] == task["base_model"]["sha256"] and len(v1.tags["base_model_sha256"]) == 64
    assert v1.tags["version.torch"] and v1.tags["version.peft"]
    assert len(v1.tags["git_commit"].split("-")[0]) == 40
    run = client.get_run(v1.run_id)
    assert run.data.params["train.epochs"] == "0.05" and run.data.params["lora.r"] == "8"
    assert run.data.metrics["test.accuracy"] == pytest.approx(first.metrics["accuracy"])
    assert "baseline.kmer_logreg.accuracy" in run.data.metrics
    logged = {f.path for f in client.list_artifacts(v1.run_id, "run")}
    assert {"run/README.md", "run/config.yaml", "run/metrics.json", "run/confusion_matrix.png", "run/training.png",
            "run/adapter", "run/lineage.json"} <= logged
    history = client.get_metric_history(v1.run_id, "train_loss")
    assert len(history) >= 1

    assert list_models() == [{"name": "tiny-splice", "champion": None, "challenger": None, "versions": 2}]
    with pytest.raises(RegistryError, match="tiny-splice@champion is not in the registry"):
        resolve_run_dir("tiny-splice@champion")
    promote("tiny-splice", 1, reason="first")
    promote("tiny-splice@2", reason="second is newer")
    assert str(get_version("tiny-splice", "champion").version) == "2"
    entry = rollback("tiny-splice", reason="bad in production")
    assert (entry["version"], entry["previous"]) == ("1", "2")
    assert str(get_version("tiny-splice", "champion").version) == "1"
    rows = list_versions("tiny-splice")
    assert [r["version"] for r in rows] == [2, 1] and rows[1]["aliases"] == ["champion"]
    table = compare_versions("tiny-splice")
    assert list(table.index) == [1, 2] and table.loc[1, "aliases"] == "champion"
    resolved = resolve_run_dir("tiny-splice@champion")
    assert resolved.is_relative_to(home / "mlartifacts")
    assert (resolved / "adapter" / "adapter_model.safetensors").read_bytes() == (
        first.run_dir / "adapter" / "adapter_model.safetensors").read_bytes()
    events = [json.loads(x) for x in (home / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in events if e["action"] == "train"] == ["train", "train"]  # the two runs
    events = [e for e in events if e["action"] in ("promote", "rollback")]
    assert [e["action"] for e in events] == ["promote", "promote", "rollback"]
    assert events[-1]["target"] == "tiny-splice@champion" and events[-1]["reason"] == "bad in production"


def test_cli_models_and_export_from_a_registered_version(home, tmp_path):
    from workbench.registry import champion_number

    now = champion_number("tiny-splice")
    other = "2" if now == "1" else "1"
    env = guarded_subprocess_env(tmp_path / "net.log")
    env["WORKBENCH_HOME"] = str(home)

    def cli(*args):
        code = "import sys, tests.netguard; tests.netguard.install(); from workbench.cli import main; sys.argv[0]='workbench'; main()"
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=600)

    out = cli("models", "promote", f"tiny-splice@{other}", "--reason", "from the CLI")
    assert out.returncode == 0 and f"champion: v{other} (was v{now or '-'})" in out.stdout, out.stderr[-2000:]
    out = cli("models", "list", "tiny-splice")
    lines = {line.split("\t")[0]: line for line in out.stdout.splitlines()}
    assert out.returncode == 0 and lines[f"v{other}"].split("\t")[1] == "champion", out.stdout
    out = cli("models", "show", "tiny-splice@champion")
    shown = json.loads(out.stdout)
    assert shown["version"] == int(other) and shown["tags"]["promotion_reason"] == "from the CLI"
    assert shown["metrics"]["test.accuracy"] > 0
    out = cli("models", "rollback", "tiny-splice", "--to", "9")
    assert out.returncode == 2 and "tiny-splice@9 is not in the registry" in out.stderr
    out = cli("export", "--model", "tiny-splice@champion", "--format", "adapter", "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["path"].startswith(str(home / "exports" / "tiny-splice-champion")) and result["check"]["passed"]
    out = cli("serve", "--model", "tiny-splice@7")
    assert out.returncode == 2 and "tiny-splice@7 is not in the registry" in out.stderr
    assert not (tmp_path / "net.log").exists()
