"""The bridge to ``data_connectors``: read a run's source and validate its rows before any task sees them.

Sequence tasks read ``(sequence, label)`` rows and pass every sequence through the IUPAC policy and the
alphabet/length check; chat SFT reads free-text (prompt, response) or messages rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import data_connectors as dc

from .sequences import PolicyReport, apply_ambiguity_policy, check_sequence

log = logging.getLogger(__name__)


@dataclass
class SequenceRows:
    """A sequence source's rows after validation.

    Attributes:
        sequences: Normalised sequences (upper case, no whitespace), shape ``(rows,)``.
        labels: The label column's values for the same rows, as read (strings), shape ``(rows,)``.
        lineage: The connector's lineage record.
        ambiguity: What the IUPAC ambiguity policy did.
        excluded: Rows dropped because their sequence is in ``data.exclude_from`` (the frozen evaluation set).
        extra: Further source columns asked for (e.g. the split or group column) -> their values, ``(rows,)``.
        ids: A readable id per row: the source's ``id`` column, else ``row N`` (1-based, as read), ``(rows,)``.
    """

    sequences: list[str]
    labels: list
    lineage: dc.Lineage
    ambiguity: PolicyReport
    excluded: int = 0
    extra: dict[str, list] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)


def read_sequence_source(config, extra: tuple[str, ...] = ()):
    """Reads a sequence run's source through ``data_connectors``.

    Args:
        config: A :class:`~workbench.config.sequence.RunConfig`.
        extra: Further source columns to carry (added to ``source.keep_columns`` where needed).

    Returns:
        ``(dataset, lineage)``; see :func:`data_connectors.read_source`.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or lacks the mapped columns.
    """
    source = config.source
    more = [c for c in extra if _dataset_column(config, c) == c and c not in source.keep_columns]
    if more:
        source = source.model_copy(update={"keep_columns": [*source.keep_columns, *more]})
    return dc.read_source(source, sequence_mapping(config))


def _dataset_column(config, column: str) -> str:
    """The dataset column a source column arrives as (``sequence``/``label``/``id`` for the mapped ones)."""
    return {config.columns.sequence: "sequence", config.columns.label: "label",
            config.source.id_column: "id"}.get(column, column)


def read_sequences(config, extra: tuple[str, ...] = ()) -> SequenceRows:
    """Reads a sequence run's source and validates every sequence (IUPAC policy, alphabet, length).

    Args:
        config: A :class:`~workbench.config.sequence.RunConfig`.
        extra: Further source columns whose values to return (``SequenceRows.extra``).

    Raises:
        data_connectors.ConnectorError: The source cannot be read or does not fit the mapping.
        workbench.data.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
    """
    dataset, lineage = read_sequence_source(config, extra)
    log.info("read %d rows from %s", lineage.rows, lineage.location)
    raw_seqs, raw_labels = dataset["sequence"], dataset["label"]
    kept, ambiguity = apply_ambiguity_policy(raw_seqs, config.data.ambiguous, config.data.max_length)
    seqs = [check_sequence(raw_seqs[i], config.data.max_length) for i in kept]
    labels = [raw_labels[i] for i in kept]
    raw_ids = dataset["id"] if "id" in dataset.column_names else None
    ids = [str(raw_ids[i]) if raw_ids is not None else f"row {i + 1}" for i in kept]
    columns = {c: dataset[_dataset_column(config, c)] for c in extra}
    values = {c: [col[i] for i in kept] for c, col in columns.items()}
    excluded = 0
    if getattr(config.data, "exclude_from", None):
        held_out = excluded_sequences(config.data.exclude_from)
        keep = [i for i, s in enumerate(seqs) if s not in held_out]
        excluded = len(seqs) - len(keep)
        seqs, labels, ids = [seqs[i] for i in keep], [labels[i] for i in keep], [ids[i] for i in keep]
        values = {c: [v[i] for i in keep] for c, v in values.items()}
        log.info("excluded %d rows whose sequence is in %s", excluded, config.data.exclude_from)
    return SequenceRows(seqs, labels, lineage, ambiguity, excluded, values, ids)


def read_unlabelled(config) -> tuple[list[str], dict]:
    """The source's rows without a label (NULL or empty), for a predictor's task-adaptive pretraining phase.

    The labelled read drops such rows (``source.nulls: drop``); this second read keeps them, with an empty label,
    whatever the label column is called. Sequences go through the same IUPAC policy and length check as labelled
    rows (rows the policy drops are counted), and rows whose sequence is in ``data.exclude_from`` are left out.

    Args:
        config: A sequence :class:`~workbench.config.sequence.RunConfig`.

    Returns:
        ``(sequences, report)``: normalised unlabelled sequences, and counts (``rows``, ``policy_dropped``,
        ``excluded``).

    Raises:
        data_connectors.ConnectorError: The source cannot be read.
        workbench.data.sequences.SequenceError: A sequence is invalid (or ambiguous under ``reject``).
    """
    mapping = dc.ColumnMapping(config.columns.sequence, config.columns.label, text=True)
    dataset, _ = dc.read_source(config.source, mapping, unlabelled=True)
    raw = [row["sequence"] for row in dataset if not row["label"].strip()]
    kept, ambiguity = apply_ambiguity_policy(raw, config.data.ambiguous, config.data.max_length)
    seqs = [check_sequence(raw[i], config.data.max_length) for i in kept]
    excluded = 0
    if getattr(config.data, "exclude_from", None):
        held_out = excluded_sequences(config.data.exclude_from)
        excluded = sum(s in held_out for s in seqs)
        seqs = [s for s in seqs if s not in held_out]
    log.info("read %d unlabelled rows (%d dropped by the IUPAC policy, %d excluded)", len(seqs),
             ambiguity.rows_dropped, excluded)
    return seqs, {"rows": len(seqs), "policy_dropped": ambiguity.rows_dropped, "excluded": excluded}


def excluded_sequences(path) -> set[str]:
    """The normalised sequences of ``data.exclude_from`` (a CSV with a ``sequence`` column).

    Raises:
        ValueError: The file is missing or has no ``sequence`` column.
    """
    import csv
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data.exclude_from: {path} does not exist; point it at a CSV with a `sequence` column.")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if "sequence" not in (reader.fieldnames or []):
            raise ValueError(f"data.exclude_from: {path} has no `sequence` column (columns {reader.fieldnames}).")
        return {"".join(row["sequence"].split()).upper() for row in reader}


def read_chat_source(config):
    """Reads a chat SFT run's source through ``data_connectors`` as free text.

    The prompt column arrives as ``sequence`` and the response as ``label`` (a messages column as
    both); ``columns.kind`` is carried along as a kept column.

    Args:
        config: A :class:`~workbench.config.sft.SFTConfig`.

    Returns:
        ``(dataset, lineage)``; see :func:`data_connectors.read_source`.
    """
    cols = config.columns
    source = config.source
    if cols.kind and cols.kind not in source.keep_columns:
        source = source.model_copy(update={"keep_columns": [*source.keep_columns, cols.kind]})
    return dc.read_source(source, chat_mapping(config))


def chat_mapping(config) -> dc.ColumnMapping:
    """The free-text column mapping of an SFT config: (prompt, response), or the messages column twice."""
    cols = config.columns
    return (dc.ColumnMapping(cols.messages, cols.messages, text=True) if cols.messages
            else dc.ColumnMapping(cols.prompt, cols.response, text=True))


def sequence_mapping(config) -> dc.ColumnMapping:
    """The (sequence, label) column mapping of a sequence config."""
    return dc.ColumnMapping(config.columns.sequence, config.columns.label)
