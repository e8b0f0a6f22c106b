"""The `workbench` command line (typer app), in-process."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import EXPECTED_BACKEND, tiny_run_config
from workbench.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_run_then_predict_sequence_and_fasta(splice_db, tiny_model_dir, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_run_config(splice_db, tiny_model_dir, tmp_path / "runs")))
    result = runner.invoke(app, ["run", str(cfg), "--set", "train.epochs=0.05", "--set", "name=cli-run"])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "strongest baseline " in result.output
    run_dir = tmp_path / "runs" / "cli-run"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["epochs"] == 0.05
    assert json.loads((run_dir / "metrics.json").read_text())["training"]["backend"] == EXPECTED_BACKEND

    fasta = tmp_path / "q.fa"
    fasta.write_bytes(b">one\r\nACGTACGTAC\r\nGGTTAA\r\n>two\r\nTTTTGGGGCCCC\r\n")  # CRLF line ends
    result = runner.invoke(app, ["predict", str(run_dir), "--fasta", str(fasta), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert [x["id"] for x in lines] == ["one", "two"]
    assert all(abs(sum(x["probabilities"].values()) - 1) < 1e-5 for x in lines)

    result = runner.invoke(app, ["predict", str(run_dir), "--sequence", "ACGTX"])
    assert result.exit_code == 2 and "'X' at 5" in result.output


def test_bad_config_lists_every_problem(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("name: ok\nsource: {kind: sql, url: 'sqlite:///x.db'}\ntrain: {epochs: -1, batch_size: 0}\n")
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 2
    for field in ("source", "train.epochs", "train.batch_size", "3 problem(s)"):
        assert field in result.output, result.output


def test_missing_data_source_is_a_clear_error(tiny_model_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    raw = tiny_run_config(tmp_path / "nope.db", tiny_model_dir, tmp_path)
    raw["source"] = {"kind": "files", "path": str(tmp_path / "missing.csv")}
    cfg.write_text(yaml.safe_dump(raw))
    result = runner.invoke(app, ["run", str(cfg)])
    assert result.exit_code == 2 and "no such file" in result.output


def test_run_dispatches_sft_configs_then_chat(tiny_chat_model_dir, tmp_path):
    from tests.conftest import tiny_sft_config

    cfg = tmp_path / "sft.yaml"
    cfg.write_text(yaml.safe_dump(tiny_sft_config(tiny_chat_model_dir, tmp_path / "runs")))
    result = runner.invoke(app, ["run", str(cfg), "--set", "train.epochs=1", "--set", "name=cli-sft"])
    assert result.exit_code == 0, result.output
    assert "test perplexity" in result.output and "exact match" in result.output
    run_dir = tmp_path / "runs" / "cli-sft"
    assert json.loads((run_dir / "task.json").read_text())["type"] == "sft"
    result = runner.invoke(app, ["chat", str(run_dir), "--prompt", "What is the VPN client?", "--prompt", "Payday?",
                                 "--max-new-tokens", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 2  # one answer line per prompt (logs go to stderr)
    result = runner.invoke(app, ["chat", str(tmp_path), "--prompt", "hi"])
    assert result.exit_code == 2 and "not a complete SFT run directory" in result.output

    bad = tmp_path / "bad_sft.yaml"
    bad.write_text("name: x\nsource: {kind: files, path: a.jsonl}\ntask: {type: sft}\ncolumns: {prompt: t, response: t}\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "must be different columns" in result.output


def test_quickstart_loads_the_warehouse_and_runs_the_preset(tiny_model_dir, tmp_path, monkeypatch):
    """The README's main job through the CLI (tiny model and a short run instead of SmolLM2, no demo)."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    result = runner.invoke(app, ["quickstart", "--no-serve", "--set", f"model.base_model={tiny_model_dir}",
                                 "--set", "lora.first_layer=0", "--set", "train.epochs=0.05",
                                 "--set", "train.batch_size=32", "--set", f"output_dir={tmp_path / 'runs'}"])
    assert result.exit_code == 0, result.output
    assert "wrote 3190 rows" in result.output and "test accuracy" in result.output
    assert (tmp_path / "home" / "warehouse.db").is_file()
    lineage = json.loads((tmp_path / "runs" / "splice" / "lineage.json").read_text())
    assert lineage["rows"] == 3190 and "warehouse.db" in lineage["location"]
