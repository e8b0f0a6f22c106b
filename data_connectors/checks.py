"""Row checks applied while a source streams: NULLs, DNA alphabet, label classes, duplicate IDs.

Each check names the rows (0-based positions, and IDs where the source has them) and says
how to fix the source. NULLs are an error (or dropped with ``source.nulls: drop``); the
others are :class:`~data_connectors.errors.DataWarning` s, because the workbench validates
sequences and splits itself (its own errors stop a run).

Alphabet: IUPAC-IUB Commission on Biochemical Nomenclature (1984), A C G T plus the
ambiguity codes R Y S W K M B D H V N, as accepted by ``workbench.sequences``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from .base import ID, LABEL, SEQUENCE, row_bytes, row_lines
from .errors import ConnectorError

_OUTSIDE_ALPHABET = r"[^ACGTRYSWKMBDHVN\s]"
_SHOW = 5
_MAX_LABELS = 1000


def string_column(array, name: str):
    """Casts one Arrow column to trimmed strings.

    Args:
        array: ``pyarrow.Array`` or ``ChunkedArray`` of any type.
        name: Column name, for the error message.

    Returns:
        A ``pyarrow`` string array (NULLs kept), leading/trailing whitespace removed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_string(array.type):
        try:
            array = pc.cast(array, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            array = pa.array([None if v is None else _as_text(v) for v in array.to_pylist()], pa.string())
    return pc.utf8_trim_whitespace(array)


def _as_text(value) -> str:
    """One non-NULL value as text: bytes decoded, lists/dicts (nested JSON, e.g. chat messages) as JSON."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def hash_lines(table, seed: int) -> list[int]:
    """Keyed 64-bit hash of each ``(sequence, label[, id])`` row, for reproducible sampling.

    Identical rows hash alike (and are kept or dropped together) unless an ``id`` column
    tells them apart.

    Args:
        table: ``pyarrow.Table`` with string columns ``sequence`` and ``label`` (and ``id``).
        seed: Sampling seed (the BLAKE2b key).

    Returns:
        One integer in ``[0, 2**64)`` per row.
    """
    key = str(seed).encode()
    lines = row_lines(table.column(SEQUENCE).to_pylist(), table.column(LABEL).to_pylist())
    if ID in table.column_names:
        lines = [line + str(i).encode() for line, i in zip(lines, table.column(ID).to_pylist())]
    return [int.from_bytes(hashlib.blake2b(line, key=key, digest_size=8).digest(), "big") for line in lines]


class RowChecks:
    """Accumulates the checks and the fingerprint over the batches of one read.

    Args:
        where: Source description used in messages.
        id_column: Name of the source ID column, or ``None``.
        text: Free-text columns (see ``ColumnMapping.text``): no DNA-alphabet or label-class checks.
    """

    def __init__(self, where: str, id_column: str | None, text: bool = False):
        self.where, self.id_column, self.text = where, id_column, text
        self.source_rows = 0
        self.null_rows = 0
        self.null_examples: list[str] = []
        self.null_first: list[int] = []
        self.reset()

    def reset(self) -> None:
        """Forgets what :meth:`accept` saw (the fingerprint, labels, alphabet); keeps NULL counts."""
        self.rows = 0
        self._digest = hashlib.sha256()
        self._labels: Counter = Counter()
        self._many_labels = False
        self.bad_rows = 0
        self.bad_examples: list[str] = []

    def _name(self, table, i: int, position: int, what: str) -> str:
        text = f"{what} {position}"
        if self.id_column and table.column(ID)[i].is_valid:
            text += f" (id {table.column(ID)[i].as_py()!r})"
        return text

    def nulls(self, table, drop: bool, labels_optional: bool = False):
        """Counts rows with a NULL/empty sequence or label and removes them from ``table``.

        Args:
            table: One batch with the output columns, as strings.
            drop: Only changes the later message; the rows are removed either way.
            labels_optional: Only an empty sequence removes a row; a NULL label becomes ``""`` (the unlabelled
                rows of a task-adaptive pretraining phase).

        Returns:
            The batch without those rows.
        """
        import pyarrow.compute as pc

        seq, lab = table.column(SEQUENCE), table.column(LABEL)
        bad_seq = pc.or_kleene(pc.is_null(seq), pc.equal(seq, ""))
        bad_lab = pc.or_kleene(pc.is_null(lab), pc.equal(lab, ""))
        if labels_optional:
            table = table.set_column(table.schema.get_field_index(LABEL), LABEL, pc.fill_null(lab, ""))
            bad_lab = pc.and_kleene(bad_lab, False)  # all false: no label makes a row bad
        bad = pc.fill_null(pc.or_(pc.fill_null(bad_seq, True), pc.fill_null(bad_lab, True)), True)
        count = pc.sum(bad).as_py() or 0
        if count:
            for i in pc.indices_nonzero(bad).to_pylist()[: _SHOW - len(self.null_examples)]:
                which = [c for c, m in ((SEQUENCE, bad_seq), (LABEL, bad_lab)) if m[i].as_py() in (True, None)]
                self.null_first.append(self.source_rows + i)
                self.null_examples.append(self._name(table, i, self.source_rows + i, "row") + f": {'/'.join(which)}")
            self.null_rows += count
            table = table.filter(pc.invert(bad))
        self.source_rows += len(bad)
        return table

    def raise_for_nulls(self, policy: str) -> None:
        """Raises for NULL rows under the ``error`` policy.

        Raises:
            ConnectorError: Naming the count, the first rows (0-based positions in the source
                result) and the empty columns, and the three ways to fix it.
        """
        if self.null_rows and policy == "error":
            first = self.null_first
            raise ConnectorError(
                f"{self.where}: {self.null_rows} row(s) have a NULL or empty sequence or label (first row indices: "
                f"{first}; {'; '.join(self.null_examples)}). Filter them out in the query (e.g. WHERE ... IS NOT "
                "NULL), fix the source, or set `source.nulls: drop` to skip them (the count goes into the lineage).")

    def accept(self, table) -> None:
        """Adds a batch that will be written: fingerprint, label counts and the alphabet check."""
        import pyarrow.compute as pc

        if table.num_rows == 0:
            return
        seqs, labels = table.column(SEQUENCE), table.column(LABEL)
        self._digest.update(row_bytes(seqs, labels))
        if self.text:
            self._many_labels = True  # free text: no label classes, no alphabet
            self.rows += table.num_rows
            return
        if not self._many_labels:
            for item in pc.value_counts(labels).to_pylist():
                self._labels[item["values"]] += item["counts"]
            self._many_labels = len(self._labels) > _MAX_LABELS
        bad = pc.match_substring_regex(seqs, _OUTSIDE_ALPHABET, ignore_case=True)
        count = pc.sum(bad).as_py() or 0
        if count:
            for i in pc.indices_nonzero(bad).to_pylist()[: _SHOW - len(self.bad_examples)]:
                seq = seqs[i].as_py()
                pos, letter = next((p, c) for p, c in enumerate(seq, 1) if not c.isspace()
                                   and c.upper() not in "ACGTRYSWKMBDHVN")
                self.bad_examples.append(self._name(table, i, self.rows + i, "row") + f" {letter!r} at position {pos}")
            self.bad_rows += count
        self.rows += table.num_rows

    def fingerprint(self) -> str:
        """sha256 hex digest of the accepted rows (same as ``fingerprint_rows`` over them)."""
        return self._digest.hexdigest()

    def label_counts(self) -> dict[str, int] | None:
        """Rows per label, or ``None`` when there are more than 1,000 distinct labels."""
        return None if self._many_labels else dict(sorted(self._labels.items()))

    def finish(self, path) -> list[str]:
        """Runs the whole-file checks and returns every warning message of the read.

        Args:
            path: The complete Arrow stream file (memory-mapped for the duplicate-ID check).
        """
        out = []
        if self.null_rows:
            out.append(f"{self.where}: dropped {self.null_rows} row(s) with a NULL or empty sequence or label "
                       f"({'; '.join(self.null_examples)}); fix the source to keep them.")
        if self.bad_rows:
            out.append(f"{self.where}: {self.bad_rows} row(s) have letters outside the DNA alphabet A C G T / IUPAC "
                       f"R Y S W K M B D H V N (dataset {'; '.join(self.bad_examples)}). The workbench rejects such "
                       "rows: fix them in the source or filter them out in the query.")
        if not self._many_labels and len(self._labels) == 1:
            (label, n), = self._labels.items()
            out.append(f"{self.where}: every row has the label {label!r} ({n} rows); a classifier needs at least two "
                       "classes. Check the query's filters and `columns.label`.")
        if self.id_column:
            out.extend(self._duplicates(path))
        return out

    def _duplicates(self, path) -> list[str]:
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = pa.ipc.open_stream(pa.memory_map(str(path))).read_all().column(ID)
        counts = pc.value_counts(ids)
        dup = counts.filter(pc.greater(counts.field("counts"), 1))
        if len(dup) == 0:
            return []
        shown = []
        for item in dup[:_SHOW].to_pylist():
            rows = pc.indices_nonzero(pc.fill_null(pc.equal(ids, item["values"]), False)).to_pylist()[:3]
            shown.append(f"{item['values']!r} x{item['counts']} (rows {rows})")
        return [f"{self.where}: {len(dup)} ID value(s) in `{self.id_column}` occur more than once: {', '.join(shown)}. "
                "Deduplicate in the query (e.g. SELECT DISTINCT ON (id) ...) or the source, or point "
                "`source.id_column` at a unique key."]
