"""Executes the notebooks (short settings) and checks the package API they call still exists."""

import ast
import json

import nbformat
import pytest

from tests.conftest import EXPECTED_BACKEND, REPO, guarded_subprocess_env

pytestmark = pytest.mark.integration
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TRAINING_NOTEBOOKS = [REPO / "notebooks" / "genome_predictor.ipynb", REPO / "notebooks" / "02_finetune.ipynb"]


@pytest.mark.parametrize("path", TRAINING_NOTEBOOKS, ids=lambda p: p.name)
def test_training_notebook_follows_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings == ["## Setup", "## Data", "## Train", "## Evaluate", "## Save", "## Demo"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_package_api_exists(path):
    nb = nbformat.read(path, as_version=4)
    import importlib

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("workbench", "data_connectors"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{path.name}: {node.module}.{alias.name} no longer exists"


@pytest.mark.parametrize("path", TRAINING_NOTEBOOKS[:1], ids=lambda p: p.name)
def test_training_notebook_runs(path, tiny_model_dir, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    overrides = {"train.epochs": 0.05, "train.batch_size": 32, "model.base_model": str(tiny_model_dir),
                 "lora.first_layer": 1,  # the preset's 10 is for SmolLM2's 30 layers; the tiny Llama has 2
                 "output_dir": str(tmp_path / "runs"), "train.backend": "auto"}
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_OVERRIDES", json.dumps(overrides))
    monkeypatch.setenv("WORKBENCH_DEMO_PORT", "0")
    netlog = _guard_kernel(monkeypatch, tmp_path)
    nb = _with_network_guard(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "run directory:" in outputs
    assert f"training backend: ('{EXPECTED_BACKEND}'" in outputs
    assert (tmp_path / "runs" / "splice" / "README.md").is_file()
    training = json.loads((tmp_path / "runs" / "splice" / "metrics.json").read_text())["training"]
    assert training["backend"] == EXPECTED_BACKEND, training["backend_reason"]
    assert not netlog.exists(), f"the notebook kernel tried the network: {netlog.read_text()}"


def _guard_kernel(monkeypatch, tmp_path):
    """Puts the repository on the kernel's path and names the file its refused connections go to."""
    netlog = tmp_path / "kernel-net.log"
    for key, value in guarded_subprocess_env(netlog).items():
        if key in ("PYTHONPATH", "WORKBENCH_TEST_NETLOG"):
            monkeypatch.setenv(key, value)
    return netlog


def _with_network_guard(nb):
    """The notebook with a first cell that refuses non-loopback connections in the kernel (tests/netguard.py)."""
    nb.cells.insert(0, nbformat.v4.new_code_cell("import tests.netguard; tests.netguard.install()"))
    return nb


def test_finetune_notebook_runs(tiny_chat_model_dir, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    path = REPO / "notebooks" / "02_finetune.ipynb"
    overrides = {"model.base_model": str(tiny_chat_model_dir), "output_dir": str(tmp_path / "runs"),
                 "train.epochs": 1, "train.batch_size": 16, "train.learning_rate": 1e-2, "train.backend": "auto",
                 "train.precision": "fp32", "train.threads": 1, "lora.first_layer": 0, "eval.max_new_tokens": 4}
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_OVERRIDES", json.dumps(overrides))
    monkeypatch.setenv("WORKBENCH_DEMO_PORT", "0")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "run directory:" in outputs and "http://127.0.0.1:" in outputs
    assert (tmp_path / "runs" / "chat-sft" / "README.md").is_file()


def test_connect_data_notebook_runs(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    path = REPO / "notebooks" / "01_connect_data.ipynb"
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    netlog = _guard_kernel(monkeypatch, tmp_path)
    nb = _with_network_guard(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    assert not netlog.exists(), f"the notebook kernel tried the network: {netlog.read_text()}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    outputs = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "fingerprint" in outputs.lower()


def test_genome_language_model_notebook_runs(tiny_model_dir, tmp_path, monkeypatch):
    import gzip

    from nbclient import NotebookClient

    from tests.integration.test_pretrain_tiny import chain_dna

    path = REPO / "notebooks" / "04_genome_language_model.ipynb"
    genome = tmp_path / "genome"
    genome.mkdir()
    with gzip.open(genome / "tiny.fa.gz", "wt") as handle:
        seq = chain_dna(12_000, 0)
        handle.write(">chrT\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    common = {"model.base_model": str(tiny_model_dir), "output_dir": str(tmp_path / "runs"), "lora.r": 8,
              "lora.lora_alpha": 16, "train.threads": 1, "train.precision": "fp32", "registry.track": False}
    overrides = {"pretrain": {**common, "task.window": 32, "task.stride": 32, "task.markov_order": 2,
                              "task.max_eval_windows": 16, "data.block": 1000, "train.max_steps": 6,
                              "train.eval_every": 3, "train.batch_size": 8},
                 "predictor": {**common, "train.epochs": 0.05, "train.batch_size": 32}}
    monkeypatch.setenv("WORKBENCH_NOTEBOOK_OVERRIDES", json.dumps(overrides))
    monkeypatch.setenv("GENOME_DIR", str(genome))
    netlog = _guard_kernel(monkeypatch, tmp_path)
    nb = _with_network_guard(nbformat.read(path, as_version=4))
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings == ["## Setup", "## Corpus", "## Pretrain", "## Bits per base", "## Fine-tune a predictor on it",
                        "## Compare"]
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "test bits per base" in outputs and "genome LM start − default start" in outputs
    assert "pretrained by the run `genome-lm`" in outputs
    task = json.loads((tmp_path / "runs" / "splice-genome" / "task.json").read_text())
    assert task["base_model"]["pretraining"]["run"] == "genome-lm"
    assert not netlog.exists(), f"the notebook kernel tried the network: {netlog.read_text()}"
