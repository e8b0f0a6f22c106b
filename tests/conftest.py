"""Shared fixtures: an isolated WORKBENCH_HOME, a tiny random Llama (no download), sample data,
and a guard that fails any test whose code opens a network connection outside loopback."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests import netguard

netguard.install()  # before anything below can open a connection (Unsloth's import included)
NON_LOOPBACK_ATTEMPTS = netguard.ATTEMPTS

import workbench  # noqa: E402,F401  (applies the offline environment first)
from workbench.engine import select_backend  # noqa: E402

# The training backend the tests expect: Unsloth wherever it is installed (scripts/setup.sh --dev installs its CPU
# backend; WORKBENCH_UNSLOTH=0 leaves it out), transformers + PEFT otherwise. Selecting it here imports Unsloth
# before any test module imports transformers, as Unsloth asks and as `workbench run` does; an installed Unsloth
# that fails to import fails the training tests rather than silently testing the fallback.
UNSLOTH_INSTALLED = importlib.util.find_spec("unsloth") is not None
BACKEND, BACKEND_REASON = select_backend("auto")
EXPECTED_BACKEND = "unsloth" if UNSLOTH_INSTALLED else "peft"

REPO = Path(__file__).resolve().parents[1]
SPLICE_CSV = REPO / "workbench" / "resources" / "splice" / "splice.csv"


def guarded_subprocess_env(netlog: Path) -> dict[str, str]:
    """Environment for a Python subprocess that runs ``tests.netguard.install()`` first: the repository on
    PYTHONPATH and the file its refused connections are written to."""
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "WORKBENCH_TEST_NETLOG": str(netlog)}


@pytest.fixture(autouse=True)
def no_outside_network():
    """Fails the test if it tried to connect anywhere but loopback."""
    before = len(NON_LOOPBACK_ATTEMPTS)
    yield
    assert NON_LOOPBACK_ATTEMPTS[before:] == [], f"non-loopback connections attempted: {NON_LOOPBACK_ATTEMPTS[before:]}"


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """One WORKBENCH_HOME for the session, so the converted SmolLM2 is reused across tests."""
    import os

    home = tmp_path_factory.mktemp("workbench_home")
    os.environ["WORKBENCH_HOME"] = str(home)
    return home


@pytest.fixture(autouse=True)
def _home(session_home):
    return session_home


TINY_VOCAB = ["<pad>", "<unk>", "<s>", "</s>", "DNA", ":", "Class", "A", "C", "G", "T", "N", "R", "Y", "S", "D",
              "donor", "acceptor", "neither", "pos", "neg", "EI", "IE"]


def build_tiny_model_dir(path: Path, seed: int = 0) -> Path:
    """Saves a randomly initialised 2-layer Llama and a word-level tokenizer into ``path``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(TINY_VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(TINY_VOCAB), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama in HF format, built in the test (no download)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def splice_db(tmp_path_factory) -> Path:
    """The bundled splice data in a SQLite file (table `splice`)."""
    from workbench.quickstart import load_splice_into_sqlite

    db = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    load_splice_into_sqlite(db)
    return db


def tiny_run_config(db: Path, model_dir: Path, out: Path, **train) -> dict:
    """A run config dict for the tiny model on a 600-row slice of the splice data."""
    return {
        "name": "tiny",
        "output_dir": str(out),
        "source": {"kind": "sql", "url": f"sqlite:///{db}", "query": "SELECT Sequence, Class FROM splice ORDER BY id",
                   "limit": None},
        "columns": {"sequence": "Sequence", "label": "Class"},
        "data": {"seed": 0},
        "model": {"base_model": str(model_dir)},
        "lora": {"r": 8, "lora_alpha": 16},
        "task": {"label_words": {"EI": "donor", "IE": "acceptor", "N": "neither"}},
        "train": {"epochs": 0.2, "learning_rate": 3e-3, "batch_size": 32, "precision": "fp32", "backend": "auto",
                  **train},
    }


def pytest_report_header(config):
    """States once, at the top of the run, which backend the training tests go through and why."""
    return f"workbench training backend: {BACKEND} ({BACKEND_REASON})"


def pytest_collection_modifyitems(config, items):
    """Skips tests marked ``gpu`` with a reason where no CUDA device is present."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none found: torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
