"""The scheduling examples in examples/scheduling/, each run for real where its tool installs here: the cron line's
command, the systemd units (``systemd-analyze verify``, then their ExecStart), the Airflow DAG's bash command (Airflow
itself is not installed: the DAG is read with ``ast``), and papermill running notebook 03 parameterised, both as a
scheduled notebook (run_notebook.sh) and with the promote/roll-back cells."""

import ast
import json
import os
import random
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.integration
EXAMPLES = REPO / "examples" / "scheduling"
NAME = "splice-sched"


@pytest.fixture(scope="module")
def scheduled(splice_db, tiny_model_dir, tmp_path_factory):
    """A WORKBENCH_HOME whose registry holds two re-tuned versions of ``splice-sched`` (SQLite source), its config,
    and the environment a scheduler's process gets."""
    from workbench.retune import retune

    tmp = tmp_path_factory.mktemp("scheduling")
    saved = os.environ.get("WORKBENCH_HOME")
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    with sqlite3.connect(splice_db) as conn:
        rows = conn.execute("SELECT Sequence, Class FROM splice ORDER BY id").fetchall()
    random.Random(0).shuffle(rows)
    db = tmp / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE rt (id INTEGER PRIMARY KEY, seq TEXT, label TEXT)")
        conn.executemany("INSERT INTO rt VALUES (?, ?, ?)", [(i, s, y) for i, (s, y) in enumerate(rows[:1200])])
    cfg = tmp / f"{NAME}.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": NAME, "source": {"kind": "sql", "url": f"sqlite:///{db}", "query": "SELECT seq, label FROM rt ORDER BY id"},
        "columns": {"sequence": "seq", "label": "label"}, "model": {"base_model": str(tiny_model_dir)},
        "lora": {"r": 8, "lora_alpha": 16},
        # as tests/integration/retune_support.py: enough to learn a little, so the learning check lets it through
        "task": {"label_words": {"EI": "donor", "IE": "acceptor", "N": "neither"}, "pooling": "last"},
        "train": {"epochs": 4.0, "learning_rate": 3e-3, "batch_size": 32, "precision": "fp32"},
        "retune": {"metric": "mcc", "bootstrap": 200, "min_free_gb": 0.1}}))
    assert retune(cfg).outcome == "promoted"
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO rt VALUES (?, ?, ?)", [(i, s, y) for i, (s, y) in enumerate(rows[1200:1600], 1200)])
    assert retune(cfg).challenger == "2"
    site = tmp / "site"  # every Python process a scheduler starts refuses non-loopback connections (tests/netguard.py)
    site.mkdir()
    (site / "sitecustomize.py").write_text("import tests.netguard\ntests.netguard.install()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "WORKBENCH_HOME": str(tmp / "home"),
           "WORKBENCH_TEST_NETLOG": str(tmp / "net.log"), "WORKBENCH": f"{sys.executable} -m workbench.cli"}
    yield {"home": tmp / "home", "config": cfg, "env": env, "tmp": tmp}
    assert not (tmp / "net.log").exists(), (tmp / "net.log").read_text()
    os.environ.pop("WORKBENCH_HOME") if saved is None else os.environ.__setitem__("WORKBENCH_HOME", saved)


def _local(text: str, s: dict) -> str:
    """An example's text with its /srv/workbench paths pointed at this checkout, the test's home and config."""
    return (text.replace("/srv/workbench/configs/splice.yaml", str(s["config"]))
            .replace("/srv/workbench/home", str(s["home"]))
            .replace("/srv/workbench/.venv/bin/workbench", s["env"]["WORKBENCH"])
            .replace("/srv/workbench", str(REPO)))


def test_cron_line_runs_an_unchanged_retune(scheduled):
    line = next(x for x in (EXAMPLES / "crontab").read_text().splitlines() if x.strip() and not x.startswith("#"))
    fields = line.split(None, 5)
    assert fields[:5] == ["30", "2", "*", "*", "*"] and "retune.sh" in fields[5]
    done = subprocess.run(["sh", "-c", _local(fields[5], scheduled)], env=scheduled["env"], timeout=600)
    assert done.returncode == 0
    log = (scheduled["home"] / "retune.log").read_text()
    assert f"{NAME}: unchanged (exit 0)" in log, log[-2000:]


def test_systemd_units_verify_and_their_command_runs(scheduled):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    units = scheduled["tmp"] / "units"
    units.mkdir(exist_ok=True)
    service = _local((EXAMPLES / "workbench-retune.service").read_text(), scheduled)
    exec_start = re.search(r"^ExecStart=(.+)$", service, re.M).group(1)
    # systemd wants an absolute executable: the venv's console script (PYTHONPATH set below) stands in for ours
    script = shutil.which("workbench", path=os.path.dirname(sys.executable)) or sys.executable
    service = service.replace(exec_start, exec_start.replace(scheduled["env"]["WORKBENCH"], script))
    service = service.replace("User=workbench", "User=root")
    (units / "workbench-retune.service").write_text(service)
    shutil.copy(EXAMPLES / "workbench-retune.timer", units)
    check = subprocess.run(["systemd-analyze", "verify", str(units / "workbench-retune.service"),
                            str(units / "workbench-retune.timer")], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "Unknown" not in check.stderr, check.stderr
    assert "SuccessExitStatus=3" in service
    env = {**scheduled["env"], **dict(re.findall(r"^Environment=([A-Z_]+)=(.+)$", service, re.M))}
    cwd = re.search(r"^WorkingDirectory=(.+)$", service, re.M).group(1)
    done = subprocess.run(shlex.split(re.search(r"^ExecStart=(.+)$", service, re.M).group(1)), env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and f"{NAME}: unchanged" in done.stdout, done.stderr[-2000:]


def test_airflow_dag_maps_exit_codes_and_its_command_runs(scheduled):
    """Airflow is not installed here (nor installable in this environment): the DAG file is parsed, not imported."""
    tree = ast.parse((EXAMPLES / "airflow_retune_dag.py").read_text())
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            consts[node.targets[0].id] = eval(compile(ast.Expression(node.value), "dag", "eval"), {}, dict(consts))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "BashOperator"]
    assert len(calls) == 1
    kwargs = {k.arg: k.value for k in calls[0].keywords}
    assert kwargs["bash_command"].id == "BASH_COMMAND" and kwargs["skip_on_exit_code"].id == "SKIP_ON_EXIT_CODES"
    assert consts["SKIP_ON_EXIT_CODES"] == [3, 4] and " retune " in consts["BASH_COMMAND"]
    done = subprocess.run(["bash", "-c", _local(consts["BASH_COMMAND"], scheduled)], env=scheduled["env"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["outcome"] == "unchanged"


def test_papermill_runs_notebook_03_scheduled_and_interactive(scheduled):
    import nbformat

    out = scheduled["tmp"] / "scheduled.ipynb"
    env = {**scheduled["env"], "PAPERMILL": f"{sys.executable} -m papermill"}
    done = subprocess.run([str(EXAMPLES / "run_notebook.sh"), NAME, str(scheduled["config"]), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = _outputs(nbformat.read(out, as_version=4))
    assert "re-tune: unchanged (exit 0)" in text and "promoted: {" not in text

    interactive = scheduled["tmp"] / "interactive.ipynb"
    done = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / "03_registry_and_retune.ipynb"),
                           str(interactive), "--cwd", str(REPO / "notebooks"), "-p", "model_name", NAME],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(interactive, as_version=4)
    text = _outputs(nb)
    assert "no re-tune requested" in text and "promoted: {" in text and "rolled back: {" in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)

    from workbench.registry import champion_number, decisions

    history = decisions(NAME)
    assert [e["action"] for e in history[-2:]] == ["promote", "rollback"]
    assert history[-1]["reason"] == "notebook 03: rolled back" and champion_number(NAME) == history[-1]["version"]


def _outputs(nb) -> str:
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) + str(o.get("evalue", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_rescore_after_a_retune_scores_the_new_rows_with_the_champion(scheduled):
    """examples/scheduling/rescore.sh: an (unchanged) re-tune, then the warehouse rows scored by the champion into
    a table, swapped in atomically; run twice, the table holds one set of scores."""
    db = next(iter(yaml.safe_load(scheduled["config"].read_text())["source"]["url"].split("///")[1:]))
    source = scheduled["tmp"] / "new_rows.yaml"
    source.write_text(yaml.safe_dump({"source": {"kind": "sql", "url": f"sqlite:///{db}", "id_column": "id",
                                                 "query": "SELECT id, seq FROM rt WHERE id >= 1500 ORDER BY id"},
                                      "columns": {"sequence": "seq"}}))
    to = f"sqlite:///{scheduled['tmp'] / 'scores.db'}#splice_scores"
    for _ in range(2):
        done = subprocess.run([str(EXAMPLES / "rescore.sh"), str(scheduled["config"]), NAME, str(source), to],
                              env=scheduled["env"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "scored 100 rows" in done.stdout, done.stdout[-2000:]
    from workbench.registry import champion_number

    with sqlite3.connect(scheduled["tmp"] / "scores.db") as conn:
        rows = conn.execute("SELECT id, model_name, model_version FROM splice_scores ORDER BY id").fetchall()
    assert len(rows) == 100 and rows[0][0] == "1500" and {r[1:] for r in rows} == {(NAME, champion_number(NAME))}
