"""Write a merged llama-architecture model as a GGUF file with the ``gguf`` package (gguf-py).

The converter is our own, ~150 lines over gguf-py's ``GGUFWriter``, ``MODEL_ARCH`` and
``get_tensor_name_map``; it follows llama.cpp's ``convert_hf_to_gguf.py`` (``LlamaModel``) in the
points that matter for a llama model, and nothing is downloaded or built at run time:

- tensor names come from gguf-py's tensor-name map (``model.layers.N.self_attn.q_proj`` ->
  ``blk.N.attn_q``); ``lm_head`` is left out when the embeddings are tied;
- ``q_proj``/``k_proj`` rows are permuted into llama.cpp's rotary layout (:func:`permute`), which
  transformers' GGUF loader undoes (``LlamaTensorProcessor._reverse_permute_weights``);
- 1-D tensors (norms) stay float32, the others take the export dtype (``general.file_type`` says which);
- metadata: when the base model came from a GGUF, its ``general.*``, ``llama.*`` and ``tokenizer.*``
  fields are copied (so llama.cpp tokenises exactly as with the original file); otherwise they are
  written from the config and from a byte-level BPE tokenizer, and other tokenizers are refused.

Run as (writes SmolLM2 itself, no adapter, as a smoke test)::

    python -m workbench.export.gguf OUT.gguf
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

_DTYPES = {"float16": ("F16", "MOSTLY_F16"), "bfloat16": ("BF16", "MOSTLY_BF16"), "float32": ("F32", "ALL_F32")}
_COPIED_PREFIXES = ("general.", "llama.", "tokenizer.")
_NOT_COPIED = ("general.file_type", "general.quantization_version")


class GGUFExportError(ValueError):
    """Raised when a model or tokenizer cannot be written as GGUF; says what to do instead."""


def permute(weight: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Reorders ``q_proj``/``k_proj`` rows from HF's rotary layout to llama.cpp's (convert_hf_to_gguf ``permute``).

    Args:
        weight: Projection weight, shape ``(n_heads * head_dim, hidden)``.
        n_head: Number of query heads.
        n_head_kv: Number of key/value heads (used instead of ``n_head`` for ``k_proj`` under GQA).

    Returns:
        The permuted weight, same shape; transformers' ``_reverse_permute_weights`` is its inverse.
    """
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _copy_source_fields(writer, source: Path, config) -> None:
    """Copies general/llama/tokenizer KV fields from the base model's GGUF, after checking they fit ``config``."""
    import gguf

    reader = gguf.GGUFReader(source)
    fields = reader.fields
    arch = fields["general.architecture"].contents() if "general.architecture" in fields else None
    if arch != "llama":
        raise GGUFExportError(f"the source GGUF {source} has architecture {arch!r}; only 'llama' is supported.")
    expected = {"llama.block_count": config.num_hidden_layers, "llama.embedding_length": config.hidden_size,
                "llama.attention.head_count": config.num_attention_heads,
                "llama.attention.head_count_kv": config.num_key_value_heads}
    for key, value in expected.items():
        if key in fields and fields[key].contents() != value:
            raise GGUFExportError(f"the source GGUF {source} says {key}={fields[key].contents()}, but the merged "
                                  f"model has {value}: the run was not trained on this file.")
    for key, field in fields.items():
        if key.startswith(_COPIED_PREFIXES) and key not in _NOT_COPIED and key != "general.architecture":
            sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=sub)


def _write_hf_fields(writer, config, tokenizer_dir: Path, name: str) -> None:
    """Writes llama hyperparameters from ``config`` and a byte-level BPE tokenizer from ``tokenizer_dir``."""
    import gguf
    from transformers import AutoTokenizer

    tokenizer_json = tokenizer_dir / "tokenizer.json"
    spec = json.loads(tokenizer_json.read_text()) if tokenizer_json.is_file() else {}
    model_type = spec.get("model", {}).get("type")
    pre = spec.get("pre_tokenizer") or {}
    gpt2_split = pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space")
    if model_type != "BPE" or not gpt2_split:
        raise GGUFExportError(
            f"the run's tokenizer ({model_type or 'unknown'} model, pre-tokenizer {pre.get('type')}) has no GGUF "
            "equivalent this exporter can write (it writes byte-level BPE with the GPT-2 split, or copies the "
            "tokenizer of a base model that came from a GGUF). Export --format merged and convert that directory "
            "with llama.cpp's convert_hf_to_gguf.py, which knows more tokenizers.")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    vocab = tokenizer.get_vocab()
    n_vocab = config.vocab_size
    if len(vocab) > n_vocab:
        raise GGUFExportError(f"the tokenizer has {len(vocab)} tokens but the model only {n_vocab} embedding rows.")
    by_id = {i: t for t, i in vocab.items()}
    special = set(tokenizer.all_special_tokens)
    added = {t.content for t in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for i in range(n_vocab):
        token = by_id.get(i)
        if token is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if token in special else
                         gguf.TokenType.USER_DEFINED if token in added else gguf.TokenType.NORMAL)
    rope = (getattr(config, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") != "default":
        raise GGUFExportError(f"rope_type {rope['rope_type']!r} is not supported by this exporter; export "
                              "--format merged and use llama.cpp's convert_hf_to_gguf.py.")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(tokenizer_dir, load_merges=True, n_vocab=n_vocab).add_to_gguf(writer, quiet=True)


def write_llama_gguf(model, tokenizer_dir: str | Path, path: str | Path, dtype: str = "float16",
                     source_gguf: str | Path | None = None, name: str = "model") -> dict:
    """Writes a (merged, PEFT-free) llama causal LM as one GGUF file.

    Args:
        model: A transformers ``LlamaForCausalLM`` (any parameter dtype; weights are cast per tensor).
        tokenizer_dir: The run's saved tokenizer directory (used only without ``source_gguf``).
        path: The ``.gguf`` file to write.
        dtype: ``float16``, ``bfloat16`` or ``float32`` for 2-D tensors.
        source_gguf: The GGUF the base model was converted from, whose metadata is copied; ``None`` to
            write the metadata from the config and tokenizer.
        name: ``general.name`` when the metadata is written from scratch.

    Returns:
        ``{"tensors": n, "bytes": file size, "metadata": "source-gguf" | "hf-tokenizer"}``.

    Raises:
        GGUFExportError: The model is not llama-architecture, a tensor has no GGUF name, the source GGUF does
            not match, or the tokenizer cannot be written as GGUF.
    """
    import gguf

    config = model.config
    if config.model_type != "llama":
        raise GGUFExportError(
            f"GGUF export supports llama-architecture models only; this base model is {config.model_type!r}. "
            "Export --format merged and convert it with llama.cpp's convert_hf_to_gguf.py.")
    if dtype not in _DTYPES:
        raise GGUFExportError(f"dtype {dtype!r} is not one of {sorted(_DTYPES)}.")
    qtype = getattr(gguf.GGMLQuantizationType, _DTYPES[dtype][0])
    ftype = getattr(gguf.LlamaFileType, _DTYPES[dtype][1])
    arch = gguf.MODEL_ARCH.LLAMA
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    writer = gguf.GGUFWriter(Path(path), gguf.MODEL_ARCH_NAMES[arch])
    if source_gguf:
        _copy_source_fields(writer, Path(source_gguf), config)
    else:
        _write_hf_fields(writer, config, Path(tokenizer_dir), name)
    writer.add_file_type(ftype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    n = 0
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        base, _, suffix = hf_name.rpartition(".")
        gguf_name = names.get_name(base)
        if gguf_name is None:
            raise GGUFExportError(f"tensor {hf_name!r} has no GGUF name in gguf-py's llama tensor map.")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if base.endswith("self_attn.q_proj"):
            data = permute(data, config.num_attention_heads, config.num_attention_heads)
        elif base.endswith("self_attn.k_proj"):
            data = permute(data, config.num_attention_heads, config.num_key_value_heads)
        target = gguf.GGMLQuantizationType.F32 if data.ndim == 1 else qtype
        packed = gguf.quants.quantize(np.ascontiguousarray(data), target)
        writer.add_tensor(f"{gguf_name}.{suffix}", packed, raw_dtype=target)
        n += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"tensors": n, "bytes": Path(path).stat().st_size,
            "metadata": "source-gguf" if source_gguf else "hf-tokenizer"}


def main(argv: list[str] | None = None) -> None:
    """Writes the embedded SmolLM2 base model (no adapter) to the given path as float16 GGUF."""
    from transformers import AutoModelForCausalLM

    from ..models.base_model import resolve_base_model

    out = Path((argv if argv is not None else sys.argv[1:])[0])
    base = resolve_base_model()
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    print(write_llama_gguf(model, base.path, out, source_gguf=base.source, name=base.name))


if __name__ == "__main__":
    main()
