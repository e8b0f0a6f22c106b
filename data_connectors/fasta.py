"""FASTA/FASTQ connector (Biopython ``Bio.SeqIO``): one row per record, labelled three ways.

* ``label_regex``: a regular expression searched in the header line (the text after ``>``
  or ``@``); the named group ``label`` (else group 1) is the label, e.g.
  ``'class=(?P<label>\\w+)'`` for ``>seq1 class=enhancer``.
* ``label_table``: a CSV/TSV/Parquet/JSONL/Excel side table with an ID and a label column,
  joined on the record ID (the first word of the header).
* ``file_labels``: one label per file, e.g. ``{enhancer.cv.fa: enhancer, non_enhancer.cv.fa:
  non_enhancer}`` (keys are file names or globs).

Rows have the columns ``id``, ``description``, ``sequence``, ``label`` and ``file``.
Files may be local, globs or fsspec URLs, optionally gzip-compressed. Line endings are
normalised when the file is decoded, so CRLF files (as in the iEnhancer benchmark) read
like LF ones. Format reference: Biopython Tutorial, "Sequence Input/Output"
(https://biopython.org/docs/latest/Tutorial/chapter_seqio.html).
"""

from __future__ import annotations

import fnmatch
import io
import re
from contextlib import ExitStack, contextmanager
from pathlib import PurePosixPath

from .base import Connector, Extract
from .config import FastaSource, FilesSource
from .errors import ConnectorError
from .files import FilesConnector, expand, file_facts
from .pipeline import guarded, rows_to_batch
from .secrets import redact

COLUMNS = ["id", "description", "sequence", "label", "file"]
_FASTQ = (".fq", ".fastq")


def _format(path: str, given: str | None) -> str:
    if given:
        return given
    suffixes = [s.lower() for s in PurePosixPath(path).suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    return "fastq" if suffixes and suffixes[-1] in _FASTQ else "fasta"


def _side_table(options: FastaSource) -> dict[str, str]:
    """Reads ``label_table`` into ``{id: label}``; conflicting duplicate IDs are an error."""
    table = options.label_table
    files = FilesSource(kind="files", path=table.path, storage_options=options.storage_options)
    wanted = [table.id_column, table.label_column]
    labels: dict[str, str] = {}
    with FilesConnector().open(files, wanted, None) as extract:
        missing = [c for c in wanted if c not in extract.columns]
        if missing:
            raise ConnectorError(f"label table {redact(table.path)}: column(s) {missing} not found; it has "
                                 f"{extract.columns}. Set `source.label_table.id_column` / `label_column`.")
        for batch in extract.batches:
            ids = batch.column(batch.schema.get_field_index(table.id_column)).to_pylist()
            ys = batch.column(batch.schema.get_field_index(table.label_column)).to_pylist()
            for key, y in zip(ids, ys):
                key, y = str(key).strip(), None if y is None else str(y).strip()
                if key in labels and labels[key] != y:
                    raise ConnectorError(f"label table {redact(table.path)}: ID {key!r} has two labels "
                                         f"({labels[key]!r}, {y!r}). Keep one row per ID.")
                labels[key] = y
    return labels


class FastaConnector(Connector):
    """``kind: fasta`` (see the module docstring)."""

    kind = "fasta"
    Options = FastaSource

    @contextmanager
    def open(self, options: FastaSource, wanted: list[str] | None, limit: int | None):
        """Expands the paths and yields an Extract streaming records in ``chunk_rows`` batches.

        Raises:
            ConnectorError: No matching file, an invalid ``label_regex``, an unreadable side
                table, or a file Biopython cannot parse.
        """
        from Bio import SeqIO

        patterns = options.path if isinstance(options.path, list) else [options.path]
        files = []
        for pattern in patterns:
            fs, paths, is_dir = expand(pattern, options.storage_options)
            found = fs.find(paths[0]) if is_dir else paths
            files += [(fs, p) for p in found]
        location = ", ".join(redact(p) for p in patterns)
        where = f"FASTA source {location}"
        regex = None
        if options.label_regex:
            try:
                regex = re.compile(options.label_regex)
            except re.error as exc:
                raise ConnectorError(f"{where}: source.label_regex is not a valid regular expression ({exc}).") \
                    from None
        table = _side_table(options) if options.label_table else None
        misses = {"count": 0, "examples": []}

        def label_of(record, name: str):
            if regex is not None:
                match = regex.search(record.description)
                if match is None:
                    misses["count"] += 1
                    if len(misses["examples"]) < 5:
                        misses["examples"].append(record.description[:80])
                    return None
                return match.group("label") if "label" in regex.groupindex else match.group(1 if regex.groups else 0)
            if table is not None:
                return table.get(record.id)
            return label_of_file(name, options.file_labels)

        if not regex and table is None:
            unmatched = [p for _, p in files if label_of_file(p, options.file_labels) is None]
            if unmatched:
                raise ConnectorError(f"{where}: no `source.file_labels` entry matches {unmatched[:3]}; add one per "
                                     f"file (keys: file names or globs; given {sorted(options.file_labels)}).")

        def batches():
            with ExitStack() as stack:
                chunk = []
                for fs, path in files:
                    raw = stack.enter_context(fs.open(path, "rb", compression="infer"))
                    text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")  # universal newlines
                    fmt = _format(path, options.format)
                    for record in SeqIO.parse(text, fmt):
                        seq = str(record.seq)
                        chunk.append((record.id, record.description, seq.upper() if options.uppercase else seq,
                                      label_of(record, path), redact(path)))
                        if len(chunk) >= options.chunk_rows:
                            yield rows_to_batch(chunk, COLUMNS)
                            chunk = []
                if chunk:
                    yield rows_to_batch(chunk, COLUMNS)

        hint = "Is it FASTA/FASTQ (set `source.format`), and complete?"
        yield Extract(columns=list(COLUMNS), batches=guarded(batches(), where, hint), location=location,
                      query=options.label_regex,
                      extra={"format": options.format or "by suffix", "label_from": "regex" if regex else
                             ("table" if table is not None else "file"), "label_regex_misses": misses,
                             "_files": lambda: _facts(files)})


def label_of_file(path: str, file_labels: dict[str, str]) -> str | None:
    """Returns the ``file_labels`` entry matching ``path`` (by full path or file name, globs allowed)."""
    name = PurePosixPath(path).name
    return next((y for pat, y in file_labels.items() if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(name, pat)),
                None)


def _facts(files) -> dict:
    out = {"files": [], "file_count": len(files)}
    for fs, path in files:
        out["files"] += file_facts(fs, [path])["files"]
    return out
