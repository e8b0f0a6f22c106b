"""Base-model resolution (workbench.base_model) without the real model."""

import pytest

from workbench.models.base_model import BaseModelError, resolve_base_model, sha256_file


def test_hf_directory_resolves_with_weight_sha(tiny_model_dir):
    info = resolve_base_model(str(tiny_model_dir))
    assert info.source_kind == "hf-dir" and info.converted is False
    assert info.path == str(tiny_model_dir.resolve()) and len(info.sha256) == 64
    assert resolve_base_model(str(tiny_model_dir)).sha256 == info.sha256


def test_hub_names_and_bad_paths_are_refused(tmp_path):
    with pytest.raises(BaseModelError, match="never downloads"):
        resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BaseModelError, match="no \\*.safetensors"):
        resolve_base_model(str(tmp_path))


def test_sha256_file(tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
