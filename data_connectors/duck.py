"""DuckDB connector: a SQL query over files and lakes, streamed as Arrow record batches.

Example::

    source:
      kind: duckdb
      query: >
        SELECT seq, label FROM read_parquet('lake/regions/**/*.parquet', hive_partitioning = true)
        WHERE assay = $assay
      params: {assay: STARR-seq}

Offline by design: the connection is opened with ``autoinstall_known_extensions = false``,
so DuckDB never downloads anything. Parquet, CSV and JSON readers are built into the
``duckdb`` wheel and always work. Delta (``delta_scan``) and Iceberg (``iceberg_scan``)
are extensions that DuckDB downloads from its extension repository on first use
(https://duckdb.org/docs/stable/extensions/overview); they are *not* installable offline
from PyPI, so here they work only if an administrator has already installed them into
DuckDB's extension directory (``~/.duckdb/extensions``). Otherwise the connector says so.
Remote files: pass an fsspec URL; the filesystem is registered with DuckDB
(https://duckdb.org/docs/stable/guides/python/filesystems).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from .base import Connector, Extract
from .config import DuckDBSource
from .errors import ConnectorError
from .pipeline import guarded
from .secrets import redact

_EXTENSION_HINT = ("DuckDB extensions are downloaded at run time and this workbench is offline: install it on a "
                   "connected machine (`INSTALL {name}` in DuckDB {version}) and copy ~/.duckdb/extensions here, "
                   "or export the table to Parquet.")


def _explain(exc: Exception, version: str) -> str:
    text = redact(str(exc)).strip()
    lowered = text.lower()
    for name in ("delta", "iceberg", "httpfs", "excel", "spatial", "aws", "azure"):
        if f"'{name}" in lowered and "extension" in lowered:
            return f"it needs the DuckDB extension {name!r}, which is not installed. " + \
                _EXTENSION_HINT.format(name=name, version=version)
    return text.splitlines()[0] if text else type(exc).__name__


class DuckDBConnector(Connector):
    """``kind: duckdb`` (see the module docstring)."""

    kind = "duckdb"
    Options = DuckDBSource

    @contextmanager
    def open(self, options: DuckDBSource, wanted: list[str] | None, limit: int | None):
        """Runs the query and yields an Extract of ``chunk_rows``-row Arrow batches.

        Raises:
            ConnectorError: Invalid SQL, missing file, an extension that is not installed (and
                cannot be downloaded offline), or the timeout.
        """
        import duckdb

        location = "duckdb:" + (redact(options.database) if options.database != ":memory:" else "memory")
        where = f"DuckDB source {location}"
        if options.database != ":memory:" and not Path(options.database).is_file():
            raise ConnectorError(f"{where}: database file not found. Check `source.database` (or use :memory:).")
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": True}
        try:
            con = duckdb.connect(options.database, read_only=options.database != ":memory:", config=config)
        except duckdb.Error as exc:
            raise ConnectorError(f"{where}: cannot open ({_explain(exc, duckdb.__version__)}).") from None
        timer = None
        timed_out = threading.Event()
        try:
            for name in options.extensions:
                if not name.isidentifier():
                    raise ConnectorError(f"{where}: {name!r} is not a DuckDB extension name (e.g. delta, iceberg).")
                try:
                    con.execute(f"LOAD {name}")
                except duckdb.Error:
                    raise ConnectorError(f"{where}: the DuckDB extension {name!r} is not installed. " +
                                         _EXTENSION_HINT.format(name=name, version=duckdb.__version__)) from None
            if "://" in options.query:
                _register_filesystems(con, options.query)
            if options.timeout_s:
                timer = threading.Timer(options.timeout_s, lambda: (timed_out.set(), con.interrupt()))
                timer.start()
            try:
                params = options.params or None
                if hasattr(duckdb.DuckDBPyRelation, "to_arrow_reader"):  # DuckDB >= 1.4 / 2.x
                    reader = con.sql(options.query, params=params).to_arrow_reader(options.chunk_rows)
                else:  # DuckDB 1.x
                    reader = con.execute(options.query, params).fetch_record_batch(options.chunk_rows)
            except duckdb.Error as exc:
                raise self._error(where, exc, timed_out, options.timeout_s, duckdb.__version__) from None
            names = reader.schema.names

            def batches():
                try:
                    yield from reader
                except duckdb.Error as exc:
                    raise self._error(where, exc, timed_out, options.timeout_s, duckdb.__version__) from None

            yield Extract(columns=names, batches=guarded(batches(), where, "Check the query in the DuckDB CLI."),
                          location=location, query=options.query,
                          extra={"duckdb": duckdb.__version__, "params": sorted(options.params),
                                 "extensions": options.extensions, "timeout_s": options.timeout_s})
        finally:
            if timer is not None:
                timer.cancel()
            con.close()

    @staticmethod
    def _error(where, exc, timed_out, timeout_s, version) -> ConnectorError:
        if timed_out.is_set():
            return ConnectorError(f"{where}: the query ran past source.timeout_s={timeout_s:g} s and was interrupted. "
                                  "Raise timeout_s or narrow the query.")
        return ConnectorError(f"{where}: the query failed ({type(exc).__name__}: {_explain(exc, version)}). "
                              "Check paths and column names; run the query in the DuckDB CLI.")


def _register_filesystems(con, query: str) -> None:
    """Registers an fsspec filesystem with DuckDB for each URL scheme the query names."""
    import re

    import fsspec

    for protocol in sorted(set(re.findall(r"'([a-z][a-z0-9+.\-]*)://", query))):
        if protocol in ("http", "https", "file"):
            continue
        try:
            con.register_filesystem(fsspec.filesystem(protocol))
        except Exception as exc:
            raise ConnectorError(f"DuckDB source: cannot use {protocol}:// ({type(exc).__name__}: {redact(str(exc))}). "
                                 f"Install its fsspec backend (s3fs, gcsfs, adlfs).") from None
