"""``workbench predict MODEL --source/--input ... --out/--to ...`` for real: a SQLite and a PostgreSQL warehouse, a
Parquet and a CSV file; the rows equal the Predictor's table; refused sequences are listed by id (or fail the job
with --strict); --if-exists fail/replace/append; credentials in --to are resolved and redacted; a kill -9 mid-run
leaves the old table intact and the rerun completes; and each bad input gets a message that says what to do."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import REPO, guarded_subprocess_env, tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
SEQS = ["CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG", "ACGTNACGTA", "ACGUX", "ggatcc"]


@pytest.fixture(scope="module")
def run_dir(splice_db, tiny_model_dir, tmp_path_factory):
    cfg = tiny_run_config(splice_db, tiny_model_dir, tmp_path_factory.mktemp("batch") / "runs", epochs=0.05)
    cfg["registry"] = {"track": False}
    return setup(validate_config(cfg), progress=False).run_dir


def cli(tmp_path, *args, env_extra=None, timeout=900):
    env = guarded_subprocess_env(tmp_path / "net.log")
    env.update(env_extra or {})
    code = ("import sys, tests.netguard; tests.netguard.install(); from workbench.cli import main; "
            "sys.argv[0]='workbench'; main()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=timeout)


def warehouse(path, rows):
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE incoming (sample TEXT, Sequence TEXT)")
        conn.executemany("INSERT INTO incoming VALUES (?, ?)", rows)
    return path


def source_yaml(path, url, query="SELECT sample, Sequence FROM incoming ORDER BY sample"):
    path.write_text(yaml.safe_dump({"source": {"kind": "sql", "url": url, "query": query, "id_column": "sample"}}))
    return path


def test_sqlite_source_to_table_with_refused_rows_and_if_exists(run_dir, tmp_path):
    from workbench.serving.predictor import Predictor
    from workbench.serving.table import score_table

    db = warehouse(tmp_path / "wh.db", [(f"s{i}", s) for i, s in enumerate(SEQS)])
    src = source_yaml(tmp_path / "new_rows.yaml", f"sqlite:///{db}")
    to = f"sqlite:///{tmp_path / 'scores.db'}#splice_scores"
    out = cli(tmp_path, "predict", str(run_dir), "--source", str(src), "--to", to)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "scored 4 rows" in out.stdout and "1 refused" in out.stdout
    assert "refused: id s2: invalid letter(s) 'U' at 4, 'X' at 5" in out.stderr
    got = pd.read_sql("SELECT * FROM splice_scores", f"sqlite:///{tmp_path / 'scores.db'}")
    expected = score_table(Predictor.load(run_dir), SEQS)
    assert list(got.columns) == ["id", *expected.columns, "model_name", "model_version", "base_model_sha256",
                                 "data_fingerprint"]
    assert got["id"].tolist() == ["s0", "s1", "s2", "s3"]
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    task = json.loads((run_dir / "task.json").read_text())
    assert set(got["base_model_sha256"]) == {task["base_model"]["sha256"]} and set(got["model_name"]) == {"tiny"}
    assert got["data_fingerprint"].str.len().eq(64).all()

    again = cli(tmp_path, "predict", str(run_dir), "--source", str(src), "--to", to)
    assert again.returncode == 2 and "already exists and --if-exists is fail: choose --if-exists replace" in again.stderr
    assert cli(tmp_path, "predict", str(run_dir), "--source", str(src), "--to", to, "--if-exists", "append").returncode == 0
    assert len(pd.read_sql("SELECT id FROM splice_scores", f"sqlite:///{tmp_path / 'scores.db'}")) == 8
    assert cli(tmp_path, "predict", str(run_dir), "--source", str(src), "--to", to, "--if-exists", "replace").returncode == 0
    with sqlite3.connect(tmp_path / "scores.db") as conn:
        assert conn.execute("SELECT count(*) FROM splice_scores").fetchone() == (4,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%staging%'").fetchall() == []
    assert not (tmp_path / "net.log").exists()


def test_files_in_and_out_strict_and_the_messages(run_dir, tmp_path):
    csv = tmp_path / "new.csv"
    pd.DataFrame({"Sequence": SEQS}).to_csv(csv, index=False)
    home = {"WORKBENCH_HOME": str(tmp_path / "home")}
    for suffix in ("parquet", "csv"):
        out = cli(tmp_path, "predict", str(run_dir), "--input", str(csv), "--out", str(tmp_path / f"s.{suffix}"),
                  env_extra=home)
        assert out.returncode == 0, out.stderr[-3000:]
    parquet, text = pd.read_parquet(tmp_path / "s.parquet"), pd.read_csv(tmp_path / "s.csv")
    assert parquet["id"].tolist() == ["0", "1", "2", "3"] and parquet["p_EI"].round(6).fillna(-1).tolist() == text[
        "p_EI"].round(6).fillna(-1).tolist()
    events = [json.loads(x) for x in (tmp_path / "home" / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in events] == ["predict", "predict"] and events[0]["rows"] == 4
    assert events[0]["refused"] == 1 and events[0]["output"] == str(tmp_path / "s.parquet")

    strict = cli(tmp_path, "predict", str(run_dir), "--input", str(csv), "--out", str(tmp_path / "t.parquet"),
                 "--strict")
    assert strict.returncode == 2 and "row id '2': invalid letter(s)" in strict.stderr
    assert not (tmp_path / "t.parquet").exists() and not list(tmp_path.glob(".t.parquet.partial-*"))
    pd.DataFrame({"dna": SEQS}).to_csv(tmp_path / "other.csv", index=False)
    wrong = cli(tmp_path, "predict", str(run_dir), "--input", str(tmp_path / "other.csv"), "--out",
                str(tmp_path / "u.csv"))
    assert wrong.returncode == 2 and "has no column 'Sequence' with the sequences to score (it has ['dna'])" in \
        wrong.stderr and "--sequence-column" in wrong.stderr
    nowhere = cli(tmp_path, "predict", "nothing-here@champion", "--input", str(csv), "--out", str(tmp_path / "v.csv"))
    assert nowhere.returncode == 2 and "nothing-here@champion is not in the registry" in nowhere.stderr


def _kill_mid_run_then_rerun(run_dir, tmp_path, url, table, count_staging):
    """Scores a 3,000-row table into ``table`` (which holds 3 old rows), kills the job with SIGKILL once the
    staging table has rows, checks the old table, then reruns to completion."""
    rows = [(f"r{i:05d}", SEQS[0][i % 50:] + SEQS[0][:i % 50]) for i in range(3000)]
    db = warehouse(tmp_path / "big.db", rows)
    src = source_yaml(tmp_path / "big.yaml", f"sqlite:///{db}")
    engine = sa.create_engine(url.replace("${env:WB_TEST_PW}", "anything"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TABLE {table} (id TEXT, label TEXT)"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES ('old1', 'EI'), ('old2', 'N'), ('old3', 'IE')"))
    args = ["predict", str(run_dir), "--source", str(src), "--to", f"{url}#{table}", "--if-exists", "replace",
            "--chunk-rows", "128"]
    env = {**guarded_subprocess_env(tmp_path / "net.log"), "WB_TEST_PW": "s3cret-pw-42"}
    job = subprocess.Popen([sys.executable, "-m", "workbench.cli", *args], env=env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and job.poll() is None and count_staging(engine) < 256:
        time.sleep(0.2)
    assert job.poll() is None, "the job ended before it could be killed mid-run"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).scalars().all() == ["old1", "old2", "old3"]
    done = cli(tmp_path, *args, env_extra={"WB_TEST_PW": "s3cret-pw-42"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "s3cret-pw-42" not in done.stdout + done.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 3000
        assert count_staging(engine) == -1  # the leftover staging table is gone
    engine.dispose()
    return done


def test_kill_9_mid_run_leaves_the_old_sqlite_table_and_the_rerun_completes(run_dir, tmp_path):
    target = tmp_path / "target.db"

    def staged(engine):
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("scores__wb_staging"):
                return -1
            return conn.execute(sa.text("SELECT count(*) FROM scores__wb_staging")).scalar()

    _kill_mid_run_then_rerun(run_dir, tmp_path, f"sqlite:///{target}", "scores", staged)


@pytest.mark.sql_server
def test_kill_9_mid_run_leaves_the_old_postgres_table_and_the_rerun_completes(run_dir, tmp_path):
    from tests.integration.test_sql_servers import server_url

    url = server_url("postgresql").replace("postgres@", "postgres:${env:WB_TEST_PW}@")  # trust auth: any password
    table = f"wb_scores_{os.getpid()}"

    def staged(engine):
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(f"{table}__wb_staging"):
                return -1
            return conn.execute(sa.text(f"SELECT count(*) FROM {table}__wb_staging")).scalar()

    done = _kill_mid_run_then_rerun(run_dir, tmp_path, url, table, staged)
    assert "postgres:***@" in done.stdout
    with sa.create_engine(url.replace("${env:WB_TEST_PW}", "x")).begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
