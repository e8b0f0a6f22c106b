"""The tiled corpus on disk: every kept window of a pretraining corpus, per split, as fixed-size records that
training reads a batch at a time, plus the k-th order Markov chain fitted on the training windows as they stream.

Sources: FASTA / FASTA.gz / bgzip files (:mod:`workbench.data.corpus`), windows around the variants of a VCF (the
alternate allele with ``flank`` reference bases each side; cyvcf2 + pyfaidx), and the sequence column of any
``data_connectors`` source read without a label (SQL, files, BED intervals over a reference, ...). Genome records
are split by blocks; a row or a variant window goes whole to the split of its sequence's (or position's) hash.

Layout of ``$WORKBENCH_HOME/corpus/<key>/`` (``key``: sha256 of the files' paths, sizes and modification times,
the source's row fingerprint and the tiling settings; built once, into a temporary directory renamed into place):
``train.bin``, ``validation.bin``, ``test.bin`` (each window ``window`` bytes, ASCII, right-padded with ``.``),
``markov.json`` and ``manifest.json`` (counts, per-file sha256, the corpus fingerprint: sha256 of the kept windows).
Memory while building and reading: one batch of windows, whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from glob import glob
from pathlib import Path

from .corpus import SPLITS, CorpusError, TileCounts, Tiling, block_split, check_row, fasta_records, tile_record
from .markov import MarkovCounter, MarkovModel

log = logging.getLogger(__name__)
PAD = b"."
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(window: str) -> str:
    """The reverse complement of an upper-case window (N stays N)."""
    return window.translate(_COMPLEMENT)[::-1]


@dataclass
class CorpusSpec:
    """What to read and how to tile it (built from a pretraining config by the task).

    Attributes:
        fasta: FASTA file paths or globs, read in sorted order.
        vcf: ``{"path", "reference", "flank"}`` for variant windows, or None.
        source: A ``data_connectors`` source config read without a label, or None.
        sequence_column: The source's sequence column.
        tiling: Window, stride, filters and split settings.
        strands: ``forward`` or ``both`` (training windows also read reverse-complemented; Markov counts too).
        markov_k: Order of the Markov baseline.
    """

    fasta: list[str] = field(default_factory=list)
    vcf: dict | None = None
    source: object | None = None
    sequence_column: str = "sequence"
    tiling: Tiling = field(default_factory=Tiling)
    strands: str = "forward"
    markov_k: int = 5

    def files(self) -> list[Path]:
        """The FASTA files, globs expanded, in sorted order.

        Raises:
            CorpusError: A pattern matches no file.
        """
        out = []
        for pattern in self.fasta:
            found = sorted(glob(os.path.expanduser(pattern))) or ([pattern] if Path(pattern).is_file() else [])
            if not found:
                raise CorpusError(f"corpus.fasta: {pattern!r} matches no file. Give FASTA paths or globs that exist.")
            out += [Path(p) for p in found]
        return out


class WindowStore:
    """A built corpus (see the module docstring): window counts, reads by index, the manifest and the chain.

    Args:
        directory: A store directory written by :func:`build_store`.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.manifest = json.loads((self.directory / "manifest.json").read_text())
        self.window = int(self.manifest["tiling"]["window"])
        self._handles: dict[str, object] = {}

    def count(self, split: str) -> int:
        """Windows stored for ``split``."""
        return int(self.manifest["windows"][split])

    def read(self, split: str, indices: list[int]) -> list[str]:
        """The windows at ``indices`` of ``split`` (padding removed), read from disk one record at a time."""
        handle = self._handles.get(split)
        if handle is None:
            handle = self._handles[split] = open(self.directory / f"{split}.bin", "rb")
        out = []
        for i in indices:
            handle.seek(int(i) * self.window)
            out.append(handle.read(self.window).rstrip(PAD).decode("ascii"))
        return out

    def markov(self) -> MarkovModel:
        """The Markov chain fitted on the training windows."""
        return MarkovModel.load(self.directory / "markov.json")

    def close(self) -> None:
        """Closes the open split files."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def store_key(spec: CorpusSpec, source_fingerprint: str | None) -> str:
    """sha256 naming a store: the files (path, size, mtime), the source rows' fingerprint and every setting."""
    files = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in spec.files()]
    vcf = dict(spec.vcf or {})
    for key in ("path", "reference"):
        if vcf.get(key):
            p = Path(vcf[key]).expanduser()
            vcf[key] = [str(p.resolve()), p.stat().st_size if p.exists() else None]
    blob = json.dumps({"files": files, "vcf": vcf, "source": source_fingerprint, "column": spec.sequence_column,
                       "tiling": asdict(spec.tiling), "strands": spec.strands, "k": spec.markov_k, "format": 1},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def build_store(spec: CorpusSpec, root: Path) -> WindowStore:
    """Reads and tiles every source of ``spec`` into a store under ``root`` (reused when it already exists).

    Returns:
        The :class:`WindowStore`.

    Raises:
        CorpusError: A file is not FASTA or is truncated, a row or variant is not DNA, or no window is left after
            the filters (the message gives the counts and which setting to loosen).
        data_connectors.ConnectorError: The connector source cannot be read.
    """
    rows, lineage = _read_source(spec)
    key = store_key(spec, lineage.fingerprint if lineage else None)
    final = Path(root) / key[:16]
    if (final / "manifest.json").is_file():
        log.info("reusing the tiled corpus %s", final)
        return WindowStore(final)
    from .. import paths

    def build(tmp: Path) -> None:
        manifest = _write_windows(spec, tmp, rows, lineage)
        manifest["key"] = key
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))

    paths.build_dir_once(final, build)
    return WindowStore(final)


def _read_source(spec: CorpusSpec):
    """``(dataset, lineage)`` of the connector source (sequence column only, no label), or ``(None, None)``."""
    if spec.source is None:
        return None, None
    import data_connectors as dc

    col = spec.sequence_column
    return dc.read_source(spec.source, dc.ColumnMapping(col, col, text=True))


def _records(spec: CorpusSpec, rows, lineage):
    """Yields ``(name, lines, split or None, what)`` for every record of every source, streaming."""
    for path in spec.files():
        for name, lines in fasta_records(path):
            yield f"{path.name}:{name}", lines, None, f"{path}, record {name}"
    if spec.vcf:
        from .variants import variant_windows

        for chrom, pos, window in variant_windows(spec.vcf, spec.tiling.window):
            yield f"{chrom}:{pos}", iter([window]), block_split(chrom, pos // spec.tiling.block, spec.tiling), \
                f"{spec.vcf['path']}, variant {chrom}:{pos}"
    if rows is not None:
        i = 0
        for batch in rows.iter(batch_size=1000):
            for seq in batch["sequence"]:
                seq = check_row(seq, f"{lineage.location}, row {i}")
                yield f"row{i}", iter([seq]), block_split(seq, 0, spec.tiling), f"{lineage.location}, row {i}"
                i += 1


def _write_windows(spec: CorpusSpec, directory: Path, rows, lineage) -> dict:
    """Streams every record through the tiler into the split files; fits the chain; returns the manifest."""
    t, counts = spec.tiling, TileCounts()
    counter, pending = MarkovCounter(spec.markov_k), []
    digest = hashlib.sha256()
    handles = {s: open(directory / f"{s}.bin", "wb") for s in SPLITS}
    try:
        for name, lines, split, _ in _records(spec, rows, lineage):
            for where, _, window in tile_record(name, lines, t, counts, split):
                raw = window.encode("ascii")
                handles[where].write(raw.ljust(t.window, PAD))
                digest.update(where.encode() + b"\t" + raw + b"\n")
                if where == "train":
                    pending.append(window)
                    if spec.strands == "both":
                        pending.append(reverse_complement(window))
                    if len(pending) >= 4096:
                        counter.add(pending)
                        pending = []
        counter.add(pending)
    finally:
        for handle in handles.values():
            handle.close()
    if counts.kept["train"] == 0:
        raise CorpusError(
            f"no usable training window in the corpus ({counts.records} records, {counts.bases:,} bases): "
            f"{counts.dropped_n} windows had more than task.max_n_fraction={t.max_n_fraction} N, "
            f"{counts.dropped_repeats} were dropped as soft-masked repeats (task.repeats={t.repeats}), "
            f"{counts.short_records_dropped} records were shorter than task.min_length={t.min_length}, and "
            f"{counts.dropped_boundary} crossed a held-out block. Raise task.max_n_fraction, set task.repeats: keep, "
            "or lower task.window / task.min_length.")
    if counts.kept["test"] == 0:
        raise CorpusError(f"no held-out test window in the corpus ({counts.records} records, {counts.bases:,} bases, "
                          f"{counts.kept['train']} training windows): no block of data.block={t.block} nt was drawn for "
                          f"the test (data.test_fraction={t.test_fraction}). Lower data.block or raise "
                          "data.test_fraction, so that bits per base can be measured on held-out DNA.")
    if counts.kept["validation"] == 0:
        log.warning("the validation split has no window: raise data.val_fraction or lower data.block (the last "
                    "weights are kept, as nothing validates them)")
    counter.model().save(directory / "markov.json")
    return {"tiling": asdict(t), "strands": spec.strands, "markov_k": spec.markov_k,
            "windows": dict(counts.kept), "counts": asdict(counts), "fingerprint": digest.hexdigest(),
            "files": [{"path": str(p), "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in spec.files()],
            "vcf": spec.vcf, "source": lineage.to_dict() if lineage else None}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
