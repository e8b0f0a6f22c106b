"""Files connector: CSV, TSV, Parquet (file, directory, hive partitions), JSONL and Excel, local or fsspec.

Readers: ``pyarrow.csv.open_csv`` (streaming, every column read as text), ``pyarrow.dataset``
for Parquet (a file, a directory of files, or ``key=value/`` hive partitions, whose keys
become columns), pandas' chunked JSON-lines reader, and openpyxl in read-only mode for
``.xlsx``. Paths are local paths, globs or fsspec URLs; ``s3://``, ``gs://`` and ``abfs://``
need ``s3fs``/``gcsfs``/``adlfs`` installed and take credentials the way those libraries do
(``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``,
``AZURE_STORAGE_CONNECTION_STRING`` ...) or from ``source.storage_options``.

Column names and values are stripped of padding, so the UCI splice file
(``Class, Donor,   Sequence``) reads cleanly.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import sys
from contextlib import ExitStack, contextmanager
from pathlib import PurePosixPath
from typing import Any

from .base import ColumnMapping, Connector, Extract
from .config import FilesSource
from .errors import ConnectorError
from .pipeline import guarded, rows_to_batch
from .secrets import redact

FORMATS = ("csv", "tsv", "parquet", "jsonl", "excel")
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
             ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "excel", ".xlsm": "excel"}
_MAX_HASHED = 1000


def infer_format(path: str) -> str:
    """Guesses a file format from its suffix (a trailing ``.gz``/``.bz2``/``.zst`` is skipped).

    Args:
        path: File path or URL.

    Returns:
        One of ``FORMATS``.

    Raises:
        ConnectorError: If the suffix is unknown (set ``source.format`` explicitly).
    """
    suffixes = [s.lower() for s in PurePosixPath(path.split("?")[0]).suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):
        suffixes.pop()
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ConnectorError(
            f"Cannot tell the format of {redact(path)!r} from its suffix; set `source.format` to one of {FORMATS}.")
    return fmt


def expand(path: str, storage_options: dict[str, Any] | None = None):
    """Resolves a path, glob, directory or fsspec URL to ``(filesystem, [paths], is_dir)``.

    Raises:
        ConnectorError: If nothing matches.
    """
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
    except Exception as exc:
        raise ConnectorError(f"{redact(path)}: cannot open this location ({type(exc).__name__}: {redact(str(exc))}). "
                             "Install the fsspec backend for its scheme (s3fs, gcsfs, adlfs) and check "
                             "`source.storage_options`.") from None
    if fsspec.core.has_magic(root):
        paths = sorted(fs.glob(root))
    elif fs.isdir(root):
        return fs, [root], True
    else:
        paths = [root] if fs.exists(root) else []
    if not paths:
        raise ConnectorError(f"files source {redact(path)}: no such file. Check `source.path`.")
    return fs, paths, False


def file_facts(fs, paths: list[str]) -> dict[str, Any]:
    """Sizes and sha256 of local files (size and ETag/mtime of remote ones), for the lineage."""
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    facts = []
    for p in paths[:_MAX_HASHED]:
        info = fs.info(p)
        item = {"path": redact(p), "bytes": info.get("size")}
        if local:
            digest = hashlib.sha256()
            with fs.open(p, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            item["sha256"] = digest.hexdigest()
        else:
            item.update({k: str(info[k]) for k in ("ETag", "etag", "md5", "mtime", "LastModified") if k in info})
        facts.append(item)
    out: dict[str, Any] = {"files": facts, "file_count": len(paths)}
    if len(facts) == 1 and "sha256" in facts[0]:
        out["file_sha256"], out["bytes"] = facts[0]["sha256"], facts[0]["bytes"]
    return out


def _csv(stack: ExitStack, fs, paths, fmt: str, wanted, chunk_rows: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "," if fmt == "csv" else "\t"
    with fs.open(paths[0], "rt", compression="infer", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), [])
    names = [h.strip() for h in header]
    raw = dict(zip(names, header))
    include = [raw[n] for n in (wanted or names) if n in raw]

    def batches():
        for path in paths:
            handle = stack.enter_context(fs.open(path, "rb", compression="infer"))
            reader = pacsv.open_csv(handle, read_options=pacsv.ReadOptions(block_size=max(1 << 16, chunk_rows * 128)),
                                    parse_options=pacsv.ParseOptions(delimiter=delimiter),
                                    convert_options=pacsv.ConvertOptions(
                                        column_types={h: pa.string() for h in header}, include_columns=include,
                                        null_values=[""], strings_can_be_null=True))
            for batch in reader:
                yield batch.rename_columns([c.strip() for c in batch.schema.names])

    return names, batches()


def _parquet(fs, paths, is_dir: bool, wanted, chunk_rows: int):
    import pyarrow.dataset as pads
    from fsspec.implementations.local import LocalFileSystem

    source = paths[0] if is_dir or len(paths) == 1 else paths
    dataset = pads.dataset(source, format="parquet", partitioning="hive",
                           filesystem=None if isinstance(fs, LocalFileSystem) else fs)
    names = dataset.schema.names
    return names, dataset.to_batches(columns=[c for c in (wanted or names) if c in names], batch_size=chunk_rows)


def _jsonl(stack: ExitStack, fs, paths, chunk_rows: int):
    import pandas as pd
    import pyarrow as pa

    def frames():
        for path in paths:
            handle = stack.enter_context(fs.open(path, "rb", compression="infer"))
            yield from pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False, convert_dates=False)

    it = frames()
    first = next(it, None)
    names = [str(c).strip() for c in first.columns] if first is not None else []

    def batches():
        for chunk in itertools.chain([first] if first is not None else [], it):
            chunk.columns = [str(c).strip() for c in chunk.columns]
            try:
                yield pa.RecordBatch.from_pandas(chunk, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in a column: keep them as text
                clean = chunk.astype(object).where(chunk.notna(), None)
                yield rows_to_batch(list(clean.itertuples(index=False, name=None)), list(chunk.columns))

    return names, batches()


def _excel(stack: ExitStack, fs, paths, sheet, chunk_rows: int):
    import openpyxl

    handle = stack.enter_context(fs.open(paths[0], "rb"))
    book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    stack.callback(book.close)
    try:
        ws = book.worksheets[sheet] if isinstance(sheet, int) else (book[sheet] if sheet else book.worksheets[0])
    except (KeyError, IndexError):
        raise ConnectorError(f"sheet {sheet!r} not found; the workbook has {book.sheetnames}. "
                             "Set `source.sheet`.") from None
    rows = ws.iter_rows(values_only=True)
    names = [str(h).strip() if h is not None else f"column_{i}" for i, h in enumerate(next(rows, ()))]

    def batches():
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                yield rows_to_batch(chunk, names)
                chunk = []
        if chunk:
            yield rows_to_batch(chunk, names)

    return names, batches()


class FilesConnector(Connector):
    """``kind: files`` (see the module docstring)."""

    kind = "files"
    Options = FilesSource

    @contextmanager
    def open(self, options: FilesSource, wanted: list[str] | None, limit: int | None):
        """Opens the file(s) and yields an Extract streaming batches.

        Raises:
            ConnectorError: Missing file, unknown format, unreadable or unparsable file.
        """
        fmt, unknown = options.format, None
        if fmt is None:
            try:
                fmt = infer_format(options.path)
            except ConnectorError as exc:  # maybe a directory of Parquet files
                unknown = exc
        try:
            fs, paths, is_dir = expand(options.path, options.storage_options)
        except ConnectorError:
            raise unknown or sys.exc_info()[1] from None
        if fmt is None:
            if not is_dir:
                raise unknown
            found = [p for p in fs.find(paths[0]) if not PurePosixPath(p).name.startswith((".", "_"))]
            fmt = infer_format(found[0]) if found else "parquet"
        where = f"{fmt.upper()} file {redact(options.path)}"
        hint = "Is `source.format` right, and is the file complete?"
        with ExitStack() as stack:
            try:
                if fmt in ("csv", "tsv"):
                    names, batches = _csv(stack, fs, paths, fmt, wanted, options.chunk_rows)
                elif fmt == "parquet":
                    names, batches = _parquet(fs, paths, is_dir, wanted, options.chunk_rows)
                elif fmt == "jsonl":
                    names, batches = _jsonl(stack, fs, paths, options.chunk_rows)
                else:
                    names, batches = _excel(stack, fs, paths, options.sheet, options.chunk_rows)
            except ConnectorError as exc:
                raise ConnectorError(f"{where}: {exc}") from None
            except FileNotFoundError:
                raise ConnectorError(f"{where}: no such file. Check `source.path`.") from None
            except Exception as exc:
                raise ConnectorError(f"{where}: cannot parse ({type(exc).__name__}: {redact(str(exc))[:300]}). "
                                     f"{hint}") from None
            facts = lambda: file_facts(fs, fs.find(paths[0]) if is_dir else paths)  # noqa: E731 (only for reads)
            yield Extract(columns=names, batches=guarded(batches, where, hint), location=redact(options.path),
                          query=None, extra={"format": fmt, "_files": facts})


def read_files(path: str, columns: ColumnMapping, format: str | None = None, limit: int | None = None,
               **options: Any):
    """Reads table file(s) and returns the mapped columns as a memory-mapped dataset.

    Args:
        path: Local path, glob, directory (Parquet) or fsspec URL (``s3://bucket/key.parquet`` ...).
        columns: Which columns hold the sequence and the label.
        format: One of ``FORMATS``; inferred from the suffix when ``None``.
        limit: Keep only the first this-many rows (``None`` = all).
        **options: Other ``source:`` fields (``sheet``, ``storage_options``, ``sample``, ``nulls`` ...).

    Returns:
        ``(dataset, lineage)`` as for :func:`data_connectors.read_sql`; ``lineage.extra`` holds
        ``format``, and ``file_sha256``/``bytes`` for a single local file.

    Raises:
        ConnectorError: Missing or unreadable file, unknown format, missing mapped column,
            NULL value or no rows.
    """
    from .config import read_source

    return read_source({"kind": "files", "path": path, "format": format, "limit": limit, **options}, columns)
