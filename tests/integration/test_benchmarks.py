"""Smoke tests of the scripts in ``benchmarks/``: each runs end to end in a subprocess from the repository root
(``python benchmarks/X.py ...``) on the smallest input it takes, mostly the tiny random Llama of tests/conftest.py,
with a temporary WORKBENCH_HOME and its results written under the test's temporary directory, never over the
committed ``benchmarks/results/`` (a module fixture checks that those files are unchanged).

One tiny classification run, made by ``averaging_probe.py`` through ``splice_recipes.py``, is the run directory the
scripts that read finished runs are given (``classical_ceiling``, ``ensemble_probe``, ``inference_speed``,
``batch_scoring``, ``demo_load``, ``genome_lm --report``); every run of the suite's tiny model spends most of its
time on the bootstrap intervals of its evaluation, so the module makes one.

Smaller checks, where one real run is too heavy for the suite on a 2-core CPU:

- ``ddp_scaling.py``: ``--help`` only. A run is at least four ``workbench run`` processes, two of them under
  torchrun (over 2 min even with a tiny pretraining config); the data-parallel path itself is
  tests/integration/test_distributed.py.
- ``split_leakage.py``: ``--help`` and its ``--summary`` from rows shaped as its runs write them, filled from a real
  run's metrics. Its runs train configs/splice.yaml on SmolLM2 (1,800 steps), with no option for another model.

``genome_lm_report.py`` is the report module of ``genome_lm.py``; it runs through ``genome_lm.py --report``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import HANDBOOK_JSONL, REPO, UNSLOTH_INSTALLED, tiny_run_config
from tests.integration.test_mlflow_model import _java_problem
from tests.integration.test_pretrain_tiny import chain_dna, pretrain_config, write_fasta
from tests.integration.test_sql_servers import server_url

pytestmark = pytest.mark.integration
RESULTS = REPO / "benchmarks" / "results"
BASELINES = {"kmer_logreg", "onehot_logreg", "kmer_svm", "onehot_svm"}
RULES = ("kept", "best", "top3", "top5", "last3", "last5", "tail_half")


def run_script(script: str, *args, home: Path, env: dict[str, str] | None = None,
               timeout: int = 900) -> subprocess.CompletedProcess:
    """Runs ``benchmarks/SCRIPT ARGS`` with this interpreter from the repository root; fails the test unless it exits 0.

    Args:
        script: File name under benchmarks/.
        *args: Its command-line arguments (each passed as ``str(arg)``).
        home: The process's WORKBENCH_HOME.
        env: Extra environment variables.
        timeout: Seconds before the process is killed (the test then fails).

    Returns:
        The finished process, stdout and stderr captured as text.
    """
    full = {**os.environ, "WORKBENCH_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **(env or {})}
    done = subprocess.run([sys.executable, f"benchmarks/{script}", *map(str, args)], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"benchmarks/{script} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n"
                                  f"--- stderr\n{done.stderr[-6000:]}")
    return done


def read_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table_rows(markdown: str, first_cell: str) -> list[list[str]]:
    """The cells of every Markdown table row whose first cell is ``first_cell``."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|")]
    return [r for r in rows if r[0] == first_cell]


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module", autouse=True)
def committed_results_untouched():
    """Fails the module if any script wrote into benchmarks/results/ (the committed figures)."""
    before = _digest(RESULTS)
    yield
    assert _digest(RESULTS) == before, "a benchmark wrote into benchmarks/results/: give it a path under tmp_path"


def tiny_config(splice_db: Path, model_dir: Path, folder: Path) -> Path:
    """Writes the suite's tiny run config as ``folder/tiny.yaml`` and returns its path.

    Changed from :func:`tests.conftest.tiny_run_config`: every 5th splice row (638 rows, all three classes), about 6
    steps with a validation pass every 2, transformers + PEFT (no Unsloth import in every subprocess), one thread
    and no registry. Its runs go to ``folder/runs``.
    """
    raw = tiny_run_config(splice_db, model_dir, folder / "runs", epochs=0.4, eval_every=2, backend="peft", threads=1)
    raw["source"]["query"] = "SELECT Sequence, Class FROM splice WHERE id % 5 = 0 ORDER BY id"
    raw["registry"] = {"track": False}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def probe(splice_db, tiny_model_dir, tmp_path_factory) -> dict:
    """``averaging_probe.py`` on the tiny config: one recipe run through ``splice_recipes.py``, each evaluation's
    weights kept; returns the config, the run directory, its metrics and both result files."""
    tmp = tmp_path_factory.mktemp("bench_probe")
    config = tiny_config(splice_db, tiny_model_dir, tmp)
    out, recipes = tmp / "averaging_probe.jsonl", tmp / "splice_recipes.jsonl"
    run_script("averaging_probe.py", "--out", out, "--", "--tag", "probe", "--config", config, "--results", recipes,
               home=tmp / "home")
    run_dir = tmp / "runs" / "bench-probe"
    return {"config": config, "run_dir": run_dir, "probe": out, "recipes": recipes,
            "metrics": json.loads((run_dir / "metrics.json").read_text())}


@pytest.fixture(scope="module")
def small_genome(tmp_path_factory) -> Path:
    """A gzip FASTA of four 250-kb first-order-chain records (1 Mb: enough 20-kb blocks for a held-out test block)."""
    folder = tmp_path_factory.mktemp("bench_genome")
    plain = write_fasta(folder / "genome.fa", {f"chr{i}": chain_dna(250_000, i) for i in range(4)})
    packed = folder / "genome.fa.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    return packed


# ------------------------------------------------------------------------------------ recipe runs and their readers

def test_averaging_probe_scores_every_rule_on_one_trajectory(probe, tmp_path):
    [row] = read_jsonl(probe["probe"])
    assert row["tag"] == "probe" and row["seed"] == 0 and row["test_n"] == probe["metrics"]["test"]["n"] > 0
    steps = [step for step, _ in row["val_history"]]
    assert len(steps) >= 3, row["val_history"]
    assert set(row["rules"]) == set(RULES)
    for rule, scores in row["rules"].items():
        assert 0 <= scores["validation"] <= 1 and 0 <= scores["test"] <= 1, (rule, scores)
        if rule != "kept":
            assert scores["steps"] and set(scores["steps"]) <= set(steps), (rule, scores["steps"], steps)
    rules = row["rules"]
    assert len(rules["best"]["steps"]) == 1 and len(rules["top3"]["steps"]) == min(3, len(steps))
    assert rules["last3"]["steps"] == steps[-3:]
    assert all(step > steps[-1] / 2 for step in rules["tail_half"]["steps"])
    assert rules["kept"]["test"] == pytest.approx(probe["metrics"]["test"]["accuracy"], abs=1e-6)

    out = tmp_path / "averaging_probe.jsonl"
    shutil.copy(probe["probe"], out)
    run_script("averaging_probe.py", "--summary", "--out", out, home=tmp_path / "home")
    summary = out.with_suffix(".md").read_text()
    assert "from 1 run (seeds [0])" in summary
    for rule in RULES:
        [cells] = table_rows(summary, rule)
        assert cells[2].startswith(f"{rules[rule]['test']:.4f} ± 0.0000"), cells


def test_splice_recipes_runs_records_and_summarises(probe, tmp_path):
    [ran] = read_jsonl(probe["recipes"])  # written by splice_recipes.main, which averaging_probe.py called
    metrics = probe["metrics"]
    assert ran["tag"] == "probe" and ran["command"].startswith("python benchmarks/splice_recipes.py")
    assert 0 <= ran["test_accuracy"] <= 1 and ran["test_accuracy"] == metrics["test"]["accuracy"]
    assert ran["steps"] == metrics["training"]["steps"] > 0
    assert ran["steps_per_second"] > 0 and ran["tokens_per_second"] > 0 and ran["run_wall_seconds"] > 0
    assert ran["backend"] == "peft" and set(ran["baseline_accuracy"]) == BASELINES
    assert all(0 <= a <= 1 for a in ran["baseline_accuracy"].values())

    results = tmp_path / "splice_recipes.jsonl"
    shutil.copy(probe["recipes"], results)
    run_script("splice_recipes.py", "--tag", "recorded", "--record", probe["run_dir"], "--command",
               "workbench run tiny.yaml", "--results", results, home=tmp_path / "home")
    _, recorded = read_jsonl(results)
    assert recorded["tag"] == "recorded" and recorded["command"] == "workbench run tiny.yaml"
    assert (recorded["test_accuracy"], recorded["steps"]) == (ran["test_accuracy"], ran["steps"])

    run_script("splice_recipes.py", "--summary", "--results", results, "--target", "0", home=tmp_path / "home")
    summary = results.with_suffix(".md").read_text()
    for tag in ("probe", "recorded"):
        [cells] = table_rows(summary, tag)
        assert cells[1] == "1" and cells[2] == f"{ran['test_accuracy']:.4f} ± 0.0000", cells
        assert float(cells[9]) >= 0, cells  # minutes to validation accuracy >= 0: the first evaluation


def test_classical_ceiling_matches_the_runs_own_baselines(probe, tmp_path):
    out = tmp_path / "classical_ceiling"
    run_script("classical_ceiling.py", "--config", probe["config"], "--out", out, "--runs", probe["run_dir"],
               home=tmp_path / "home")
    result = json.loads(out.with_suffix(".json").read_text())
    metrics = probe["metrics"]
    assert set(result["baselines"]) == BASELINES and result["n_test"] == metrics["test"]["n"]
    for name, b in result["baselines"].items():
        assert 0 <= b["val_accuracy"] <= 1 and b["C"] > 0
        assert b["test_accuracy"] == pytest.approx(metrics["baselines"][name]["accuracy"]), name  # same split, same C
    best = result["best_on_validation"]
    assert result["baselines"][best]["val_accuracy"] == max(b["val_accuracy"] for b in result["baselines"].values())
    assert 0 <= result["hard_rows"] <= result["n_test"]
    [run] = result["runs"]
    assert run["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    vs = run["vs_best_on_validation"]
    assert vs["ci95"][0] <= vs["difference"] <= vs["ci95"][1]
    assert 0 <= run["hard_rows_wrong"] <= result["hard_rows"]
    assert "| bench-probe (" in out.with_suffix(".md").read_text()


def test_ensemble_probe_blends_and_averages_runs(probe, tmp_path):
    out = tmp_path / "ensemble_probe"
    run_dir = probe["run_dir"]
    run_script("ensemble_probe.py", run_dir, run_dir, "--out", out, home=tmp_path / "home")
    result = json.loads(out.with_suffix(".json").read_text())
    assert set(result["baselines"]) == BASELINES
    assert [r["model"] for r in result["rows"]] == ["bench-probe", "bench-probe", "seed ensemble (2 runs)"]
    alone = {r["alone"]["accuracy"] for r in result["rows"]}
    assert alone == {round(probe["metrics"]["test"]["accuracy"], 4)}  # the mean of two equal runs is that run
    for r in result["rows"]:
        assert 0 <= r["val_accuracy"] <= 1 and 0 <= r["blended"]["accuracy"] <= 1
        assert r["blend"]["partner"] in BASELINES | {"none"} and 0 <= r["blend"]["weight"] <= 0.9
        assert set(r["alone"]["vs"]) == BASELINES
    assert "| seed ensemble (2 runs) |" in out.with_suffix(".md").read_text()


def test_inference_speed_fast_mutagenesis_matches_todays(probe, tmp_path):
    results = tmp_path / "results"
    run_script("inference_speed.py", "--run-dir", probe["run_dir"], "--length", 20, "--rounds", 1, "--precision",
               "fp32", "--results", results, home=tmp_path / "home")
    m = json.loads((results / "inference_speed.json").read_text())["mutagenesis_fp32"]
    assert m["length_nt"] == 20 and m["variants"] == 60 and m["precision"] == "fp32"
    assert len(m["today_runs_s"]) == len(m["fast_runs_s"]) == 2
    assert m["today_median_s"] > 0 and m["fast_median_s"] > 0 and m["attribution_median_s"] > 0
    assert m["speedup"] > 0 and m["max_abs_delta"] > 0
    assert m["max_abs_delta_difference"] <= 1e-4 + 1e-3 * m["max_abs_delta"]  # the fast path scores as today's
    assert "## Mutagenesis, precision fp32" in (results / "inference_speed.md").read_text()


@pytest.mark.skipif(_java_problem() is not None, reason=str(_java_problem()))
def test_batch_scoring_one_process_and_spark(probe, tmp_path):
    results = tmp_path / "results"
    run_script("batch_scoring.py", "--run-dir", probe["run_dir"], "--rows", 300, "--label", "tiny", "--results",
               results, home=tmp_path / "home")
    data = json.loads((results / "inference_speed.json").read_text())
    assert list(data) == ["batch_real"]  # --run-dir: the real-run key; --tiny writes "batch"
    single, spark = data["batch_real"]["rows"]
    assert single["engine"].startswith("1 process") and spark["engine"].startswith("Spark local[2]")
    for r in (single, spark):
        assert r["model"] == "tiny" and r["rows"] == 300 and r["seconds"] > 0
        assert r["rows_per_s"] == pytest.approx(300 / r["seconds"], rel=0.01)
    assert single["ratio"] == 1.0 and single["peak_rss_mib"] > 0 and spark["ratio"] > 0
    assert "## Batch scoring" in (results / "inference_speed.md").read_text()


def test_demo_load_serves_every_request_and_times_mutagenesis(probe, tmp_path):
    out = tmp_path / "results"
    run_script("demo_load.py", "--run-dir", probe["run_dir"], "--clients", 2, "--requests", 3, "--mutagenesis",
               "20,100000", "--out", out, home=tmp_path / "home")
    result = json.loads((out / "demo_load.json").read_text())
    load = result["load"]
    assert load["endpoint"] == "/classify" and (load["ok"], load["errors"]) == (6, 0), load["error_samples"]
    assert 0 < load["p50_s"] <= load["max_s"] and load["p95_s"] >= load["p50_s"]
    assert load["throughput_rps"] > 0 and load["server_rss_mb_before"] > 0 and load["server_rss_mb_after"] > 0
    timed, too_long = result["mutagenesis"]
    assert timed["length_nt"] == 20 and timed["variants"] == 60 and timed["median_s"] >= 0
    assert len(timed["runs_s"]) == 3 and all(t >= 0 for t in timed["runs_s"])
    assert too_long["length_nt"] == 100000 and "at most" in too_long["skipped"]
    assert "| 2 × 3 | 2 | 6 | 0 |" in (out / "demo_load.md").read_text()


def test_genome_lm_lists_its_rows_and_reports_finished_runs(probe, tiny_model_dir, tmp_path):
    from workbench import setup, validate_config

    root = tmp_path / "genome_lm"
    listed = run_script("genome_lm.py", "--list", "--out", root, home=tmp_path / "home").stdout.splitlines()
    names = [line.split("\t")[0] for line in listed]
    assert len(names) == len(set(names)) == 56 and names[:2] == ["pretrain-lora-s0", "pretrain-rows-s0"]
    assert all("\tworkbench run configs/" in line and f"output_dir={root / 'runs'}" in line for line in listed)
    longer = {n: line for n, line in zip(names, listed) if "_e32-" in n}  # 32-epoch twins of the 10 % rows
    assert len(longer) == 12 and all(line.endswith("--set train.epochs=32") for line in longer.values())
    late = [line for n, line in zip(names, listed) if "_e32late-" in n]  # ... with patience from half-way
    assert len(late) == 12 and all(line.endswith("--set train.epochs=32 --set train.early_stopping_start=0.5")
                                   for line in late)
    assert "name=enhancers-genomelm_e32-10-s2 " in longer["enhancers-genomelm_e32-10-s2"]
    assert "model.base_model=@GENOME_LM@" in longer["enhancers-genomelm_e32-10-s2"]

    # finished rows: a tiny pretraining run (seconds, in this process) and the probe's run as two predictor rows
    raw = pretrain_config(root, tiny_model_dir, name="pretrain-lora-s0")
    raw["corpus"] = {"fasta": [str(write_fasta(tmp_path / "genome.fa", {"chr1": chain_dna(15_000, 0),
                                                                          "chr2": chain_dna(12_000, 1)}))]}
    raw["train"].update(max_steps=4, eval_every=2, backend="peft")
    raw["registry"] = {"track": False}
    setup(validate_config(raw), progress=False)
    linked = ("splice-default-100-s0", "splice-genomelm-100-s0", "splice-genomelm-10-s0", "splice-default_e32-10-s0",
              "splice-genomelm_e32-10-s0")
    for name in linked:
        (root / "runs" / name).symlink_to(probe["run_dir"], target_is_directory=True)

    out = tmp_path / "results" / "genome_lm"
    run_script("genome_lm.py", "--report", "--out", root, "--results", out, home=tmp_path / "home")
    pre, default, genomelm, *more = read_jsonl(out.with_suffix(".jsonl"))
    assert [r["row"] for r in more] == list(linked[2:]) and more[2]["start"] == "genomelm_e32"
    assert (pre["row"], pre["kind"], pre["steps"]) == ("pretrain-lora-s0", "pretrain", 4)
    assert pre["test_bits_per_base"] > 0 and pre["markov_bits_per_base"] > 0 and pre["tokens_seen"] > 0
    assert (default["row"], genomelm["row"]) == ("splice-default-100-s0", "splice-genomelm-100-s0")
    for row in (default, genomelm):
        assert row["kind"] == "predictor" and row["task"] == "splice" and row["labels"] == 100 and row["seed"] == 0
        assert row["accuracy"] == probe["metrics"]["test"]["accuracy"] and 0 <= row["accuracy"] <= 1
        assert row["best_baseline"] in BASELINES and row["labelled_rows"] > 0
    report = out.with_suffix(".md").read_text()
    assert "Lower validation bits per base: **pretrain-lora-s0**" in report
    assert "| splice | 100 % | 0 | genomelm − default | +0.0000 [+0.0000, +0.0000] |" in report  # same run, paired
    for pair in ("10 % | 0 | genomelm_e32 − default_e32", "10 % | 0 | genomelm_e32 − genomelm"):
        assert f"| splice | {pair} | +0.0000 [+0.0000, +0.0000] |" in report  # the longer phase, paired both ways
    assert "| splice | 10 % | 0 | default_e32 − " not in report  # its twins at 10 % (default-10-s0) did not run
    assert "## Missing rows (50)" in report
    [summary_default] = [c for c in table_rows(report, "splice") if c[1] == "default"]
    steps = probe["metrics"]["training"]["steps"]
    assert summary_default[4] == f"{default['accuracy']:.4f} (1 seed)" and summary_default[8] == str(steps)
    [run_cells] = table_rows(report, "splice-default-100-s0")
    strand = probe["metrics"]["data"]["strand"]["on"]
    assert default["both_strands"] is strand and run_cells[8] == ("yes" if strand else "no")
    assert run_cells[10] == f"{default['machine']}, {default['date']}"

    # a row recorded earlier whose run directory is gone (a /tmp that did not outlive its machine) stays in the table
    earlier = {**default, "row": "splice-default-10-s1", "labels": 10, "seed": 1, "accuracy": 0.25}
    with out.with_suffix(".jsonl").open("a") as handle:
        handle.write(json.dumps(earlier) + "\n")
    (root / "runs" / "splice-genomelm_e32-10-s0").unlink()  # gone with its predictions: its pairs are kept
    run_script("genome_lm.py", "--report", "--out", root, "--results", out, home=tmp_path / "home")
    kept = {r["row"]: r for r in read_jsonl(out.with_suffix(".jsonl"))}
    assert set(kept) == {"pretrain-lora-s0", *linked, "splice-default-10-s1"}
    assert kept["splice-default-10-s1"]["accuracy"] == 0.25 and "machine" in kept["splice-default-100-s0"]
    report = out.with_suffix(".md").read_text()
    assert "| splice-default-10-s1 | " in report and "`splice-default-10-s1`" not in report.split("## Missing rows")[1]
    assert "| splice | 100 % | 0 | genomelm − default | +0.0000 [+0.0000, +0.0000] |" in report  # same run, paired
    assert kept["splice-genomelm_e32-10-s0"]["paired"]["default_e32"]["difference"] == 0
    for pair in ("10 % | 0 | genomelm_e32 − default_e32", "10 % | 0 | genomelm_e32 − genomelm"):
        assert f"| splice | {pair} | +0.0000 [+0.0000, +0.0000] |" in report
    assert "## Missing rows (49)" in report  # 56 rows - 6 run - 1 recorded earlier


# ------------------------------------------------------------------------------------------ data and corpus costs

def test_corpus_memory_tiles_and_reads_a_corpus_and_its_copies(small_genome, tmp_path):
    out = tmp_path / "results" / "corpus_memory"
    run_script("corpus_memory.py", "--scale", 2, "--tmp", tmp_path / "work", "--genome", small_genome, "--out", out,
               home=tmp_path / "home")
    result = json.loads(out.with_suffix(".json").read_text())
    rows = result["rows"]
    assert list(rows) == ["imports only", "genome.fa.gz", "synthetic, 2 x larger"]
    real, big = rows["genome.fa.gz"], rows["synthetic, 2 x larger"]
    assert (real["bases"], big["bases"]) == (1_000_000, 2_000_000)
    for r in (real, big):
        assert r["windows"]["train"] > 0 and r["windows"]["test"] > 0
        assert r["tile_seconds"] > 0 and r["read_seconds_2000_batches"] > 0
    assert all(r["peak_rss_mb"] >= r["rss_after_import_mb"] > 0 for r in rows.values())
    assert result["synthetic_file_mb"] > 0 and "Peak RSS grew by" in out.with_suffix(".md").read_text()


def test_leakage_index_times_the_report_on_three_cases(small_genome, tmp_path):
    out = tmp_path / "results" / "leakage_index"
    run_script("leakage_index.py", "--rows", 2000, "--out", out, home=tmp_path / "home",
               env={"GENOME_FA": str(small_genome)})
    result = json.loads(out.with_suffix(".json").read_text())
    splice, windows, random_rows = result["cases"]
    assert splice["case"].startswith("quickstart splice split") and splice["rows"] > 2000
    assert splice["read_and_split_seconds"] > 0
    assert (windows["rows"], random_rows["rows"]) == (2000, 2000)
    for case in result["cases"]:
        assert case["report_seconds"]["wall"] > 0 and case["report_seconds"]["cpu"] >= 0 and case["peak_mib"] > 0
        assert 0 <= case["test_rows_sharing_a_20mer_with_train"] <= case["rows"]
    # overlapping windows of one stretch share 20-mers; uniform random rows (almost) never do
    assert windows["test_rows_sharing_a_20mer_with_train"] > random_rows["test_rows_sharing_a_20mer_with_train"]
    assert windows["clusters"] < 2000 and random_rows["clusters"] >= 0.99 * 2000
    assert result["command"] == f"python benchmarks/leakage_index.py --rows 2000 --out {out}"
    assert len(table_rows(out.with_suffix(".md").read_text(), "2,000 random rows of 200 nt")) == 1


@pytest.mark.sql_server
def test_sql_read_connector_and_pandas_read_the_same_rows(tmp_path):
    import sqlalchemy as sa

    url = server_url("postgresql")  # skips with the reason when no server answers on 127.0.0.1
    rows = 1200  # the script's table: bench_sql_read_1200, dropped afterwards
    try:
        run_script("sql_read.py", "--url", url, "--rows", rows, "--results", tmp_path / "results",
                   home=tmp_path / "home")
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS bench_sql_read_{rows}"))
        engine.dispose()
    result = json.loads((tmp_path / "results" / "sql_read.json").read_text())
    reads = result["results"]
    assert [(r["table_rows"], r["mode"]) for r in reads] == [(300, "connector"), (300, "pandas"),
                                                            (1200, "connector"), (1200, "pandas")]
    for r in reads:
        assert r["rows"] == r["table_rows"] and r["rows_per_s"] > 0
        assert r["peak_rss_mb"] >= r["rss_after_imports_mb"] > 0
    connector = [r for r in reads if r["mode"] == "connector"]
    assert all(len(r["fingerprint"]) == 64 for r in connector)
    assert connector[0]["fingerprint"] != connector[1]["fingerprint"]  # a quarter of the table, then all of it
    assert all(v > 0 for v in result["ratios"].values())
    assert "Ratios at 1,200 rows" in (tmp_path / "results" / "sql_read.md").read_text()


# ------------------------------------------------------------------------------------------- training throughput

def test_shared_cpu_times_steps_beside_a_busy_process(probe, tmp_path):
    out = tmp_path / "shared_cpu.jsonl"
    run_script("shared_cpu.py", "--config", probe["config"], "--settings", "busy-1-passive", "--steps", 2, "--warmup",
               1, "--repeats", 1, "--out", out, home=tmp_path / "home")
    [row] = read_jsonl(out)
    assert (row["setting"], row["busy"], row["threads"], row["policy"]) == ("busy-1-passive", True, 1, "passive")
    assert row["backend"] == "peft" and row["steps_timed"] == len(row["step_seconds"]) == 2
    assert all(t > 0 for t in row["step_seconds"]) and row["max_s_per_step"] >= row["median_s_per_step"] > 0
    [cells] = table_rows(out.with_suffix(".md").read_text(), "busy-1-passive")
    assert cells[1:4] == ["yes", "1", "passive"]


def test_engine_cpu_measures_peft_throughput_on_the_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "engine_cpu.json"
    run_script("engine_cpu.py", "--backends", "peft", "--model", tiny_model_dir, "--batch-size", 4, "--steps", 2,
               "--warmup", 1, "--repeats", 1, "--threads", 1, "--r", 8, "--lora-alpha", 16, "--first-layer", 0,
               "--peak-n", 128, "--peak-reps", 2, "--out", out, home=tmp_path / "home")
    report = json.loads(out.read_text())
    assert report["order"] == ["peft"] and list(report["backends"]) == ["peft"] and "warning" not in report
    peft = report["backends"]["peft"]
    assert peft["backend"] == "peft" and peft["runs"] == 1 and peft["timed_steps"] == 2
    assert peft["tokens_per_second"] > 0 and peft["median_step_seconds"] > 0
    assert peft["achieved_flops"] > 0 and 0 <= peft["mfu"] < 1
    assert peft["p_fwd"] == peft["p_bwd"] > 0 and peft["trainable_parameters"] > 0  # every layer adapted
    assert peft["peak_rss_mib"] >= peft["rss_after_load_mib"] > 0 and peft["network_attempts"] == []
    assert all(math.isfinite(x) for x in peft["loss_first_last"])
    assert report["peak"]["peak_flops"] > 0
    assert "| tokens/s (median step) |" in out.with_suffix(".md").read_text()


@pytest.mark.skipif(not UNSLOTH_INSTALLED, reason="Unsloth is not installed (scripts/setup.sh --dev installs it)")
def test_unsloth_cpu_check_passes_every_check_on_the_tiny_model(tiny_model_dir, tmp_path):
    out = tmp_path / "unsloth_cpu_check.json"
    done = run_script("unsloth_cpu_check.py", "--model-dir", tiny_model_dir, "--timed-steps", 1, "--precision",
                      "fp32", "--json", out, home=tmp_path / "home")
    report = json.loads(out.read_text())
    assert report["checks"] and all(report["checks"].values()), report["checks"]
    assert f"all {len(report['checks'])} checks passed" in done.stdout
    training = report["unsloth_training"]
    assert training["steps"] == len(training["losses"]) == 8 and training["loss_last"] < training["loss_first"]
    assert set(report["step_seconds_median"]) == {"unsloth (dtype=None), autocast=fp32",
                                                  "engine backend=unsloth, autocast=fp32",
                                                  "engine backend=peft, autocast=fp32"}
    assert all(s > 0 for s in report["step_seconds_median"].values())
    assert report["step_time_ratio_vs_peft_same_autocast"]["engine backend=peft, autocast=fp32"] == 1.0


def test_sft_packing_trains_the_same_tokens_packed_and_padded(tiny_chat_model_dir, tmp_path):
    subset = tmp_path / "handbook.jsonl"  # every 3rd conversation of the handbook: both kinds, a third of the time
    subset.write_text("".join(line + "\n" for i, line in enumerate(HANDBOOK_JSONL.read_text().splitlines())
                              if i % 3 == 0))
    out = tmp_path / "sft_packing.json"
    overrides = [f"model.base_model={tiny_chat_model_dir}", f"source.path={subset}", "lora.first_layer=0", "lora.r=8",
                 "train.max_steps=4", "train.backend=peft", "eval.samples=2", "eval.max_new_tokens=4"]
    run_script("sft_packing.py", *[x for o in overrides for x in ("--set", o)], "--out", out, home=tmp_path / "home")
    result = json.loads(out.read_text())
    padded, packed = result["runs"]
    assert (padded["packing"], packed["packing"]) == (False, True) and padded["backend"] == "peft"
    assert padded["steps"] == packed["steps"] == 4
    assert padded["tokens_seen"] == packed["tokens_seen"] > 0 and padded["trained_tokens"] == packed["trained_tokens"]
    assert packed["packing_check"]["packed"] == pytest.approx(packed["packing_check"]["padded"], abs=1e-4)
    for run in (padded, packed):
        assert run["train_seconds"] > 0 and run["tokens_per_second"] > 0
        assert math.isfinite(run["best_val_loss"]) and run["best_val_loss"] > 0 and run["test_perplexity"] >= 1
    assert all(v > 0 for v in result["packed_over_padded"].values())
    assert result["median"]["packed"]["best_val_loss"] == pytest.approx(result["median"]["padded"]["best_val_loss"],
                                                                        rel=1e-3)  # same model, same batches
    assert "| train_seconds (median) |" in out.with_suffix(".md").read_text()


# --------------------------------------------------------------------------------------------------- smaller checks

def test_ddp_scaling_help():
    done = subprocess.run([sys.executable, "benchmarks/ddp_scaling.py", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(flag in done.stdout for flag in ("--config", "--nproc", "--threads", "--epochs", "--repeats", "--out"))


def test_split_leakage_help_and_summary_from_rows_shaped_as_its_runs(probe, tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/split_leakage.py", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "--summary" in done.stdout, done.stderr
    metrics = probe["metrics"]

    def row(split: str, seed: int, accuracy: float) -> dict:
        """A row as split_leakage.run() writes it, from the probe run's metrics."""
        groups = {"test": ["HUMA1ATP", "HUMACTGA"]} if split == "group" else metrics["data"]["split"].get("groups")
        return {"task": "splice", "split": split, "seed": seed, "config": "configs/splice.yaml",
                "command": f"python benchmarks/split_leakage.py --task splice --split {split} --seed {seed}",
                "test_n": metrics["test"]["n"], "test_accuracy": accuracy,
                "baselines": {k: {"accuracy": v["accuracy"], "mcc": v["mcc"], "C": v.get("C")}
                              for k, v in metrics["baselines"].items()},
                "vs_baselines": metrics["test"]["vs_baselines"], "sizes": metrics["data"]["split"]["sizes"],
                "groups": groups, "leakage": metrics["data"]["leakage"], "train_seconds": 60.0, "machine": "x86_64"}

    results = tmp_path / "split_leakage.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in (row("group", 0, 0.5), row("random", 0, 0.4),
                                                              row("random", 1, 0.6))))
    run_script("split_leakage.py", "--summary", "--results", results, home=tmp_path / "home")
    summary = results.with_suffix(".md").read_text()
    rows = table_rows(summary, "splice")
    assert [cells[1] for cells in rows] == ["random", "group"]  # the random split first
    random_cells, group_cells = rows
    assert random_cells[4] == "0, 1" and random_cells[5] == "0.5000 ± 0.1414"
    assert group_cells[2] == f"{metrics['test']['n']} (HUMA1ATP, HUMACTGA)" and group_cells[5] == "0.5000 (1 seed)"
    near = metrics["data"]["leakage"]["pairs"]["train~test"]["near"]["test"]
    assert random_cells[3].startswith(f"{near} (")
    assert random_cells[6:10] == [f"{metrics['baselines'][k]['accuracy']:.4f}"
                                  for k in ("kmer_svm", "onehot_svm", "kmer_logreg", "onehot_logreg")]
    missing = summary.split("Not run yet", 1)[1]
    assert missing.count("- `python benchmarks/split_leakage.py --task") == 9  # 12 planned (4 cells x 3 seeds) - 3
    assert "--task splice --split group --seed 1`" in missing
    assert "--task splice --split random --seed 0`" not in missing

    # --from-run records a finished run as a cell's row (genome_lm.py's default-100 rows are the random cells) ...
    recorded = tmp_path / "recorded.jsonl"
    seed = yaml.safe_load((probe["run_dir"] / "config.yaml").read_text())["train"]["seed"]
    run_script("split_leakage.py", "--task", "splice", "--split", "random", "--seed", seed, "--from-run",
               probe["run_dir"], "--results", recorded, home=tmp_path / "home")
    (got,) = read_jsonl(recorded)
    assert got["test_accuracy"] == metrics["test"]["accuracy"] and got["run_dir"] == str(probe["run_dir"])
    assert got["leakage"] == metrics["data"]["leakage"] and got["sizes"] == metrics["data"]["split"]["sizes"]
    # ... and refuses one that is not that cell, saying what differs
    wrong = subprocess.run([sys.executable, "benchmarks/split_leakage.py", "--task", "splice", "--split", "group",
                            "--seed", str(seed + 1), "--from-run", str(probe["run_dir"]), "--results", str(recorded)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert wrong.returncode != 0 and "is not the splice/group cell" in wrong.stderr
    assert "data.split is 'random', the cell needs 'group'" in wrong.stderr and f"train.seed is {seed}" in wrong.stderr
    assert len(read_jsonl(recorded)) == 1  # nothing appended
