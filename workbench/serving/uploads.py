"""Batch uploads of the sequence demos: a FASTA or CSV file -> ``(id, sequence)`` records, with clear errors.

The size is checked before anything is read; FASTA headers and the CSV's sequence column are checked before any
sequence reaches the model; the sequences themselves are validated by
:func:`workbench.data.sequences.check_records` (the one validator at the edge).
"""

from __future__ import annotations

import io
from pathlib import Path

from .limits import LimitError, Limits

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas", ".ffn")
CSV_SUFFIXES = (".csv", ".tsv")
SEQUENCE_COLUMNS = ("sequence", "seq", "dna")
ID_COLUMNS = ("id", "name", "record", "sequence_id")


class UploadError(ValueError):
    """Raised for an upload the demo cannot read; the message names what is wrong and what to do."""


def parse_fasta(text: str) -> list[tuple[str, str]]:
    """Parses FASTA text strictly: every record starts with ``>ID`` and has at least one sequence line.

    Args:
        text: The file's text (LF or CRLF line ends).

    Returns:
        ``(id, sequence)`` pairs; the id is the header up to the first whitespace, the sequence lines are joined.

    Raises:
        UploadError: For text before the first header, a header without an id, a record without sequence, or
            no records at all; the message gives the line number.
    """
    records: list[tuple[str, list[str]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            rid = line[1:].split(maxsplit=1)[0] if line[1:].strip() else ""
            if not rid:
                raise UploadError(f"FASTA line {n}: the header '>' has no identifier; write it as '>my_sequence_1'.")
            if records and not records[-1][1]:
                raise UploadError(f"FASTA record {records[-1][0]!r} has no sequence (the next header is on line "
                                  f"{n}); remove it or add its sequence.")
            records.append((rid, []))
        elif not records:
            raise UploadError(f"FASTA line {n} comes before any header: a FASTA file starts with a line '>ID'. "
                              "Add a header, or upload a CSV with a 'sequence' column.")
        else:
            records[-1][1].append(line)
    if not records:
        raise UploadError("the FASTA file has no records (lines starting with '>'); check that it is the right file.")
    if not records[-1][1]:
        raise UploadError(f"FASTA record {records[-1][0]!r} has no sequence; remove it or add its sequence.")
    return [(rid, "".join(lines)) for rid, lines in records]


def parse_csv(text: str, sequence_column: str | None = None, sep: str = ",") -> list[tuple[str, str]]:
    """Parses CSV text with pandas: a sequence column (``sequence_column`` or one named sequence/seq/dna in any
    case) and an optional id column (id/name/record/sequence_id; else ``row1``, ``row2``, ...).

    Raises:
        UploadError: If the text is not CSV, has no rows, or has no sequence column (the message lists the
            columns it has), or a sequence cell is empty.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UploadError(f"the CSV could not be read ({reason}); save it as comma-separated text with a header "
                          "row.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    by_lower = {c.lower(): c for c in frame.columns}
    wanted = [sequence_column] if sequence_column else []
    column = next((by_lower[w.lower()] for w in [*wanted, *SEQUENCE_COLUMNS] if w and w.lower() in by_lower), None)
    if column is None:
        names = ", ".join(repr(c) for c in frame.columns[:10]) or "none"
        expected = " or ".join(repr(c) for c in dict.fromkeys([*wanted, "sequence"]))
        raise UploadError(f"the CSV has no sequence column (its columns: {names}); name the column with the DNA "
                          f"{expected}.")
    if frame.empty:
        raise UploadError("the CSV has a header but no rows; add one sequence per row.")
    id_col = next((by_lower[c] for c in ID_COLUMNS if c in by_lower and by_lower[c] != column), None)
    ids = frame[id_col].tolist() if id_col else [f"row{i + 1}" for i in range(len(frame))]
    seqs = frame[column].tolist()
    empty = [i + 2 for i, s in enumerate(seqs) if not str(s).strip()]
    if empty:
        raise UploadError(f"the CSV's {column!r} column is empty on line(s) {empty[:5]}; fill or remove those rows.")
    return [(str(i), str(s)) for i, s in zip(ids, seqs)]


def read_upload(path: str | Path, limits: Limits, sequence_column: str | None = None) -> list[tuple[str, str]]:
    """Reads an uploaded FASTA or CSV into ``(id, sequence)`` records (sequences not yet validated).

    The kind comes from the suffix (FASTA: .fa .fasta .fna .fas .ffn; CSV: .csv .tsv); for other names a file
    whose first non-blank character is ``>`` is FASTA, anything else CSV.

    Args:
        path: The uploaded file on disk.
        limits: The demo's :class:`~workbench.serving.limits.Limits` (upload size, batch rows).
        sequence_column: The run's sequence column name, tried first in a CSV.

    Raises:
        LimitError: If the file is bigger than ``limits.max_upload_mb`` or has more than ``limits.max_batch_rows``
            records.
        UploadError: If it is not UTF-8 text, or the FASTA/CSV is malformed (see :func:`parse_fasta`,
            :func:`parse_csv`).
    """
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise LimitError(f"the file is {size / 2**20:.1f} MB; this demo accepts uploads up to {limits.max_upload_mb:g} "
                         f"MB. Split it into smaller files or run `workbench predict RUN_DIR --fasta FILE`.")
    if size == 0:
        raise UploadError("the uploaded file is empty; choose a FASTA or CSV file with sequences.")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"the file is not UTF-8 text (byte {exc.start}); upload a plain-text FASTA or CSV, not a "
                          "compressed or binary file.") from None
    suffix = path.suffix.lower()
    is_fasta = suffix in FASTA_SUFFIXES or (suffix not in CSV_SUFFIXES and text.lstrip().startswith(">"))
    records = parse_fasta(text) if is_fasta else parse_csv(text, sequence_column, "\t" if suffix == ".tsv" else ",")
    if len(records) > limits.max_batch_rows:
        raise LimitError(f"the file holds {len(records):,} sequences; this demo scores at most "
                         f"{limits.max_batch_rows:,} per upload. Split it, or run `workbench predict` on the "
                         "command line.")
    return records
