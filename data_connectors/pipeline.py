"""The common read path: stream an :class:`~data_connectors.base.Extract` into an on-disk Arrow file.

Every connector's batches go through :func:`materialize`, which

1. checks that the mapped columns exist (the error lists the columns that do),
2. casts them to strings, trims padding, applies ``limit``, the NULL policy and ``sample``,
3. writes each batch to ``$WORKBENCH_HOME/sources/.partial-*.arrow`` (Arrow IPC stream),
   updating the sha256 fingerprint, label counts and the DNA-alphabet check as it goes,
4. renames it to ``<kind>-<fingerprint[:16]>-<rows>-<columns hash>.arrow`` only when the
   whole read succeeded (a failed read, including a dropped connection, leaves no file), and
5. memory-maps it as a ``datasets.Dataset`` (``Dataset.from_file``), so peak memory is
   bounded by one batch, not by the table.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

from .base import ID, LABEL, SEQUENCE, ColumnMapping, Extract, Lineage, check_columns
from .checks import RowChecks, string_column
from .errors import ConnectorError, DataWarning
from .sampling import RowSampler, take_rows


def cache_dir() -> Path:
    """Returns the directory of materialised sources, ``$WORKBENCH_HOME/sources``.

    Files are named ``<kind>-<fingerprint[:16]>-<rows>-<columns hash>.arrow``: the same rows
    read twice share one file. Delete the directory to reclaim space; runs keep their lineage.
    """
    root = Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "workbench").expanduser()
    path = root / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wanted(columns: ColumnMapping, id_column: str | None, keep: list[str]) -> list[str]:
    out: list[str] = []
    for name in (columns.sequence, columns.label, id_column, *keep):
        if name and name not in out:
            out.append(name)
    return out


def materialize(kind: str, open_extract, columns: ColumnMapping, *, id_column: str | None = None,
                keep_columns: list[str] | None = None, limit: int | None = None, sample: Any = None,
                nulls: str = "error", progress: Callable[[int], None] | None = None):
    """Reads an opened source into a memory-mapped ``datasets.Dataset``.

    Args:
        kind: Connector kind, for the lineage.
        open_extract: Called with the list of source columns needed; returns a context manager
            yielding an :class:`Extract` (e.g. ``lambda wanted: connector.open(opts, wanted, limit)``).
        columns: Which source columns hold the sequence and the label.
        id_column: Source column with a row ID (kept as ``id``; duplicates are warned about).
        keep_columns: Other source columns to carry into the dataset, as strings.
        limit: Read at most this many source rows.
        sample: Object with ``fraction`` or ``n`` and ``seed`` (see ``SampleConfig``): keep a
            reproducible subset, chosen by a keyed hash of each row, so the same rows are kept
            whatever order the source returns them in.
        nulls: ``"error"`` (default) or ``"drop"`` rows whose sequence or label is NULL/empty; ``"sequence"``
            drops rows with an empty sequence only and keeps an empty label as ``""`` (internal: the unlabelled
            rows of task-adaptive pretraining; not a config value).
        progress: Called with the number of source rows read after each batch.

    Returns:
        ``(dataset, lineage)``: the dataset has string columns ``sequence``, ``label``, then
        ``id`` (if ``id_column``) and ``keep_columns``.

    Raises:
        ConnectorError: Missing columns, NULLs under ``nulls="error"``, no rows, or any read
            error of the connector (e.g. a dropped connection). No file is left behind.
    """
    import pyarrow as pa

    keep = [c for c in (keep_columns or []) if c not in (columns.sequence, columns.label, id_column)]
    wanted = _wanted(columns, id_column, keep)
    out_names = [SEQUENCE, LABEL] + ([ID] if id_column else []) + keep
    sources = [columns.sequence, columns.label] + ([id_column] if id_column else []) + keep  # one per out name
    schema = pa.schema([(name, pa.string()) for name in out_names])
    partial = cache_dir() / f".partial-{uuid.uuid4().hex}.arrow"
    made: list[Path] = [partial]
    try:
        with open_extract(wanted) as extract:
            where = f"{kind} source {extract.location}"
            check_columns(extract.columns, columns, where, [c for c in wanted if c not in (columns.sequence,
                                                                                               columns.label)])
            checks = RowChecks(where, id_column, text=columns.text)
            sampler = RowSampler(sample)
            _write_partial(extract.batches, partial, schema, list(zip(out_names, sources)), checks, sampler,
                           limit, nulls, progress)
            checks.raise_for_nulls(nulls)
            if sampler.n is not None:
                partial = take_rows(partial, sampler.indices(), schema, checks, made)
            final, lineage, messages = _publish(kind, extract, partial, out_names, checks, made,
                                                limit=limit, sample=sample, nulls=nulls)
    finally:
        for path in made:
            path.unlink(missing_ok=True)
    for message in messages:
        warnings.warn(message, DataWarning, stacklevel=3)
    import datasets

    return datasets.Dataset.from_file(str(final)), lineage


def _write_partial(batches, partial: Path, schema, names: list[tuple[str, str]], checks: RowChecks,
                   sampler: RowSampler, limit: int | None, nulls: str, progress: Callable[[int], None] | None) -> None:
    """Streams the source's batches into the partial Arrow file: ``limit``, strings, NULL policy, sample, checks.

    Args:
        batches: The extract's record batches.
        partial: The partial file to write.
        schema: The output schema (every column a string).
        names: ``(output column, source column)`` pairs.
        checks: The running row checks (counts, fingerprint, labels, alphabet).
        sampler: The ``sample.fraction`` filter or ``sample.n`` reservoir.
        limit: Read at most this many source rows.
        nulls: ``"error"``, ``"drop"`` or ``"sequence"`` (see :func:`materialize`).
        progress: Called with the number of source rows read after each batch.
    """
    import pyarrow as pa

    with pa.ipc.new_stream(str(partial), schema) as writer:
        for batch in batches:
            if limit is not None and checks.source_rows >= limit:
                break
            if limit is not None and checks.source_rows + batch.num_rows > limit:
                batch = batch.slice(0, limit - checks.source_rows)
            cols = {name: string_column(batch.column(batch.schema.get_field_index(src)), src)
                    for name, src in names}
            table = pa.table(cols, schema=schema)
            table = checks.nulls(table, drop=nulls != "error", labels_optional=nulls == "sequence")
            table = sampler.apply(table, checks.rows)
            checks.accept(table)
            for part in table.to_batches():
                writer.write_batch(part)
            if progress is not None:
                progress(checks.source_rows)


def _publish(kind: str, extract: Extract, partial: Path, out_names: list[str], checks: RowChecks, made: list[Path],
             *, limit: int | None, sample: Any, nulls: str) -> tuple[Path, Lineage, list[str]]:
    """Finishes the checks, renames the partial file to its content-addressed name and builds the lineage.

    Args:
        kind: Connector kind.
        extract: The opened source (location, query, columns, lazy extra facts).
        partial: The complete partial file, in the cache directory.
        out_names: The output column names (part of the file name's layout hash).
        checks: The row checks of the written rows.
        made: Files to delete on failure; emptied once the file is renamed.
        limit: ``limit`` as given to :func:`materialize`.
        sample: ``sample`` as given to :func:`materialize`.
        nulls: ``nulls`` as given to :func:`materialize`.

    Returns:
        ``(final, lineage, messages)``: the cache file, the :class:`Lineage`, and the warnings to show.

    Raises:
        ConnectorError: No row was read, or none is left after the NULL policy and the sample.
    """
    if checks.rows == 0:
        detail = ("the source returned no rows. Check the query, path or filters." if checks.source_rows == 0
                  else f"no row is left of {checks.source_rows} read (NULL policy / sample). Loosen them.")
        raise ConnectorError(f"{checks.where}: {detail}")
    extra = _evaluate(extract.extra)
    messages = list(extra.pop("warnings", [])) + checks.finish(partial)
    fingerprint = checks.fingerprint()
    layout = hashlib.sha256(",".join(out_names).encode()).hexdigest()[:6]  # same rows, other columns
    final = partial.with_name(f"{kind}-{fingerprint[:16]}-{checks.rows}-{layout}.arrow")
    os.replace(partial, final)
    made.clear()
    extra = {**extra, "source_rows": checks.source_rows, "limit": limit,
             "sample": sample.model_dump() if hasattr(sample, "model_dump") else sample,
             "nulls": nulls, "dropped_null_rows": checks.null_rows if nulls != "error" else 0,
             "label_counts": checks.label_counts(), "warnings": messages, "cache_file": final.name}
    lineage = Lineage(kind=kind, location=extract.location, query=extract.query, rows=checks.rows,
                      columns=list(extract.columns), fingerprint=fingerprint, extra=extra)
    return final, lineage, messages


def _evaluate(extra: dict) -> dict:
    """Evaluates lazy lineage facts: a callable value is called; a ``_``-prefixed one is merged in."""
    out: dict = {}
    for key, value in extra.items():
        value = value() if callable(value) else value
        if key.startswith("_") and isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out


def preview_table(extract_cm, n: int):
    """Reads the first ``n`` rows of every column of an opened source.

    Args:
        extract_cm: Context manager yielding an :class:`Extract`.
        n: Rows to read.

    Returns:
        ``(extract, table)``: the :class:`Extract` (for columns and location) and a
        ``pyarrow.Table`` of at most ``n`` rows; nothing is written to disk.
    """
    import pyarrow as pa

    parts, got = [], 0
    with extract_cm as extract:
        for batch in extract.batches:
            batch = batch.slice(0, n - got)
            parts.append(pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch)
            got += batch.num_rows
            if got >= n:
                break
    if parts:
        table = pa.concat_tables(parts, promote_options="permissive")
    else:
        table = pa.table({c: pa.array([], pa.string()) for c in extract.columns})
    return extract, table


def rows_to_batch(rows, names: list[str], indices: list[int] | None = None):
    """Builds a ``pyarrow.RecordBatch`` from row tuples, keeping the columns at ``indices``.

    Args:
        rows: Sequence of tuples (DB rows, spreadsheet rows), shape ``(n, columns)``.
        names: All column names.
        indices: Positions of the columns to keep (default all).

    Returns:
        The batch; a column whose values Arrow cannot type together is converted to strings.
    """
    import pyarrow as pa

    indices = list(range(len(names))) if indices is None else indices
    arrays = []
    for i in indices:
        values = [row[i] if i < len(row) else None for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=[names[i] for i in indices])


def guarded(batches, where: str, hint: str):
    """Re-raises any non-:class:`ConnectorError` failure of ``batches`` as a ConnectorError.

    Args:
        batches: The connector's batch iterator.
        where: Source description for the message.
        hint: What to check, appended to the message.
    """
    from .secrets import redact

    try:
        yield from batches
    except ConnectorError:
        raise
    except Exception as exc:
        raise ConnectorError(f"{where}: cannot read ({type(exc).__name__}: {redact(str(exc)).strip()[:300]}). "
                             f"{hint}") from None


__all__ = ["Extract", "cache_dir", "guarded", "materialize", "preview_table", "rows_to_batch"]
