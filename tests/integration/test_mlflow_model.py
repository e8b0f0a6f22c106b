"""Every registered version is an MLflow Model: ``mlflow.pyfunc.load_model("models:/NAME@champion")`` scores
exactly as the workbench's own Predictor does, with its signature and input example, on a machine where the base
model is gone (the base travels inside); a version registered before the flavor existed gets it from
``workbench models log NAME@VERSION``; and a run directory whose base model is missing is refused clearly."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO, build_tiny_model_dir, guarded_subprocess_env, tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
NAME = "tiny-pyfunc"
ODD = ["ACGTACGTTTGACCA", "acgt nnac gt", "ACGU", "", "GGGCCCAAATTT" * 3]


@pytest.fixture(scope="module")
def registered(splice_db, tmp_path_factory):
    """A WORKBENCH_HOME with version 1 (champion) of NAME, trained on a base model directory that is then moved
    away; and version 2, registered the way versions were before the pyfunc flavor (run files only)."""
    import os

    tmp = tmp_path_factory.mktemp("pyfunc")
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_HOME", "WORKBENCH_TRACKING_URI")}
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    os.environ.pop("WORKBENCH_TRACKING_URI", None)
    base = build_tiny_model_dir(tmp / "base_model")
    raw = tiny_run_config(splice_db, base, tmp / "runs", epochs=0.05)
    raw["registry"] = {"register_version": True, "model_name": NAME}
    first = setup(validate_config(raw), progress=False)  # registered (marked learnt_nothing: a few tiny steps)
    from workbench.registry import promote
    from workbench.registry.log import _log_contents
    from workbench.registry.tracking import client, experiment_id
    from workbench.registry.versions import register_version

    promote(f"{NAME}@1", reason="first")
    c = client()  # version 2: logged and registered as before this change (no MLmodel, no base/)
    run = c.create_run(experiment_id(c, f"workbench/{NAME}"))
    _log_contents(c, run.info.run_id, first.run_dir, {"name": "old"}, json.loads(
        (first.run_dir / "metrics.json").read_text()))
    c.set_terminated(run.info.run_id)
    register_version(NAME, run.info.run_id, {})
    yield {"home": tmp / "home", "run": first, "base": base, "tmp": tmp}
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def home(registered, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(registered["home"]))
    return registered["home"]


def test_the_champion_loads_with_mlflow_and_scores_like_the_predictor(home, registered):
    import mlflow

    from workbench.registry import resolve_run_dir, tracking_uri
    from workbench.serving.predictor import Predictor
    from workbench.serving.table import score_table

    mlflow.set_tracking_uri(tracking_uri())  # not MLflow's default ./mlflow.db
    mlflow.set_registry_uri(tracking_uri())
    version_dir = resolve_run_dir(f"{NAME}@champion")
    info = json.loads((version_dir / "base" / "workbench_base.json").read_text())
    task = json.loads((version_dir / "task.json").read_text())
    assert info["sha256"] == task["base_model"]["sha256"] and info["num_layers"] == 2
    expected = score_table(Predictor.load(registered["run"].run_dir), ODD)  # the base model is still here

    moved = registered["base"].with_name("moved_away")
    registered["base"].rename(moved)  # the scoring machine has no base model: the version carries its own
    try:
        model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
        got = model.predict(pd.DataFrame({"Sequence": ODD}))
    finally:
        moved.rename(registered["base"])
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == ["label", "name", "p_EI", "p_IE", "p_N", "error"]
    assert got["error"].isna().tolist() == [True, True, False, False, True]
    assert "invalid letter(s) 'U' at 4" in got.loc[2, "error"] and "empty" in got.loc[3, "error"]
    assert got.loc[[0, 1, 4], ["p_EI", "p_IE", "p_N"]].sum(axis=1).round(6).tolist() == [1.0, 1.0, 1.0]

    meta = model.metadata
    assert [c.name for c in meta.get_input_schema().inputs] == ["Sequence"]
    assert [c.name for c in meta.get_output_schema().inputs] == list(got.columns)
    example = json.loads((version_dir / "input_example.json").read_text())
    assert example["columns"] == ["Sequence"] and len(example["data"]) == 2
    reqs = (version_dir / "requirements.txt").read_text().splitlines()
    assert any(r.startswith("torch==") for r in reqs) and any(r.startswith("peft==") for r in reqs)
    assert (version_dir / "code" / "workbench" / "serving" / "predictor.py").is_file()


def test_a_version_registered_before_the_flavor_gets_it_from_models_log(home, registered, tmp_path):
    import mlflow

    from workbench.registry import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())  # not MLflow's default ./mlflow.db
    mlflow.set_registry_uri(tracking_uri())
    with pytest.raises(Exception, match="MLmodel"):
        mlflow.pyfunc.load_model(f"models:/{NAME}/2")
    env = guarded_subprocess_env(tmp_path / "net.log")
    env["WORKBENCH_HOME"] = str(home)
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "models", "log", f"{NAME}@2"], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=600)
    assert out.returncode == 0 and "pyfunc flavor added to version(s) 2" in out.stdout, out.stderr[-2000:]
    one = mlflow.pyfunc.load_model(f"models:/{NAME}/1").predict(pd.DataFrame({"Sequence": ODD}))
    two = mlflow.pyfunc.load_model(f"models:/{NAME}/2").predict(pd.DataFrame({"Sequence": ODD}))
    pd.testing.assert_frame_equal(one, two)  # the same run directory, logged twice
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "models", "log", NAME], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=600)
    assert out.returncode == 0 and "already has the pyfunc flavor" in out.stdout, out.stderr[-2000:]
    assert not (tmp_path / "net.log").exists()


def test_a_run_directory_whose_base_model_is_missing_is_refused_with_what_to_do(registered, tmp_path):
    from workbench.serving.predictor import Predictor, RunDirError

    run_dir = tmp_path / "run"
    shutil.copytree(registered["run"].run_dir, run_dir)
    task = json.loads((run_dir / "task.json").read_text())
    task["base_model"]["spec"] = str(tmp_path / "not_here")
    (run_dir / "task.json").write_text(json.dumps(task))
    with pytest.raises(RunDirError, match=r"is missing on this machine.*Install that base model here, or score the "
                                          r"registered version"):
        Predictor.load(run_dir)


def test_mlflow_models_serve_answers_on_loopback_with_the_same_predictions(home, registered, tmp_path):
    """`workbench models serve` runs `mlflow models serve --env-manager local` on 127.0.0.1; one real HTTP request;
    every Python process of the server refuses (and records) non-loopback connections, so telemetry would show."""
    import httpx

    from tests.integration.mlflow_server import free_port, served
    from workbench.serving.predictor import Predictor
    from workbench.serving.table import score_table

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import tests.netguard\ntests.netguard.install()\n")
    env = {k: v for k, v in guarded_subprocess_env(tmp_path / "net.log").items()
           if k not in ("PYTEST_CURRENT_TEST", "CI", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), str(REPO)]), WORKBENCH_HOME=str(home))
    port = free_port()
    cmd = [sys.executable, "-m", "workbench.cli", "models", "serve", f"{NAME}@champion", "--port", str(port)]
    with served(cmd, env, f"http://127.0.0.1:{port}/ping", tmp_path / "serve.log", timeout=600):
        reply = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=120,
                           json={"dataframe_split": {"columns": ["Sequence"], "data": [[s] for s in ODD]}})
    assert reply.status_code == 200, reply.text[-2000:]
    got = pd.DataFrame(reply.json()["predictions"])
    expected = score_table(Predictor.load(registered["run"].run_dir), ODD)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert not (tmp_path / "net.log").exists(), (tmp_path / "net.log").read_text()


def _java_problem() -> str | None:
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Spark needs a Java runtime and none is installed (.ci/run installs Debian's default-jre-headless)"
    return None


@pytest.mark.skipif(_java_problem() is not None, reason=str(_java_problem()))
def test_spark_udf_scores_a_parquet_table_on_local_2_like_the_predictor(home, registered, tmp_path, monkeypatch):
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import struct

    from workbench.registry import tracking_uri
    from workbench.serving.predictor import Predictor
    from workbench.serving.table import output_columns, score_table

    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the workers run this environment's Python
    mlflow.set_tracking_uri(tracking_uri())  # not MLflow's default ./mlflow.db
    mlflow.set_registry_uri(tracking_uri())
    seqs = ODD * 5
    pd.DataFrame({"row": range(len(seqs)), "Sequence": seqs}).to_parquet(tmp_path / "table.parquet")
    spark = (SparkSession.builder.master("local[2]").appName("workbench-test").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    try:
        task = json.loads((registered["run"].run_dir / "task.json").read_text())
        result_type = ", ".join(f"{n} {k}" for n, k in output_columns(task))
        udf = mlflow.pyfunc.spark_udf(spark, f"models:/{NAME}@champion", result_type=result_type,
                                      env_manager="local")
        table = spark.read.parquet(str(tmp_path / "table.parquet"))
        got = (table.withColumn("p", udf(struct("Sequence"))).select("row", "p.*").toPandas()
               .sort_values("row").reset_index(drop=True).drop(columns="row"))
    finally:
        spark.stop()
    expected = score_table(Predictor.load(registered["run"].run_dir), seqs)
    strings = ["label", "name", "error"]  # spark_udf casts string columns with astype(str): null -> "None"/"nan"
    assert set(got.loc[expected["error"].isna(), "error"]) <= {"None", "nan"}
    for column in strings:
        got[column] = got[column].replace({"None": None, "nan": None}).astype(expected[column].dtype)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-6)
