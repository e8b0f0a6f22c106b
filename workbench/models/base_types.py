"""The resolved base model and its fingerprints, shared by :mod:`.base_model` and :mod:`.pretrained`."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path


class BaseModelError(ValueError):
    """Raised when a base model cannot be found or converted; says how to fix it."""


@dataclass
class BaseModel:
    """A base model ready to load from a local Hugging Face-format directory.

    Attributes:
        name: Human-readable name, e.g. ``SmolLM2-135M-Instruct``.
        path: Local HF directory (config.json, safetensors, tokenizer).
        source: What it was resolved from: a GGUF path or a directory.
        source_kind: ``"embedded-gguf"``, ``"gguf"`` or ``"hf-dir"``.
        sha256: sha256 of the GGUF source file, or of the directory's weight files.
        converted: True if this call converted a GGUF (first load), False if reused.
        seconds: Wall time of this resolution, in seconds.
        pretraining: For a base model that is a pretraining run (or its merged weights): the run, corpus
            fingerprint, tokens seen and bits per base (:func:`workbench.models.pretrained.lineage`); else None.
    """

    name: str
    path: str
    source: str
    source_kind: str
    sha256: str
    converted: bool
    seconds: float
    pretraining: dict | None = None

    def to_dict(self) -> dict:
        """Returns the fields as a JSON-serialisable dict."""
        return asdict(self)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Returns the sha256 hex digest of a file, read in ``chunk``-byte blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dir_sha256(directory: Path) -> str:
    """The sha256 of a Hugging Face directory's weights: over each ``*.safetensors`` / ``*.bin`` file's sha256.

    Raises:
        BaseModelError: The directory holds no weight file.
    """
    directory = Path(directory)
    weights = sorted(directory.glob("*.safetensors")) + sorted(directory.glob("*.bin"))
    if not weights:
        raise BaseModelError(f"{directory} has config.json but no *.safetensors or *.bin weights.")
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(sha256_file(weight).encode())
    return digest.hexdigest()
