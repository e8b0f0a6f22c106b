"""Where the registry lives and that MLflow stays quiet: the embedded SQLite store under WORKBENCH_HOME by default,
WORKBENCH_TRACKING_URI for a team's server, MLflow's telemetry off by the package's import, and the tags a run
directory's provenance becomes."""

import os
import subprocess
import sys
from pathlib import Path

from workbench.registry import tracking
from workbench.registry.log import flatten, run_metrics
from workbench.registry.versions import parse_spec

REPO = Path(__file__).resolve().parents[2]


def test_embedded_store_is_sqlite_under_workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}" and tracking.is_embedded()
    assert tracking.artifact_root() == (tmp_path / "mlartifacts").as_uri() and (tmp_path / "mlartifacts").is_dir()
    monkeypatch.setenv("WORKBENCH_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri() == "http://127.0.0.1:5000" and tracking.artifact_root() is None
    assert tracking.local_path("file:///a/b%20c") == Path("/a/b c") and tracking.local_path("mlflow-artifacts:/1") is None


def test_importing_the_package_switches_mlflow_telemetry_off():
    code = ("import workbench, os\nfrom mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY\n"
            "from mlflow.telemetry.utils import is_telemetry_disabled\n"
            "print(MLFLOW_DISABLE_TELEMETRY.get(), is_telemetry_disabled(), os.environ['DO_NOT_TRACK'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DO_NOT_TRACK", "PYTEST"))}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "True", "1"]


def test_spec_parsing_and_metric_flattening():
    assert parse_spec("splice@champion") == ("splice", "champion") and parse_spec("splice") == ("splice", "latest")
    assert parse_spec("splice@3") == ("splice", "3")
    assert flatten({"a": {"b": 1, "c": [1, 2]}}) == {"a.b": 1, "a.c": [1, 2]}
    metrics = {"test": {"accuracy": 0.9, "per_class": {"EI": {"f1": 0.8}}, "confusion_matrix": [[1]], "ci95": {}},
               "baselines": {"kmer_logreg": {"accuracy": 0.8}}, "training": {"steps": 10, "loss_history": [[1, 2.0]]}}
    assert run_metrics(metrics) == {"test.accuracy": 0.9, "test.per_class.EI.f1": 0.8,
                                    "baseline.kmer_logreg.accuracy": 0.8, "training.steps": 10.0}


def test_registry_and_retune_groups_do_not_block_a_resume():
    from workbench import validate_config
    from workbench.runs.partial import _flatten

    cfg = validate_config({"name": "x", "source": {"kind": "files", "path": "x.csv"}})
    assert cfg.registry.track is True and cfg.registry.register_version is False and cfg.registry.model_name is None
    assert (cfg.retune.metric, cfg.retune.margin, cfg.retune.frozen_fraction) == ("accuracy", 0.0, 0.15)
    flat = _flatten(cfg.model_dump(mode="json"))
    assert not [k for k in flat if k.startswith(("registry.", "retune."))]
