"""Where batch scores go, written atomically: a Parquet or CSV file, or a warehouse table.

- **File** (``--out FILE.parquet|.csv``): written batch by batch (pyarrow) to a hidden temporary file in the same
  directory, renamed over the target only when every row is written.
- **Table** (``--to URL#TABLE``, any SQLAlchemy URL): rows go to a staging table ``TABLE__wb_staging``, then one
  transaction swaps it in: ``replace`` drops the old table and renames the staging table; ``append`` inserts the
  staging rows into the target and drops the staging table; ``fail`` refuses a target that exists. The target is the
  old table or the new one, never half-written: a process killed mid-run (even ``kill -9``) leaves the old table and
  a staging table that the next run drops before it starts. PostgreSQL and SQLite run the swap as one transaction
  (transactional DDL); MySQL/MariaDB use ``RENAME TABLE``, which is atomic there. One writer per target table at a
  time.

Credentials in the URL follow the connectors' rules: ``${env:NAME}`` and ``${keyring:SERVICE/USER}`` are resolved
here, and every message and log line shows the URL redacted (:func:`data_connectors.redact`).
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from data_connectors import ConnectorError, redact

IF_EXISTS = ("fail", "replace", "append")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class TargetError(ValueError):
    """Raised when a target cannot be written: a bad ``--to``/``--out``, an existing table under ``fail``, columns
    that do not match under ``append``; the message says what to do."""


def parse_to(to: str) -> tuple[str, str | None, str]:
    """Splits ``URL#[SCHEMA.]TABLE`` into ``(url, schema, table)``; the URL keeps its ``${...}`` references.

    Raises:
        TargetError: No ``#TABLE`` part, or a table name that is not a plain SQL identifier.
    """
    url, sep, name = to.rpartition("#")
    if not sep or not url or not _NAME.match(name or ""):
        raise TargetError(f"--to {redact(to)!r}: write it as URL#TABLE (or URL#SCHEMA.TABLE), e.g. "
                          "'postgresql+psycopg://alice:${env:PGPASSWORD}@db/warehouse#splice_scores'; the table name "
                          "takes letters, digits and underscores.")
    schema, _, table = name.rpartition(".")
    return url, schema or None, table


class FileTarget:
    """A Parquet or CSV file, written to a temporary sibling and renamed into place by :meth:`commit`.

    Args:
        path: ``.parquet`` or ``.csv`` file.
        schema: The ``pyarrow.Schema`` of the rows.

    Raises:
        TargetError: Another suffix, or a directory that does not exist.
    """

    def __init__(self, path: str | Path, schema):
        self.path = Path(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        if self.kind not in ("parquet", "csv"):
            raise TargetError(f"--out {self.path}: write a .parquet or .csv file.")
        if not self.path.parent.is_dir():
            raise TargetError(f"--out {self.path}: the directory {self.path.parent} does not exist.")
        self.schema = schema
        self.partial = self.path.with_name(f".{self.path.name}.partial-{uuid.uuid4().hex[:8]}")
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(str(self.partial), schema)
        else:
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(str(self.partial), schema)

    def describe(self) -> str:
        return str(self.path)

    def write(self, table) -> None:
        """Appends a ``pyarrow.Table`` of rows."""
        self.writer.write_table(table)

    def commit(self) -> None:
        """Closes the file and renames it over the target."""
        self.writer.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Closes and removes the temporary file (the target is untouched)."""
        try:
            self.writer.close()
        finally:
            self.partial.unlink(missing_ok=True)


def _column_type(arrow_type):
    import pyarrow as pa
    import sqlalchemy as sa

    return sa.Double() if pa.types.is_floating(arrow_type) else sa.Text()


class TableTarget:
    """A warehouse table, filled through a staging table and swapped in by :meth:`commit` (see the module note).

    Args:
        to: ``URL#[SCHEMA.]TABLE``; ``${env:...}``/``${keyring:...}`` in the URL are resolved.
        schema: The ``pyarrow.Schema`` of the rows.
        if_exists: ``fail``, ``replace`` or ``append``.

    Raises:
        TargetError: Bad ``--to``, unknown ``if_exists``, or the table exists under ``fail``.
        data_connectors.ConnectorError: A credential reference cannot be resolved, or the database refuses the
            connection (the message is redacted).
    """

    def __init__(self, to: str, schema, if_exists: str = "fail"):
        import sqlalchemy as sa
        from data_connectors.secrets import resolve_secrets

        if if_exists not in IF_EXISTS:
            raise TargetError(f"--if-exists {if_exists!r}: choose one of {', '.join(IF_EXISTS)}.")
        raw_url, self.schema_name, self.table = parse_to(to)
        url = resolve_secrets(raw_url)
        self.where = f"{redact(url)}#{self.schema_name + '.' if self.schema_name else ''}{self.table}"
        self.if_exists, self.arrow_schema = if_exists, schema
        self.staging = f"{self.table}__wb_staging"[:60]
        try:
            self.engine = sa.create_engine(url)
            if self.engine.dialect.name == "sqlite":
                _sqlite_transactional_ddl(self.engine)
            self._prepare()
        except sa.exc.SQLAlchemyError as exc:
            raise ConnectorError(f"{self.where}: {type(exc).__name__}: {redact(str(exc)).splitlines()[0][:300]}. "
                                 "Check the URL, the credentials and that the database is reachable.") from None

    def describe(self) -> str:
        return self.where

    def _exists(self, conn, name: str) -> bool:
        import sqlalchemy as sa

        return sa.inspect(conn).has_table(name, schema=self.schema_name)

    def _prepare(self) -> None:
        import sqlalchemy as sa

        meta = sa.MetaData(schema=self.schema_name)
        self.staging_table = sa.Table(self.staging, meta, *(sa.Column(f.name, _column_type(f.type))
                                                             for f in self.arrow_schema))
        with self.engine.begin() as conn:
            if self.if_exists == "fail" and self._exists(conn, self.table):
                raise TargetError(f"{self.where} already exists and --if-exists is fail: choose --if-exists replace "
                                  "(swap in the new scores) or append (add them), or another table name.")
            if self.if_exists == "append" and self._exists(conn, self.table):
                have = [c["name"] for c in sa.inspect(conn).get_columns(self.table, schema=self.schema_name)]
                if have != self.arrow_schema.names:
                    raise TargetError(f"{self.where} has columns {have}, but this model writes "
                                      f"{self.arrow_schema.names}: use --if-exists replace or another table.")
            self.staging_table.drop(conn, checkfirst=True)  # left by an interrupted run
            self.staging_table.create(conn)

    def write(self, table) -> None:
        """Inserts a ``pyarrow.Table`` of rows into the staging table (its own transaction)."""
        rows = table.to_pylist()
        if rows:
            with self.engine.begin() as conn:
                conn.execute(self.staging_table.insert(), rows)

    def _q(self, name: str) -> str:
        prep = self.engine.dialect.identifier_preparer
        return (prep.quote_schema(self.schema_name) + "." if self.schema_name else "") + prep.quote(name)

    def commit(self) -> None:
        """Swaps the staging table in (``replace``), appends it (``append``) or renames it (new table).

        Raises:
            TargetError: Under ``fail``, a table of that name appeared while scoring.
        """
        import sqlalchemy as sa

        prep, mysql = self.engine.dialect.identifier_preparer, self.engine.dialect.name in ("mysql", "mariadb")
        with self.engine.begin() as conn:
            exists = self._exists(conn, self.table)
            if exists and self.if_exists == "fail":
                raise TargetError(f"{self.where} was created while scoring and --if-exists is fail; nothing changed.")
            if exists and self.if_exists == "append":
                cols = ", ".join(prep.quote(c) for c in self.arrow_schema.names)
                conn.execute(sa.text(f"INSERT INTO {self._q(self.table)} ({cols}) SELECT {cols} FROM "
                                     f"{self._q(self.staging)}"))
                self.staging_table.drop(conn)
                return
            if mysql:
                old = f"{self.table}__wb_old"[:60]
                renames = ([f"{self._q(self.table)} TO {self._q(old)}"] if exists else []) + [
                    f"{self._q(self.staging)} TO {self._q(self.table)}"]
                conn.execute(sa.text("RENAME TABLE " + ", ".join(renames)))
                if exists:
                    conn.execute(sa.text(f"DROP TABLE {self._q(old)}"))
                return
            if exists:
                conn.execute(sa.text(f"DROP TABLE {self._q(self.table)}"))
            conn.execute(sa.text(f"ALTER TABLE {self._q(self.staging)} RENAME TO {prep.quote(self.table)}"))

    def abort(self) -> None:
        """Drops the staging table (the target is untouched)."""
        with self.engine.begin() as conn:
            self.staging_table.drop(conn, checkfirst=True)


def _sqlite_transactional_ddl(engine) -> None:
    """Makes pysqlite run DDL inside SQLAlchemy's transactions (SQLAlchemy's documented recipe): otherwise the
    driver commits before ``DROP``/``ALTER`` and the swap would not be one transaction."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")
