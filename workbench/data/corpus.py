"""Unlabelled DNA for pretraining, streamed: FASTA / FASTA.gz / bgzip records read line by line and tiled into
windows, with the N filter and the soft-mask policy; nothing holds a whole record (or genome) in memory.

A window of ``window`` nt starts every ``stride`` nt of a record; a record shorter than one window becomes one
window if it has at least ``min_length`` nt (amplicons, short contigs); the tail after the last full window is
left out and counted. A window whose share of ``N`` (and the other IUPAC ambiguity codes, all read as ``N``)
exceeds ``max_n_fraction`` is dropped and counted. Soft-masked (lower-case) bases, the repeats of a masked
assembly, are upper-cased and kept (``repeats: keep``) or their windows are dropped and counted (``repeats: drop``).

Each record is cut into contiguous blocks of ``block`` nt, and a seeded hash of (record, block) sends a whole block
to the training, validation or test split (:func:`block_split`). Windows in held-out blocks are tiled without
overlap (stride = window); a window that crosses from one split's block into another's is dropped, so no held-out
base is ever inside a training window.

FASTA format: a header line starting with ``>`` then sequence lines (NCBI, "FASTA format",
https://www.ncbi.nlm.nih.gov/genbank/fastaformat/). Gzip and bgzip (multi-member gzip, RFC 1952; SAMtools
"SAM/BAM and related specifications", BGZF) are both read by Python's :mod:`gzip` as one stream.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "validation", "test")
_NOT_IUPAC = re.compile(r"[^ACGTRYSWKMBDHVNacgtryswkmbdhvn]")
_TO_N = str.maketrans({c: "N" for c in "RYSWKMBDHVryswkmbdhvn"})


class CorpusError(ValueError):
    """A corpus file or row that cannot be used; the message names the file, the line or position, and the fix."""


@dataclass(frozen=True)
class Tiling:
    """How records become windows (the ``task`` fields of a pretraining run).

    Attributes:
        window: Window length in nt.
        stride: Distance between training window starts in nt (held-out windows use ``window``).
        min_length: Shortest record kept as a window of its own (records shorter than ``window``).
        max_n_fraction: Drop windows with more than this share of N (0 = any N drops the window).
        repeats: ``keep`` (soft-masked bases upper-cased) or ``drop`` (windows with any soft-masked base dropped).
        block: Length of the contiguous blocks assigned to a split, in nt.
        val_fraction: Share of blocks held out for validation.
        test_fraction: Share of blocks held out for the test.
        seed: Seed of the block assignment.
    """

    window: int = 100
    stride: int = 100
    min_length: int = 20
    max_n_fraction: float = 0.05
    repeats: str = "keep"
    block: int = 20_000
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    seed: int = 0


@dataclass
class TileCounts:
    """What tiling kept and dropped, in windows (the model card's corpus report)."""

    records: int = 0
    bases: int = 0
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    dropped_n: int = 0
    dropped_repeats: int = 0
    dropped_boundary: int = 0
    short_records_dropped: int = 0
    tail_bases: int = 0


def block_split(record: str, block: int, tiling: Tiling) -> str:
    """The split a block of a record belongs to: a seeded BLAKE2b hash of ``(seed, record, block)``, uniform in
    [0, 1), below ``test_fraction`` -> test, below ``test_fraction + val_fraction`` -> validation, else train."""
    digest = hashlib.blake2b(f"{tiling.seed}\t{record}\t{block}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    return "test" if u < tiling.test_fraction else "validation" if u < tiling.test_fraction + tiling.val_fraction \
        else "train"


def open_lines(path: Path):
    """Opens a plain or gzip/bgzip-compressed file (by its magic bytes) for reading binary lines.

    Raises:
        CorpusError: The file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file. Point corpus.fasta at FASTA files (plain, .gz or bgzip).")
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def fasta_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yields ``(line number, stripped line)`` of a FASTA file, streaming, with the format checked.

    Raises:
        CorpusError: Not FASTA (first line not a ``>`` header, non-text bytes, letters outside IUPAC), or a
            truncated or corrupt gzip; each names the file, the line (and column) and what to do.
    """
    line_no = 0
    try:
        with open_lines(path) as handle:
            for line_no, raw in enumerate(handle, 1):
                line = raw.decode("ascii").strip()  # one line at a time, so an error names its line
                if not line:
                    continue
                if line.startswith(">"):
                    yield line_no, line
                    continue
                if line_no == 1 or line.startswith(";"):
                    raise CorpusError(f"{path}, line {line_no}: expected a FASTA header starting with '>', found "
                                      f"{line[:40]!r}. This is not a FASTA file: give FASTA (>name, then sequence "
                                      "lines), or read tables through `source:` instead.")
                bad = _NOT_IUPAC.search(line)
                if bad:
                    raise CorpusError(f"{path}, line {line_no}, column {bad.start() + 1}: {bad.group()!r} is not a "
                                      "DNA letter (A, C, G, T or an IUPAC code). Fix the file, or remove the record.")
                yield line_no, line
    except EOFError:
        raise CorpusError(f"{path}: the gzip stream ends early, after line {line_no}: the file is truncated. Copy it "
                          f"again (`gzip -t {path}` checks a file).") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise CorpusError(f"{path}: corrupt gzip data after line {line_no} ({exc}). Copy the file again "
                          f"(`gzip -t {path}` checks it).") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}, line {line_no}: byte {exc.object[exc.start:exc.start + 1]!r} is not text. "
                          "This is not a FASTA file (or it is compressed with something other than gzip/bgzip); "
                          "decompress it or give FASTA.") from None


def fasta_records(path: Path) -> Iterator[tuple[str, Iterator[str]]]:
    """Yields ``(record name, iterator of its sequence lines)``; consume each record's lines before the next.

    Raises:
        CorpusError: See :func:`fasta_lines`; also a file with no record.
    """
    lines = fasta_lines(path)
    pending: list[str | None] = [None]
    found = 0

    def body() -> Iterator[str]:
        for _, line in lines:
            if line.startswith(">"):
                pending[0] = line
                return
            yield line
        pending[0] = None

    first = next(lines, None)
    if first is not None:
        pending[0] = first[1]
    while pending[0] is not None:
        header = pending[0]
        pending[0] = None
        found += 1
        name = header[1:].split()[0] if header[1:].split() else f"record{found}"
        yield name, body()
    if not found:
        raise CorpusError(f"{path}: no FASTA record (the file is empty). Give a FASTA file with at least one "
                          "'>' header and sequence lines.")


def tile_record(name: str, lines: Iterator[str], tiling: Tiling, counts: TileCounts,
                split: str | None = None) -> Iterator[tuple[str, int, str]]:
    """Tiles one record into ``(split, start, window)``, streaming its lines (memory: one window plus one line).

    Args:
        name: Record name (the block hash uses it).
        lines: The record's sequence lines (whitespace-free).
        tiling: Window, stride, filters and split settings.
        counts: Updated in place.
        split: None splits the record by blocks of ``tiling.block`` (genomes); a split name sends the whole record
            there (connector rows, variant windows).

    Yields:
        The split name, the window's 0-based start in the record, and the window (upper case; ambiguity codes as N).
    """
    t, buf, buf_start, length = tiling, "", 0, 0
    next_start, covered = 0, 0
    counts.records += 1
    def split_of(pos: int) -> str:
        return split if split is not None else block_split(name, pos // t.block, t)

    for line in lines:
        buf += line
        length += len(line)
        while next_start + t.window <= buf_start + len(buf):
            piece = buf[next_start - buf_start:next_start - buf_start + t.window]
            first = split_of(next_start)
            last = split_of(next_start + t.window - 1)
            kept = _keep(piece, t, counts) if first == last else None
            if first != last:
                counts.dropped_boundary += 1
            covered = next_start + t.window
            if kept is not None:
                counts.kept[first] += 1
                yield first, next_start, kept
            next_start += t.stride if first == "train" and last == "train" else t.window
        cut = min(next_start, buf_start + len(buf)) - buf_start
        buf, buf_start = buf[cut:], buf_start + cut
    counts.bases += length
    if length < t.window:
        if length >= t.min_length:
            kept = _keep(buf, t, counts)
            if kept is not None:
                counts.kept[split_of(0)] += 1
                yield split_of(0), 0, kept
        else:
            counts.short_records_dropped += 1
        return
    counts.tail_bases += length - covered


def _keep(piece: str, tiling: Tiling, counts: TileCounts) -> str | None:
    """The window as stored (upper case, ambiguity codes as N), or None if a filter drops it (counted)."""
    if tiling.repeats == "drop" and any(c.islower() for c in piece):
        counts.dropped_repeats += 1
        return None
    piece = piece.translate(_TO_N).upper()
    if piece.count("N") > tiling.max_n_fraction * len(piece):
        counts.dropped_n += 1
        return None
    return piece


def check_row(sequence: str, where: str) -> str:
    """A connector row's sequence, whitespace removed, checked for DNA letters.

    Raises:
        CorpusError: A letter outside IUPAC, naming ``where`` (source and row) and the 1-based position.
    """
    seq = "".join(sequence.split())
    bad = _NOT_IUPAC.search(seq)
    if bad:
        raise CorpusError(f"{where}, position {bad.start() + 1}: {bad.group()!r} is not a DNA letter (A, C, G, T or "
                          "an IUPAC code). Filter the row out in the source, or fix it.")
    return seq
