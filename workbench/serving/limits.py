"""Limits of the demo: request size, batch rows, upload size, and the Gradio queue's concurrency and length.

The defaults come from ``ServeConfig`` (:mod:`workbench.config.base`); a run's saved ``config.yaml`` may set
them under ``serve:``, and ``workbench serve`` flags override both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path


class LimitError(ValueError):
    """Raised when a request is larger than the demo accepts; the message says the limit and what to do."""


@dataclass(frozen=True)
class Limits:
    """What one demo accepts.

    Attributes:
        max_request_chars: Longest text one request may send (a pasted sequence, a chat message), in characters.
        max_batch_rows: Most sequences one uploaded FASTA/CSV may hold.
        max_upload_mb: Largest upload, in megabytes (MiB, 2^20 bytes); Gradio refuses bigger files before they are
            stored, and :func:`workbench.serving.uploads.read_upload` checks again before parsing.
        concurrency: Requests the model works on at once (``Blocks.queue(default_concurrency_limit=...)``).
        queue_size: Requests that may wait (``Blocks.queue(max_size=...)``); more are turned away with a message.
        max_mutagenesis_nt: Longest sequence the mutagenesis tab accepts (it scores 3 variants per base).
    """

    max_request_chars: int = 20_000
    max_batch_rows: int = 1_000
    max_upload_mb: float = 5.0
    concurrency: int = 2
    queue_size: int = 64
    max_mutagenesis_nt: int = 300

    @property
    def max_upload_bytes(self) -> int:
        """:attr:`max_upload_mb` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def to_dict(self) -> dict:
        """The limits as a plain dict (for the audit log and the demo's help text)."""
        return asdict(self)

    def check_text(self, text: str | None, what: str = "the input") -> str:
        """Returns ``text`` (``""`` for None) if it is within :attr:`max_request_chars`.

        Raises:
            LimitError: If it is longer, saying by how much and what to do instead.
        """
        text = text or ""
        if len(text) > self.max_request_chars:
            raise LimitError(f"{what} has {len(text):,} characters; this demo accepts at most "
                             f"{self.max_request_chars:,} per request. Shorten it, or upload a FASTA/CSV file for a "
                             "batch.")
        return text

    def check_mutagenesis(self, sequence: str) -> None:
        """Raises :class:`LimitError` if ``sequence`` (whitespace ignored) is longer than :attr:`max_mutagenesis_nt`."""
        length = len("".join(sequence.split()))
        if length > self.max_mutagenesis_nt:
            raise LimitError(f"the sequence has {length} nt; mutagenesis scores 3 variants per base, so this demo runs "
                             f"it on at most {self.max_mutagenesis_nt} nt. Paste the region of interest.")


def limits_for(run_dir: str | Path | None = None, **overrides) -> Limits:
    """The limits of a demo: defaults, then the run's saved ``config.yaml`` ``serve:`` group, then ``overrides``.

    Args:
        run_dir: A run directory (its ``config.yaml`` is read if present) or None.
        **overrides: Field values; ``None`` values are ignored (an unset CLI flag).

    Returns:
        The :class:`Limits`.

    Raises:
        LimitError: If a value is not a positive number.
    """
    import yaml

    names = {f.name for f in fields(Limits)}
    chosen: dict = {}
    saved = Path(run_dir) / "config.yaml" if run_dir else None
    if saved and saved.is_file():
        serve = (yaml.safe_load(saved.read_text()) or {}).get("serve") or {}
        chosen.update({k: v for k, v in serve.items() if k in names})
    chosen.update({k: v for k, v in overrides.items() if v is not None and k in names})
    bad = {k: v for k, v in chosen.items() if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0}
    if bad:
        raise LimitError(f"demo limits must be positive numbers; got {bad}.")
    ints = {k: int(v) for k, v in chosen.items() if k != "max_upload_mb"}
    return replace(Limits(), **{**chosen, **ints})
