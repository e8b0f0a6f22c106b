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
from workbench.models.backends import select_backend  # noqa: E402

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


def build_tiny_bpe_model_dir(path: Path, seed: int = 0) -> Path:
    """Saves a randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained here on prompt text.

    Unlike :func:`build_tiny_model_dir`'s word-level tokenizer, this one has a GGUF equivalent
    (``tokenizer.ggml.model = gpt2``), so the tiny model can be exported as GGUF with its own tokenizer.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [f"DNA: {' '.join('ACGTNDRS'[(i * 7 + j) % 8] for j in range(40))}\nClass: {w}"
              for i, w in enumerate(["donor", "acceptor", "neither"] * 20)]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


HANDBOOK_JSONL = REPO / "workbench" / "resources" / "handbook" / "handbook_qa.jsonl"
TINY_CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {{ m['content'] }} <|im_end|> {% endfor %}"
                      "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def build_tiny_chat_tokenizer(texts: list[str]):
    """A word-level tokenizer covering ``texts``, with ChatML-like special tokens and a simple chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Whitespace()
    words = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "system", "user", "assistant"]
    for text in texts:
        for word, _ in pre.pre_tokenize_str(text):
            if word not in words:
                words.append(word)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def build_tiny_chat_model_dir(path: Path, texts: list[str], seed: int = 0) -> Path:
    """Saves a randomly initialised 2-layer Llama whose chat tokenizer covers ``texts`` into ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_chat_tokenizer(texts)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # tied embeddings of std 0.16, not 0.02: logits can move far enough for the loss to fall
        model.get_input_embeddings().weight.mul_(8)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def handbook_texts() -> list[str]:
    """Every instruction and response of the bundled handbook corpus."""
    import json

    rows = [json.loads(line) for line in HANDBOOK_JSONL.read_text().splitlines()]
    return [r["instruction"] for r in rows] + [r["response"] for r in rows]


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a chat template, covering the handbook corpus's words (no download)."""
    return build_tiny_chat_model_dir(tmp_path_factory.mktemp("tiny_chat_llama"), handbook_texts())


def tiny_sft_config(model_dir: Path, out: Path, **train) -> dict:
    """An SFT config dict for the tiny chat model on the bundled handbook corpus."""
    return {
        "name": "tiny-sft",
        "output_dir": str(out),
        "source": {"kind": "files", "path": str(HANDBOOK_JSONL), "id_column": "id"},
        "columns": {"prompt": "instruction", "response": "response", "kind": "kind"},
        "model": {"base_model": str(model_dir)},
        "lora": {"r": 8, "lora_alpha": 16},
        "task": {"type": "sft", "system_prompt": "You are the Kestrel Analytics handbook assistant."},
        "train": {"epochs": 6, "learning_rate": 1e-2, "batch_size": 16, "precision": "fp32", "backend": "auto", "threads": 1,
                  **train},
        "eval": {"max_new_tokens": 8, "samples": 4},
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama in HF format, built in the test (no download)."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def splice_db(tmp_path_factory) -> Path:
    """The bundled splice data in a SQLite file (table `splice`)."""
    from workbench.data.samples import load_splice_into_sqlite

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
        # the default recipe's wall-time budget, early stopping and checkpoint averaging are off here: the tiny
        # runs must be deterministic (a wall-clock budget is not); tests that need them set them
        "train": {"epochs": 0.2, "learning_rate": 3e-3, "batch_size": 32, "precision": "fp32", "backend": "auto",
                  "max_minutes": 0, "early_stopping_patience": 0, "average_top_k": 0, **train},
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
