"""Shared types for every connector: column mapping, lineage, the connector interface, fingerprints.

A connector opens a source and streams its rows as Arrow record batches (an
:class:`Extract`); :mod:`data_connectors.pipeline` maps the columns, checks the rows,
fingerprints them and writes them to an on-disk Arrow file that a ``datasets.Dataset``
memory-maps. Every read returns ``(dataset, lineage)``: the dataset has string columns
``sequence`` and ``label`` (plus ``id`` and any ``keep_columns``); the :class:`Lineage`
says exactly what was read, and the model card records it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from typing import Any, ClassVar, Iterable

from .errors import ConnectorError, DataWarning
from .secrets import redact

SEQUENCE = "sequence"
LABEL = "label"
ID = "id"

__all__ = ["ColumnMapping", "Connector", "ConnectorError", "DataWarning", "Extract", "Lineage", "check_columns",
           "fingerprint_rows", "redact", "row_lines"]


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns hold the sequence and the label.

    Attributes:
        sequence: Name of the column holding the DNA sequence (string), or a text column when ``text``.
        label: Name of the column holding the class label (string) or target value; may name the same
            source column as ``sequence`` (e.g. one chat ``messages`` column).
        text: The columns hold free text (e.g. instruction/response pairs for chat fine-tuning), not
            DNA and class labels: the DNA-alphabet and label-class checks are skipped.
    """

    sequence: str = SEQUENCE
    label: str = LABEL
    text: bool = False


@dataclass
class Lineage:
    """What a connector read, recorded in the model card.

    Attributes:
        kind: Connector kind (``"sql"``, ``"files"``, ``"fasta"`` ...).
        location: Where the rows came from, with any password removed.
        query: The SQL query, file pattern or interval file, if any.
        rows: Number of rows returned after the column mapping, limit, sample and NULL policy.
        columns: Column names of the source result, in order.
        fingerprint: sha256 hex digest of the ``(sequence, label)`` rows returned (see
            :func:`fingerprint_rows`).
        extra: Connector-specific details (dialect, file sha256, label counts, warnings ...).
    """

    kind: str
    location: str
    query: str | None
    rows: int
    columns: list[str]
    fingerprint: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Returns the lineage as a JSON-serialisable dict."""
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass
class Extract:
    """An open source, as a connector hands it to the pipeline.

    Attributes:
        columns: All column names of the source result, in order (known before any row).
        batches: Iterable of ``pyarrow.RecordBatch``/``pyarrow.Table`` holding at least the
            requested columns; consumed once. Connectors should yield bounded batches
            (``chunk_rows`` rows) so memory stays bounded.
        location: Where the rows come from, already redacted (see :func:`redact`).
        query: The query or pattern read, if any (no secrets).
        extra: Details for ``Lineage.extra`` (JSON-serialisable; no secrets).
    """

    columns: list[str]
    batches: Iterable[Any]
    location: str
    query: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Connector:
    """Base class of every connector, built in or installed through an entry point.

    Subclasses set :attr:`kind` and :attr:`Options` and implement :meth:`open`. A third-party
    package registers one under the entry point group ``workbench.connectors`` (the entry
    point's name is the ``source.kind`` it serves); see ``data_connectors/README.md``.

    Attributes:
        kind: The ``source.kind`` value this connector serves.
        Options: Pydantic model of the connector's own fields in the ``source:`` block; the
            common fields (``limit``, ``sample``, ``nulls``, ``id_column``, ``keep_columns``,
            ``env_file``) are handled by the pipeline and are not passed to it.
    """

    kind: ClassVar[str]
    Options: ClassVar[type]

    def open(self, options: Any, wanted: list[str], limit: int | None) -> AbstractContextManager[Extract]:
        """Opens the source and returns a context manager yielding an :class:`Extract`.

        Args:
            options: An instance of :attr:`Options` with ``${env:...}``/``${keyring:...}``
                references already resolved.
            wanted: Source columns the pipeline will use (a connector may read only these).
            limit: The pipeline stops after this many rows; a connector may stop early too.

        Raises:
            ConnectorError: If the source cannot be opened; the message names the fix and
                holds no secret.
        """
        raise NotImplementedError


def check_columns(available: list[str], mapping: ColumnMapping, where: str, extra: Iterable[str] = ()) -> None:
    """Checks that the mapped columns exist in a source result.

    Args:
        available: Column names the source returned.
        mapping: The declared column mapping.
        where: Human-readable source description, used in the message.
        extra: Other required columns (``id_column``, ``keep_columns``).

    Raises:
        ConnectorError: If a mapped column is missing; the message lists the columns that exist.
    """
    missing = [c for c in (mapping.sequence, mapping.label, *extra) if c not in available]
    if missing:
        raise ConnectorError(
            f"{where}: column(s) {missing} not found; the source has columns {available}. "
            "Set `columns.sequence` / `columns.label` (and `source.id_column` / `source.keep_columns`) "
            "in the config to existing column names.")


def row_lines(sequences: Iterable[str], labels: Iterable[str]) -> list[bytes]:
    """Serialises ``(sequence, label)`` string rows exactly as :func:`fingerprint_rows` does.

    Args:
        sequences: Sequence strings, shape ``(rows,)``.
        labels: Label strings, shape ``(rows,)``.

    Returns:
        One ``b'["ACGT","pos"]\\n'`` line (canonical ASCII JSON) per row.
    """
    return [f"[{_quote(s)},{_quote(y)}]\n".encode() for s, y in zip(sequences, labels)]


_NEEDS_ESCAPE = r'[\x00-\x1f"\\]|[^\x00-\x7f]'  # what json.dumps(ensure_ascii=True) would escape


def row_bytes(sequences, labels) -> bytes:
    """:func:`row_lines` for Arrow string arrays, joined, computed in Arrow when no value needs escaping.

    Args:
        sequences: ``pyarrow`` string array (no NULLs), shape ``(rows,)``.
        labels: ``pyarrow`` string array (no NULLs), shape ``(rows,)``.

    Returns:
        The concatenated lines, byte-identical to ``b"".join(row_lines(...))``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    sequences, labels = (a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in (sequences, labels))
    if len(sequences) == 0:
        return b""
    special = pc.or_(pc.match_substring_regex(sequences, _NEEDS_ESCAPE),
                     pc.match_substring_regex(labels, _NEEDS_ESCAPE))
    if pc.any(special).as_py():
        return b"".join(row_lines(sequences.to_pylist(), labels.to_pylist()))
    joined = pc.binary_join_element_wise(pa.scalar('["'), sequences, pa.scalar('","'), labels, pa.scalar('"]\n'), "")
    joined = pc.cast(joined, pa.large_string())
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[joined.offset: joined.offset + len(joined) + 1]
    return joined.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]


def fingerprint_rows(rows: Iterable[tuple[Any, ...]]) -> str:
    """Computes an order-sensitive sha256 fingerprint of rows.

    Each row is serialised as one line of canonical JSON, so the same rows in the
    same order always give the same digest and any changed value changes it.

    Args:
        rows: Iterable of tuples, e.g. ``(sequence, label)``.

    Returns:
        64-character lowercase hex sha256 digest.
    """
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row), separators=(",", ":"), default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()
