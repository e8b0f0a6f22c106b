"""Batch scoring: read any connector source, score it in chunks, write the predictions atomically.

What ``workbench predict MODEL --source SOURCE.yaml|--input FILE --out FILE|--to URL#TABLE`` runs. The source is
read through :func:`data_connectors.read_source` (streamed into a memory-mapped Arrow file, fingerprinted; peak
memory is one batch, not the table), then scored ``chunk_rows`` rows at a time with
:func:`workbench.serving.table.score_rows` (each chunk grouped by length), and each chunk is written to the target
(:mod:`.targets`), which swaps the result in only at the end. A progress bar shows rows/s.

Each output row: ``id`` (the source's ``id_column``, else the 0-based row number), the prediction columns
(:func:`workbench.serving.table.output_columns`), ``model_name``, ``model_version``, ``base_model_sha256`` and
``data_fingerprint`` (the source read's sha256). Rows whose sequence the model refuses carry the reason in
``error`` and are listed with their id; ``strict`` fails the job instead (nothing is written). The job is recorded
in the audit log (action ``predict``: model, source, target, rows, refused rows, seconds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
META = ("model_name", "model_version", "base_model_sha256", "data_fingerprint")
MAX_LISTED = 1000
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".fa.gz", ".fasta.gz", ".fna.gz")


@dataclass
class ScoringResult:
    """What a batch-scoring job did.

    Attributes:
        rows: Rows written.
        refused: ``(id, reason)`` of the first 1,000 rows whose sequence the model refused (null predictions).
        refused_rows: How many rows were refused.
        target: Where the rows went (redacted).
        fingerprint: The source read's sha256 (``data_fingerprint`` column).
        seconds: Wall time, reading included.
    """

    rows: int
    refused: list[tuple[str, str]] = field(default_factory=list)
    refused_rows: int = 0
    target: str = ""
    fingerprint: str = ""
    seconds: float = 0.0


def source_from(source_file: Path | None = None, input_file: Path | None = None) -> tuple[dict, str | None]:
    """The ``source:`` block and the sequence column named by a source YAML or implied by an input file.

    A source YAML is either a run config (its ``source:`` and ``columns.sequence`` are used) or a bare source block.
    An input file is a ``files`` source (CSV, TSV, Parquet, JSONL, Excel), or a ``fasta`` source for FASTA files (the
    record id is the row id).

    Raises:
        ValueError: Neither or both given, or a YAML without a mapping.
    """
    import yaml

    if (source_file is None) == (input_file is None):
        raise ValueError("give exactly one of --source SOURCE.yaml or --input FILE.")
    if input_file is not None:
        name = str(input_file).lower()
        if name.endswith(FASTA_SUFFIXES):
            return {"kind": "fasta", "path": str(input_file), "label_regex": r"^(\S*)", "id_column": "id"}, "sequence"
        return {"kind": "files", "path": str(input_file)}, None
    raw = yaml.safe_load(Path(source_file).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{source_file}: expected a mapping with a `source:` block (or the block itself).")
    if "source" in raw:
        return raw["source"], (raw.get("columns") or {}).get("sequence")
    return raw, None


def check_column(source: dict, column: str) -> None:
    """Opens the source for its column names only and checks that the sequence column is one of them.

    Raises:
        ValueError: The column is missing (the message lists the source's columns and how to name another).
        data_connectors.ConnectorError: The source cannot be opened.
    """
    from data_connectors.config import parse_source, resolved_options

    parsed = parse_source(source)
    connector, options = resolved_options(parsed)
    with connector.open(options, [column], 1) as extract:
        columns, where = list(extract.columns), extract.location
    if column not in columns:
        raise ValueError(f"{parsed.kind} source {where} has no column {column!r} with the sequences to score (it has "
                         f"{columns}). Name the right one with --sequence-column or `columns.sequence` in the source "
                         "YAML.")


def _score_chunks(predictor, dataset, total: int, target, schema, meta: dict, strict: bool, chunk_rows: int,
                  batch_size: int, progress: bool) -> tuple[list[tuple[str, str]], int]:
    """Scores the read rows ``chunk_rows`` at a time and writes each chunk; returns the refused rows and count."""
    import pyarrow as pa
    from tqdm.auto import tqdm

    from ..serving.table import score_rows

    has_id = "id" in dataset.column_names
    refused: list[tuple[str, str]] = []
    refused_rows = 0
    with tqdm(total=total, unit="rows", desc="score", disable=not progress, unit_scale=True) as bar:
        for first in range(0, total, chunk_rows):
            part = dataset.data.table.slice(first, chunk_rows)
            ids = (part.column("id").to_pylist() if has_id else [str(first + i) for i in range(part.num_rows)])
            rows = score_rows(predictor, part.column("sequence").to_pylist(), batch_size)
            for rid, row in zip(ids, rows):
                if row["error"] is not None:
                    if strict:
                        raise ValueError(f"row id {rid!r}: {row['error']} (--strict: nothing was written; fix or "
                                         "filter that row, or drop --strict to write it with its reason)")
                    refused_rows += 1
                    if len(refused) < MAX_LISTED:
                        refused.append((rid, row["error"]))
            target.write(pa.Table.from_pylist([{"id": rid, **row, **meta} for rid, row in zip(ids, rows)],
                                              schema=schema))
            bar.update(part.num_rows)
    return refused, refused_rows


def _arrow_schema(task: dict):
    import pyarrow as pa

    from ..serving.table import output_columns

    kinds = {"string": pa.string(), "double": pa.float64()}
    return pa.schema([("id", pa.string())] + [(n, kinds[k]) for n, k in output_columns(task)]
                     + [(m, pa.string()) for m in META])


def score_source(predictor, source: dict, target_factory, *, column: str | None = None, model: dict | None = None,
                 strict: bool = False, chunk_rows: int = 4096, batch_size: int = 64,
                 progress: bool = True) -> ScoringResult:
    """Reads ``source``, scores every row with ``predictor`` and writes the table through a target.

    Args:
        predictor: A loaded :class:`~workbench.serving.predictor.Predictor`.
        source: A ``source:`` block (any connector kind).
        target_factory: Called with the output ``pyarrow.Schema``; returns a
            :class:`~workbench.scoring.targets.FileTarget` or :class:`~workbench.scoring.targets.TableTarget`.
        column: The source's sequence column; default the run's (``task.json`` ``sequence_column``), else
            ``sequence``.
        model: ``{"name", "version"}`` of a registered version (default: the run directory's name, no version).
        strict: Fail on the first refused sequence (nothing is written) instead of writing it with its reason.
        chunk_rows: Rows scored and written per chunk.
        batch_size: Sequences per forward pass.
        progress: Show a tqdm bar with rows/s.

    Returns:
        A :class:`ScoringResult`.

    Raises:
        data_connectors.ConnectorError: The source cannot be read or lacks the sequence column (the message lists
            the columns it has).
        ValueError: A refused sequence under ``strict`` (naming the row's id), or a target error.
    """
    from data_connectors import ColumnMapping, read_source

    from .. import audit

    start = time.perf_counter()
    task = predictor.task
    column = column or task.get("sequence_column") or "sequence"
    check_column(source, column)
    schema = _arrow_schema(task)
    target = target_factory(schema)  # before reading: an existing table under --if-exists fail stops the job now
    lineage = None
    try:
        dataset, lineage = read_source(source, ColumnMapping(column, column, text=True))
        meta = {"model_name": (model or {}).get("name") or Path(predictor.run_dir).name,
                "model_version": str((model or {}).get("version") or ""),
                "base_model_sha256": task.get("base_model", {}).get("sha256", ""),
                "data_fingerprint": lineage.fingerprint}
        refused, refused_rows = _score_chunks(predictor, dataset, lineage.rows, target, schema, meta, strict,
                                              chunk_rows, batch_size, progress)
        target.commit()
    except BaseException:
        target.abort()
        raise
    finally:
        if lineage is not None and lineage.extra.get("cache_file"):  # the connector's copy of the source
            from data_connectors.pipeline import cache_dir

            (cache_dir() / lineage.extra["cache_file"]).unlink(missing_ok=True)
    result = ScoringResult(lineage.rows, refused[:MAX_LISTED], refused_rows, target.describe(), lineage.fingerprint,
                           time.perf_counter() - start)
    audit.record("predict", f"{meta['model_name']}@{meta['model_version']}" if meta["model_version"]
                 else str(predictor.run_dir), source=lineage.location, query=lineage.query, rows=result.rows,
                 refused=refused_rows, data_fingerprint=lineage.fingerprint, output=result.target,
                 seconds=round(result.seconds, 2))
    return result
