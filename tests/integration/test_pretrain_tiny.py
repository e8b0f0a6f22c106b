"""Continued pretraining end to end on the tiny random Llama: a FASTA (plus SQL rows) corpus pretrains and beats its
Markov baseline, registers, and a predictor fine-tunes from ``NAME@champion`` with the lineage on its card and tags;
the merged export, a changed merge, an unknown reference, the files/VCF sources and the window-vs-context check."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from tests.conftest import tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
NEXT = {"A": "C", "C": "G", "G": "T", "T": "A"}


def chain_dna(n: int, seed: int) -> str:
    """A first-order chain (the next base follows A->C->G->T->A 80 % of the time): about 0.85 bits per base."""
    rng, base, out = random.Random(seed), "A", []
    for _ in range(n):
        base = NEXT[base] if rng.random() < 0.8 else rng.choice("ACGT")
        out.append(base)
    return "".join(out)


def write_fasta(path, records: dict[str, str]):
    with open(path, "w") as handle:
        for name, seq in records.items():
            handle.write(f">{name}\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    return path


def pretrain_config(tmp, model_dir, name="tiny-lm", **task) -> dict:
    return {"name": name, "output_dir": str(tmp / "runs"), "model": {"base_model": str(model_dir)},
            "lora": {"r": 8, "lora_alpha": 16},
            "data": {"block": 1000, "val_fraction": 0.1, "test_fraction": 0.1},
            "task": {"type": "pretrain", "window": 32, "stride": 32, "train_dna_rows": True, "dna_rows_lr_ratio": 1.0,
                     "markov_order": 0, "max_eval_windows": 64, **task},
            "train": {"max_steps": 60, "batch_size": 8, "precision": "fp32", "threads": 1, "learning_rate": 1e-2,
                      "eval_every": 20, "backend": "auto"}}


@pytest.fixture(scope="module")
def pretrained(tiny_model_dir, tmp_path_factory):
    """A fresh WORKBENCH_HOME with the tiny model pretrained on a FASTA + SQL corpus, registered as tiny-lm@champion."""
    import os

    tmp = tmp_path_factory.mktemp("pretrain")
    saved = {k: os.environ.get(k) for k in ("WORKBENCH_HOME", "WORKBENCH_TRACKING_URI")}
    os.environ["WORKBENCH_HOME"] = str(tmp / "home")
    os.environ.pop("WORKBENCH_TRACKING_URI", None)
    fasta = write_fasta(tmp / "genome.fa", {"chr1": chain_dna(15_000, 0), "chr2": chain_dna(12_000, 1)})
    db = tmp / "lims.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE amplicons (id INTEGER, seq TEXT)")
        con.executemany("INSERT INTO amplicons VALUES (?, ?)", [(i, chain_dna(90, 100 + i)) for i in range(40)])
    raw = pretrain_config(tmp, tiny_model_dir)
    raw["corpus"] = {"fasta": [str(fasta)]}
    raw["source"] = {"kind": "sql", "url": f"sqlite:///{db}", "query": "SELECT seq FROM amplicons"}
    raw["columns"] = {"sequence": "seq"}
    raw["registry"] = {"register_version": True, "model_name": "tiny-lm"}
    result = setup(validate_config(raw), progress=False)
    from workbench.registry import promote

    promote("tiny-lm", 1, reason="first genome LM")
    yield tmp, result
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def home(pretrained, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(pretrained[0] / "home"))
    return pretrained[0] / "home"


def test_pretraining_learns_more_than_its_markov_baseline(pretrained):
    from workbench.runs.run_dir import missing_files

    _, result = pretrained
    m, b = result.metrics, result.baselines
    assert missing_files(result.run_dir) == []
    assert m["bits_per_base"] < m["markov_bits_per_base"] - 0.3  # the chain's next base is learnt; order 0 cannot
    assert b["uniform"]["bits_per_base"] == 2.0 and b["base_model"]["bits_per_base"] > m["bits_per_base"]
    assert m["vs_markov"]["ci95"][1] < 0
    corpus = json.loads((result.run_dir / "corpus.json").read_text())
    assert corpus["source"]["rows"] == 40 and corpus["windows"]["train"] > 0  # the SQL rows are in the corpus
    training = json.loads((result.run_dir / "metrics.json").read_text())["training"]
    assert training["learning_check"]["learnt"] and training["tokens_seen"] > 0
    # 60 steps of 8 windows are under two passes over the corpus: usual for pretraining, so no short-run warning
    assert training["planned_steps"] * 8 < 2 * corpus["windows"]["train"]
    assert not any(w.startswith("train.max_steps") for w in result.warnings), result.warnings
    card = (result.run_dir / "README.md").read_text()
    assert "Markov chain, k = 0, add-one smoothing" in card and corpus["fingerprint"] in card


def test_a_predictor_fine_tunes_from_the_registry_reference_with_lineage(home, pretrained, splice_db, tmp_path):
    from workbench.registry.log import run_tags
    from workbench.serving.predictor import Predictor

    _, lm = pretrained
    raw = tiny_run_config(splice_db, "tiny-lm@champion", tmp_path / "runs", epochs=1, label_fraction=0.1,
                          pretrain_steps=4)
    raw["model"]["base_model"] = "tiny-lm@champion"
    raw["registry"] = {"track": False}
    run = setup(validate_config(raw), progress=False)
    task = json.loads((run.run_dir / "task.json").read_text())
    pre = task["base_model"]["pretraining"]
    fingerprint = json.loads((lm.run_dir / "corpus.json").read_text())["fingerprint"]
    assert pre["reference"] == "tiny-lm@champion" and pre["corpus_fingerprint"] == fingerprint
    assert pre["bits_per_base"] == pytest.approx(lm.metrics["bits_per_base"])
    card = (run.run_dir / "README.md").read_text()
    assert "pretrained by the run `tiny-lm` (registry `tiny-lm@champion`)" in card and fingerprint in card
    data = json.loads((run.run_dir / "metrics.json").read_text())["data"]
    used, phase = data["labels_used"], data["pretrain_phase"]
    assert used["labelled_rows"] < used["of"] / 5 and phase["steps"] == 4
    assert phase["unlabelled_used"] == used["of"] - used["labelled_rows"] and phase["training_rows"] == used["labelled_rows"]
    assert "labels used:" in card and "task-adaptive pretraining: 4 causal-LM steps" in card
    tags = run_tags(run.run_dir)
    assert tags["pretrain_corpus_fingerprint"] == fingerprint and tags["pretrained_from"] == "tiny-lm@champion"
    assert float(tags["pretrain_bits_per_base"]) == pytest.approx(lm.metrics["bits_per_base"])
    predictor = Predictor.load(run.run_dir)  # finds the merged base again, by sha256
    assert predictor.predict(["ACGT" * 15])[0].label in {"EI", "IE", "N"}


def test_merged_export_is_a_base_model_and_a_changed_merge_is_refused(home, pretrained, tmp_path):
    from workbench.export import export_run
    from workbench.models.base_model import BaseModelError, resolve_base_model

    _, lm = pretrained
    result = export_run(lm.run_dir, "merged", tmp_path / "merged", dtype="float32")
    assert result.check["passed"] and result.check["max_abs_bits_diff"] < 1e-3
    merged = resolve_base_model(str(tmp_path / "merged"))
    assert merged.pretraining["run"] == "tiny-lm" and merged.source_kind == "hf-dir"
    stored = resolve_base_model(str(lm.run_dir))
    weights = next(p for p in __import__("pathlib").Path(stored.path).glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BaseModelError, match=r"have sha256 .* not the .* recorded when they were merged from .*"
                                             r"Delete .*merges them again"):
        resolve_base_model(str(lm.run_dir))
    import shutil

    shutil.rmtree(stored.path)  # the next use merges again
    assert resolve_base_model(str(lm.run_dir)).sha256 == stored.sha256


def test_a_reference_that_does_not_resolve_says_what_to_do(home, splice_db, tiny_model_dir, tmp_path):
    from workbench.models.base_model import BaseModelError, resolve_base_model

    with pytest.raises(BaseModelError, match=r"'nothing-here@champion' does not resolve: .*Register the pretraining "
                                             r"run .* or give its run directory"):
        resolve_base_model("nothing-here@champion")
    raw = tiny_run_config(splice_db, tiny_model_dir, tmp_path / "runs", epochs=0.05)
    classification = setup(validate_config({**raw, "registry": {"track": False}}), progress=False)
    with pytest.raises(BaseModelError, match=r"is a classification run .*not a pretraining run"):
        resolve_base_model(str(classification.run_dir))


def test_files_and_vcf_sources_and_the_context_check(tiny_model_dir, tmp_path, monkeypatch):
    from workbench.tasks.pretrain import ContextError

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    reference = write_fasta(tmp_path / "ref.fa", {"chr1": chain_dna(5_000, 7)})
    vcf = tmp_path / "v.vcf"
    ref = chain_dna(5_000, 7)
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=5000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "".join(f"chr1\t{p}\t.\t{ref[p - 1]}\t{'A' if ref[p - 1] != 'A' else 'C'}\t.\tPASS\t.\n"
                             for p in range(100, 4900, 60)))
    (tmp_path / "rows.csv").write_text("sequence\n" + "".join(chain_dna(70, 300 + i) + "\n" for i in range(30)))
    raw = pretrain_config(tmp_path, tiny_model_dir, "files-lm")
    raw["corpus"] = {"vcf": {"path": str(vcf), "reference": str(reference), "flank": 20}}
    raw["source"] = {"kind": "files", "path": str(tmp_path / "rows.csv")}
    raw["train"].update(max_steps=3, eval_every=0)
    raw["registry"] = {"track": False}
    run = setup(validate_config(raw), progress=False)
    corpus = json.loads((run.run_dir / "corpus.json").read_text())
    assert corpus["counts"]["records"] == 80 + 30 and corpus["source"]["kind"] == "files"
    raw["task"]["window"], raw["name"] = 300, "too-long"  # the tiny Llama reads 256 positions
    with pytest.raises(ContextError, match=r"task\.window=300 nt needs 302 tokens .* reads at most 256\. Set "
                                           r"task\.window to at most 254"):
        setup(validate_config(raw), progress=False)


def test_a_killed_pretraining_run_resumes_to_the_same_weights(tiny_model_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml
    from safetensors.torch import load_file

    from tests.conftest import REPO
    from workbench.training.checkpoints import list_checkpoints

    fasta = write_fasta(tmp_path / "genome.fa", {"chr1": chain_dna(12_000, 3)})
    raw = pretrain_config(tmp_path, tiny_model_dir, "resumed")
    raw["corpus"] = {"fasta": [str(fasta)]}
    raw["train"].update(max_steps=16, save_every=3, eval_every=4)
    raw["registry"] = {"track": False}
    cfg = tmp_path / "pretrain.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "WORKBENCH_HOME": str(tmp_path / "home")}
    cli = [sys.executable, "-m", "workbench.cli", "run", str(cfg)]
    checkpoints = tmp_path / "runs" / "resumed.partial" / "checkpoints"
    with (tmp_path / "killed.log").open("w") as log:
        proc = subprocess.Popen(cli, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while not list_checkpoints(checkpoints) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert list_checkpoints(checkpoints), (tmp_path / "killed.log").read_text()[-3000:]
    assert not (tmp_path / "runs" / "resumed").exists(), "the run finished before it could be killed"
    done = subprocess.run(cli + ["--resume"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    resumed = tmp_path / "runs" / "resumed"
    assert json.loads((resumed / "metrics.json").read_text())["training"]["resumed_from_step"] >= 3

    raw["output_dir"], raw["train"]["save_every"] = str(tmp_path / "straight"), 0
    os.environ["WORKBENCH_HOME"], saved = str(tmp_path / "home"), os.environ.get("WORKBENCH_HOME")
    try:
        straight = setup(validate_config(raw), progress=False)
    finally:
        os.environ["WORKBENCH_HOME"] = saved
    for name in ("adapter/adapter_model.safetensors", "dna_rows.safetensors"):
        ref, got = load_file(str(straight.run_dir / name)), load_file(str(resumed / name))
        assert max((ref[k].float() - got[k].float()).abs().max().item() for k in ref) <= 1e-6, name
    assert json.loads((resumed / "metrics.json").read_text())["test"]["bits_per_base"] == pytest.approx(
        straight.metrics["bits_per_base"], abs=1e-6)


def test_the_demo_draws_the_surprise_track(home, pretrained):
    from gradio_client import Client

    from workbench.tasks import get_task

    _, lm = pretrained
    demo, url = get_task("pretrain").serve(lm.run_dir, "127.0.0.1", 0, block=False)
    try:
        client = Client(url, verbose=False)
        _, out = client.predict("ACGTACGTNNACGTACGTAC", api_name="/surprise")
        assert out["bases"] == 18 and len(out["bits"]) == 20 and out["bits"][8] is None  # N is not scored
        assert out["model_bits_per_base"] < out["markov_bits_per_base"]  # the chain corpus: the LM knows A->C->G->T
        with pytest.raises(Exception, match="not a DNA letter|invalid letter"):
            client.predict("ACGTXX", api_name="/surprise")
    finally:
        demo.close()
    audit = (home / "audit.jsonl").read_text()
    assert '"endpoint": "surprise"' in audit
