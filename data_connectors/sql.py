"""SQL connector: any SQLAlchemy URL plus a parameterised query, streamed through a server-side cursor.

Tested against PostgreSQL (psycopg 3), MariaDB (PyMySQL) and SQLite; any dialect a user
installs works the same way. Values are always bound parameters (``:name``), never
formatted into the SQL text. Rows arrive ``chunk_rows`` at a time (SQLAlchemy
``stream_results``: a named cursor on PostgreSQL, an unbuffered ``SSCursor`` on MySQL/MariaDB)
and go straight to the on-disk Arrow file, so a table larger than memory can be read.

Statement timeout (``timeout_s``), per dialect:

* PostgreSQL: ``statement_timeout`` via ``set_config`` (applies to each statement, i.e.
  each FETCH of the cursor), https://www.postgresql.org/docs/current/runtime-config-client.html
* MariaDB: ``max_statement_time`` (seconds), https://mariadb.com/kb/en/server-system-variables/#max_statement_time;
  MySQL: ``max_execution_time`` (ms, SELECT only).
* SQLite: a progress handler that interrupts the read once the deadline has passed
  (https://docs.python.org/3/library/sqlite3.html#sqlite3.Connection.set_progress_handler).
* Other dialects: not enforced; a :class:`DataWarning` says so.

Example (what the quickstart does)::

    from data_connectors import ColumnMapping, read_sql
    ds, lineage = read_sql("sqlite:///warehouse.db", "SELECT Sequence, Class FROM splice WHERE Class IN (:a, :b)",
                           ColumnMapping("Sequence", "Class"), params={"a": "EI", "b": "IE"})
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from typing import Any

from .base import ColumnMapping, Connector, Extract
from .config import SqlSource
from .errors import ConnectorError, DataWarning
from .pipeline import rows_to_batch
from .secrets import redact, redact_config, register_url_password

_TIMEOUT_WORDS = ("statement timeout", "max_statement_time", "max_execution_time", "interrupted")


def _first_line(exc: BaseException) -> str:
    text = redact(str(getattr(exc, "orig", None) or exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _set_timeout(conn, seconds: float | None) -> str | None:
    """Applies the statement timeout for this connection's dialect; returns a note if not enforced."""
    import sqlalchemy as sa

    if seconds is None:
        return None
    dialect = conn.dialect
    if dialect.name == "postgresql":
        conn.execute(sa.text("SELECT set_config('statement_timeout', :ms, false)"), {"ms": str(int(seconds * 1000))})
    elif dialect.name in ("mysql", "mariadb"):
        if getattr(dialect, "is_mariadb", False) or dialect.name == "mariadb":
            conn.execute(sa.text("SET SESSION max_statement_time = :s"), {"s": float(seconds)})
        else:
            conn.execute(sa.text("SET SESSION max_execution_time = :ms"), {"ms": int(seconds * 1000)})
    elif dialect.name == "sqlite":
        deadline = time.monotonic() + seconds
        conn.connection.dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    else:
        note = f"timeout_s is not enforced for the {dialect.name} dialect; set a timeout on the server or the URL"
        warnings.warn(note, DataWarning, stacklevel=4)
        return note
    return None


def _failure(where: str, exc: BaseException, rows: int | None, timeout_s: float | None) -> ConnectorError:
    detail = _first_line(exc)
    if timeout_s is not None and any(w in detail.lower() for w in _TIMEOUT_WORDS):
        return ConnectorError(f"{where}: the query ran past source.timeout_s={timeout_s:g} s and was cancelled "
                              f"({detail}). Raise timeout_s, filter or LIMIT the query, or add an index.")
    if rows is None:
        return ConnectorError(f"{where}: the query failed ({type(exc).__name__}: {detail}). Check that the server is "
                              "reachable and the query runs in a SQL client.")
    lost = getattr(exc, "connection_invalidated", False) or "OperationalError" in type(exc).__name__ \
        or type(getattr(exc, "orig", None)).__name__ in ("OperationalError", "InterfaceError")
    what = "the connection was lost" if lost else "the read failed"
    return ConnectorError(f"{where}: {what} after {rows} rows ({type(exc).__name__}: {detail}). Nothing was kept; "
                          "check the server (restarts, idle/statement timeouts, killed sessions) and run again.")


def _forget_unbuffered(result) -> None:
    """After a lost MySQL/MariaDB connection, stops PyMySQL's unbuffered result from draining a dead socket
    when it is garbage-collected (it would print "Exception ignored in MySQLResult.__del__")."""
    pending = getattr(getattr(result, "cursor", None), "_result", None)
    if getattr(pending, "unbuffered_active", False):
        pending.unbuffered_active = False


class SqlConnector(Connector):
    """``kind: sql`` (see the module docstring)."""

    kind = "sql"
    Options = SqlSource

    @contextmanager
    def open(self, options: SqlSource, wanted: list[str] | None, limit: int | None):
        """Connects, runs the query, and yields an Extract streaming ``chunk_rows``-row batches.

        Raises:
            ConnectorError: Bad URL or missing driver, unreachable server, failing query, statement
                timeout, or a connection lost mid-read (the message gives the row count reached).
        """
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        register_url_password(options.url)
        location = redact(options.url)
        where = f"SQL source {location}"
        if not options.query.strip():
            raise ConnectorError(f"{where}: the query is empty. Give a SELECT statement in `source.query`.")
        try:
            engine = sa.create_engine(options.url, poolclass=NullPool)
        except Exception as exc:  # bad URL or missing driver
            raise ConnectorError(f"{where}: cannot create an engine ({type(exc).__name__}: {_first_line(exc)}). "
                                 "Check the URL and that the database driver package is installed.") from None
        state: dict[str, Any] = {"rows": None}
        try:
            with engine.connect() as conn:
                note = _set_timeout(conn, options.timeout_s)
                result = conn.execution_options(stream_results=True, max_row_buffer=options.chunk_rows).execute(
                    sa.text(options.query), options.params)
                state["result"] = result
                keys = list(result.keys())
                indices = [keys.index(c) for c in (wanted or keys) if c in keys]
                if wanted is None:
                    indices = list(range(len(keys)))

                def batches():
                    state["rows"] = 0
                    while True:
                        rows = result.fetchmany(options.chunk_rows)
                        if not rows:
                            return
                        state["rows"] += len(rows)
                        yield rows_to_batch(rows, keys, indices)
                        if limit is not None and state["rows"] >= limit:
                            return

                extra = {"dialect": engine.dialect.name, "driver": engine.dialect.driver,
                         "server_side_cursor": bool(engine.dialect.supports_server_side_cursors),
                         "params": redact_config(dict(options.params)), "timeout_s": options.timeout_s,
                         "chunk_rows": options.chunk_rows}
                if note:
                    extra["timeout_note"] = note
                yield Extract(columns=keys, batches=batches(), location=location, query=options.query, extra=extra)
                try:
                    result.close()
                except sa.exc.SQLAlchemyError:
                    pass
        except sa.exc.SQLAlchemyError as exc:
            _forget_unbuffered(state.get("result"))
            raise _failure(where, exc, state["rows"], options.timeout_s) from None
        finally:
            engine.dispose()


def read_sql(url: str, query: str, columns: ColumnMapping, params: dict[str, Any] | None = None,
             limit: int | None = None, chunk_rows: int = 10_000, **options: Any):
    """Runs a query through SQLAlchemy and returns its rows as a memory-mapped dataset.

    Args:
        url: SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db`` or ``sqlite:///file.db``;
            may hold ``${env:NAME}``/``${keyring:SERVICE/USER}``. Passwords never appear in
            lineage or errors.
        query: A single SQL ``SELECT`` statement, with ``:name`` placeholders for ``params``.
        columns: Which result columns hold the sequence and the label.
        params: Values for the query's placeholders.
        limit: Stop after this many rows (``None`` = all rows).
        chunk_rows: Rows fetched per round trip (bounds memory).
        **options: Other ``source:`` fields: ``timeout_s``, ``sample``, ``nulls``, ``id_column``,
            ``keep_columns``, ``env_file``.

    Returns:
        ``(dataset, lineage)``: a ``datasets.Dataset`` with string columns ``sequence`` and
        ``label``, and the :class:`~data_connectors.base.Lineage` of the read.

    Raises:
        ConnectorError: Invalid URL, unreachable database, failing query, timeout, dropped
            connection, missing mapped column, NULL value or no rows.
    """
    from .config import read_source

    source = {"kind": "sql", "url": url, "query": query, "params": params or {}, "limit": limit,
              "chunk_rows": chunk_rows, **options}
    return read_source(source, columns)
