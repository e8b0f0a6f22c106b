"""A team's own MLflow server: with ``WORKBENCH_TRACKING_URI`` pointing at a real ``mlflow server`` on loopback, runs
and registered versions land there (nothing in the embedded SQLite store), and ``NAME@champion`` is downloaded from it
into a run directory that loads and predicts."""

import pytest

from tests.conftest import tiny_run_config
from tests.integration.mlflow_server import mlflow_server
from workbench import setup, validate_config

pytestmark = pytest.mark.integration


def test_runs_and_versions_land_on_the_teams_server(splice_db, tiny_model_dir, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from workbench.registry import promote, resolve_run_dir, tracking_uri
    from workbench.serving.predictor import Predictor

    home = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    with mlflow_server(tmp_path / "server") as url:
        monkeypatch.setenv("WORKBENCH_TRACKING_URI", url)
        assert tracking_uri() == url
        raw = tiny_run_config(splice_db, tiny_model_dir, tmp_path / "runs", epochs=0.05)
        raw["registry"] = {"register_version": True, "model_name": "team-splice"}
        run = setup(validate_config(raw), progress=False)
        promote("team-splice", 1, reason="first on the team server")

        server = MlflowClient(tracking_uri=url, registry_uri=url)
        version = server.get_model_version_by_alias("team-splice", "champion")
        assert str(version.version) == "1" and version.source.startswith("mlflow-artifacts:/")
        assert server.get_run(version.run_id).data.metrics["test.accuracy"] == pytest.approx(run.metrics["accuracy"])
        files = {f.path for f in server.list_artifacts(version.run_id, "run")}
        assert {"run/README.md", "run/adapter", "run/metrics.json"} <= files
        assert list((tmp_path / "server" / "artifacts").rglob("adapter_model.safetensors"))
        assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()

        local = resolve_run_dir("team-splice@champion")
        assert local == home / "registry" / "team-splice" / "v1"
        assert (local / "adapter" / "adapter_model.safetensors").read_bytes() == (
            run.run_dir / "adapter" / "adapter_model.safetensors").read_bytes()
        pred = Predictor.load(local).predict(["CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"])[0]
        assert set(pred.probabilities) == {"EI", "IE", "N"}
