"""Preview a source: its schema, its first rows, and whether the column mapping fits.

For a notebook::

    from data_connectors import ColumnMapping, preview
    preview({"kind": "files", "path": "data/regions.parquet"}, ColumnMapping("seq", "is_enhancer"))

shows an HTML table (``Preview._repr_html_``). For the command line,
:func:`preview_text` returns the same as plain text. A preview reads only ``n`` rows,
writes nothing to disk, and reports mapping problems instead of raising, so it is the
place to find the right ``columns:`` for a new source.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .base import ColumnMapping


@dataclass(repr=False)
class Preview:
    """The first rows and the schema of a source.

    Attributes:
        kind: Connector kind.
        location: Redacted location.
        query: Query or pattern, if any.
        schema: ``[(column, arrow type)]`` of the source result, in order.
        rows: ``pyarrow.Table`` with the first rows, all columns (at most ``n``).
        mapping: ``{"sequence": column, "label": column}`` as declared.
        problems: What does not fit (missing mapped columns, no rows); empty when all is well.
    """

    kind: str
    location: str
    query: str | None
    schema: list[tuple[str, str]]
    rows: Any
    mapping: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def to_pandas(self):
        """Returns the first rows as a ``pandas.DataFrame``."""
        return self.rows.to_pandas()

    def _role(self, column: str) -> str:
        roles = [k for k, v in self.mapping.items() if v == column]
        return f"-> {', '.join(roles)}" if roles else ""

    def to_text(self, width: int = 100) -> str:
        """Plain-text rendering for a terminal.

        Args:
            width: Longest cell shown, in characters (longer values are cut with ``...``).
        """
        lines = [f"source: {self.kind}  {self.location}"]
        if self.query:
            lines.append(f"query:  {self.query}")
        lines.append(f"schema ({len(self.schema)} columns):")
        pad = max((len(n) for n, _ in self.schema), default=0)
        lines += [f"  {n.ljust(pad)}  {t:<12} {self._role(n)}".rstrip() for n, t in self.schema]
        frame = self.to_pandas()
        lines.append(f"first {len(frame)} row(s):")
        if len(frame):
            frame = frame.map(lambda v: (s if len(s := str(v)) <= width else s[: width - 3] + "..."))
            lines.append(frame.to_string(index=False))
        lines.append("mapping: " + ("ok" if not self.problems else "PROBLEMS"))
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    __str__ = __repr__ = to_text

    def _repr_html_(self) -> str:
        head = (f"<p><b>{html.escape(self.kind)}</b> <code>{html.escape(self.location)}</code>"
                + (f"<br><code>{html.escape(self.query)}</code>" if self.query else "") + "</p>")
        schema = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(t)}</td><td>{html.escape(self._role(n))}"
                         "</td></tr>" for n, t in self.schema)
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems) or "<li>mapping ok</li>"
        return (head + f"<table><tr><th>column</th><th>type</th><th>role</th></tr>{schema}</table>"
                + self.to_pandas().to_html(index=False, max_cols=30) + f"<ul>{problems}</ul>")


def preview(source: Any, columns: ColumnMapping | None = None, n: int = 5) -> Preview:
    """Reads the first ``n`` rows and the schema of a source, and checks the column mapping.

    Args:
        source: A ``source:`` block (dict or validated model, e.g. ``RunConfig.source``).
        columns: The declared mapping (default ``sequence``/``label``).
        n: Rows to show (>= 1).

    Returns:
        A :class:`Preview`; mapping problems are listed in ``Preview.problems``, not raised.

    Raises:
        ConnectorError: If the source cannot be opened or read (unreachable server, failing
            query, missing file) or the ``source:`` block is invalid (every problem listed);
            the message holds no secret.
        ValueError: If ``n`` < 1.
    """
    from .config import parse_source, resolved_options
    from .pipeline import preview_table

    if n < 1:
        raise ValueError("n must be at least 1")
    columns = columns or ColumnMapping()
    source = parse_source(source)
    connector, options = resolved_options(source)
    if isinstance(getattr(options, "chunk_rows", None), int):
        options = options.model_copy(update={"chunk_rows": min(n, options.chunk_rows)})
    extract, table = preview_table(connector.open(options, None, n), n)
    table = _trimmed(table)
    names = list(extract.columns)
    types = {f.name: str(f.type) for f in table.schema}
    problems = []
    required = [columns.sequence, columns.label] + ([source.id_column] if source.id_column else []) + list(
        source.keep_columns)
    missing = [c for c in required if c not in names]
    if missing:
        problems.append(f"column(s) {missing} not found; set `columns.sequence`/`columns.label` (or "
                        f"`source.id_column`/`source.keep_columns`) to some of {names}.")
    if table.num_rows == 0:
        problems.append("the source returned no rows; check the query, path or filters.")
    return Preview(kind=source.kind, location=extract.location, query=extract.query,
                   schema=[(c, types.get(c, "?")) for c in names], rows=table,
                   mapping={"sequence": columns.sequence, "label": columns.label}, problems=problems)


def _trimmed(table):
    """Strips padding from string columns, as a read would (e.g. the padded splice CSV)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [pc.utf8_trim_whitespace(c) if pa.types.is_string(c.type) or pa.types.is_large_string(c.type) else c
               for c in table.columns]
    return pa.table(columns, names=table.column_names)


def preview_text(source: Any, columns: ColumnMapping | None = None, n: int = 5) -> str:
    """:func:`preview` rendered as plain text, for ``workbench data preview CONFIG.yaml``.

    Args:
        source: ``RunConfig.source`` (or a ``source:`` dict).
        columns: ``ColumnMapping(cfg.columns.sequence, cfg.columns.label)``.
        n: Rows to show.

    Returns:
        Multi-line text: location, query, schema with roles, first rows, mapping verdict.

    Raises:
        ConnectorError: As :func:`preview`.
    """
    return preview(source, columns, n).to_text()
