"""Export helpers without a training run: the GGUF converter on tiny random models, the check, refusals."""

import numpy as np
import pytest
import torch

from tests.conftest import build_tiny_bpe_model_dir
from workbench.export import ExportError, compare, export_run
from workbench.export.gguf import GGUFExportError, permute, write_llama_gguf

PROMPTS = ["DNA: A C G T N\nClass:", "DNA: G G T A C\nClass:"]


@pytest.fixture(scope="module")
def tiny_bpe_dir(tmp_path_factory):
    return build_tiny_bpe_model_dir(tmp_path_factory.mktemp("tiny_bpe"))


def test_permute_is_undone_by_transformers_gguf_loader():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    rng = np.random.default_rng(0)
    undo = LlamaTensorProcessor()._reverse_permute_weights
    q = rng.normal(size=(9 * 64, 576)).astype(np.float32)  # SmolLM2: 9 query heads of 64
    k = rng.normal(size=(3 * 64, 576)).astype(np.float32)  # 3 key/value heads (GQA)
    assert not np.array_equal(permute(q, 9, 9), q)
    np.testing.assert_array_equal(undo(permute(q, 9, 9), 9, 9), q)
    np.testing.assert_array_equal(undo(permute(k, 9, 3), 9, 3), k)


def test_compare_tolerance_and_near_ties():
    ref = np.array([[0.7, 0.2, 0.1], [0.41, 0.40, 0.19]])
    assert compare(ref, ref + [[0.01, -0.01, 0], [0, 0, 0]], 0.02) == {
        "n": 2, "max_abs_prob_diff": pytest.approx(0.01), "agreement": 1.0, "tolerance": 0.02, "passed": True}
    flipped_tie = ref + [[0, 0, 0], [-0.011, 0.011, 0]]  # 0.399 vs 0.411: a near tie flipped by rounding
    result = compare(ref, flipped_tie, 0.02)
    assert result["agreement"] == 0.5 and result["passed"] is True
    assert compare(ref, ref + [[0.05, -0.05, 0], [0, 0, 0]], 0.02)["passed"] is False


def test_gguf_of_tiny_bpe_model_loads_back_in_transformers(tiny_bpe_dir, tmp_path):
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_bpe_dir, dtype=torch.float32)
    info = write_llama_gguf(model, tiny_bpe_dir, tmp_path / "tiny.gguf", "float32", name="tiny")
    assert info["metadata"] == "hf-tokenizer" and info["bytes"] == (tmp_path / "tiny.gguf").stat().st_size
    reader = gguf.GGUFReader(tmp_path / "tiny.gguf")
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert reader.fields["llama.attention.head_count_kv"].contents() == 2
    names = {t.name for t in reader.tensors}
    assert "output.weight" not in names and "blk.1.attn_q.weight" in names  # tied embeddings: no output tensor
    assert len(names) == info["tensors"] == len(model.state_dict()) - 1

    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf", dtype=torch.float32)
    tok_gguf = AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    tok_hf = AutoTokenizer.from_pretrained(tiny_bpe_dir)
    for prompt in PROMPTS:
        ids = tok_hf(prompt, add_special_tokens=False).input_ids
        assert tok_gguf(prompt, add_special_tokens=False).input_ids == ids
        with torch.no_grad():
            want, got = model(torch.tensor([ids])).logits, loaded(torch.tensor([ids])).logits
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # float32: exact up to summation order


def test_gguf_float16_tensors_and_file_type(tiny_bpe_dir, tmp_path):
    import gguf
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_bpe_dir, dtype=torch.float32)
    write_llama_gguf(model, tiny_bpe_dir, tmp_path / "tiny.gguf", "float16")
    reader = gguf.GGUFReader(tmp_path / "tiny.gguf")
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["token_embd.weight"] == "F16" and kinds["blk.0.attn_k.weight"] == "F16"
    assert kinds["blk.0.attn_norm.weight"] == "F32" and kinds["output_norm.weight"] == "F32"


def test_word_level_tokenizer_is_refused(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(GGUFExportError, match="WordLevel.*convert_hf_to_gguf.py"):
        write_llama_gguf(model, tiny_model_dir, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_non_llama_architecture_is_refused(tmp_path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    with pytest.raises(GGUFExportError, match="llama-architecture models only.*'qwen2'"):
        write_llama_gguf(model, tmp_path, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_export_refuses_missing_run_dir_and_bad_options(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        export_run(tmp_path / "no-such-run", "merged")
    with pytest.raises(ExportError, match="unknown export format 'onnx'"):
        export_run(tmp_path, "onnx")
    with pytest.raises(ExportError, match="unknown dtype 'int8'"):
        export_run(tmp_path, "merged", dtype="int8")
