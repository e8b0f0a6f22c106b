"""Leakage between splits: exact duplicates and near-duplicates (rows that share a k-mer, either strand).

Windows of one genome overlap; homologous genes share long stretches. A row of the test split that shares a
``k``-nt stretch with a training row (``data.leakage.k``, default 20) lets a model score by recall rather than by
generalisation. The report counts, for every pair of splits, the rows of each side that share at least one
canonical k-mer (the smaller 2-bit code of the k-mer and its reverse complement) with the other side, with example
id pairs; :func:`kmer_components` gives the connected groups of such rows, which ``data.split: cluster`` keeps in
one split.

The index is numpy only: every valid k-mer (A/C/G/T only) of every row is 2-bit packed into a ``uint64`` (so
``k`` <= 32), the codes are sorted once, and codes found in more than one split mark their rows. Among m k-mers
about m^2 / (2 * 4^k) pairs share a code by chance: for k = 20, 0.1 on the 3,000 enhancer windows and ~150 among
100,000 random rows of 200 nt, so a shared 20-mer between rows of a real data set is almost always a repeat, a
homologue or a copy. Cost: O(total bases · log) time and about 50 bytes per base at peak (100,000 rows of 200 nt:
seconds and about 1 GiB; benchmarks/results/leakage_index.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np

_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _c in enumerate(b"ACGT"):
    _CODE[_c] = _i
_CHUNK_BASES = 2_000_000  # bases encoded at once: bounds the encoder's temporaries to ~250 MB


@dataclass
class LeakageReport:
    """Exact and near-duplicate rows between each pair of splits.

    Attributes:
        k: The k-mer length of a near-duplicate, in nucleotides.
        pairs: ``"train~test"`` -> ``{"exact": sequences in both, "near": {split: rows of that split sharing a
            k-mer with the other}, "examples": [[row id of the second split, row id of the first], ...]}``.
        seconds: Wall time of the report.
    """

    k: int
    pairs: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def kmer_codes(sequences: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical 2-bit codes of every k-mer of every sequence (k-mers with a letter other than A/C/G/T skipped).

    Args:
        sequences: Normalised upper-case sequences, ``(rows,)``.
        k: k-mer length, 1..32 nucleotides.

    Returns:
        ``(codes, owners)``: ``uint64`` codes ``(m,)``, each ``min(forward, reverse complement)``, and the row index
        of each, ``(m,)`` (ascending).

    Raises:
        ValueError: ``k`` is outside 1..32.
    """
    if not 1 <= k <= 32:
        raise ValueError(f"k-mer length {k} is outside 1..32 (a k-mer is packed into 64 bits).")
    codes, owners, start = [], [], 0
    while start < len(sequences):
        stop, bases = start, 0
        while stop < len(sequences) and (bases < _CHUNK_BASES or stop == start):
            bases += len(sequences[stop]) + 1
            stop += 1
        c, o = _chunk_codes(sequences[start:stop], k)
        codes.append(c)
        owners.append(o + start)
        start = stop
    if not codes:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(codes), np.concatenate(owners)


def _chunk_codes(sequences: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(("\0".join(sequences) + "\0").encode("ascii", "replace"), dtype=np.uint8)
    base = _CODE[raw]
    windows = len(base) - k + 1
    if windows <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    forward, reverse = _window_codes((base & 3).astype(np.uint64), k)
    bad = np.concatenate([[0], np.cumsum(base == 4)])
    valid = (bad[k:k + windows] - bad[:windows]) == 0  # no separator or ambiguity code inside the window
    lengths = np.fromiter((len(s) + 1 for s in sequences), np.int64, len(sequences))
    owner = np.repeat(np.arange(len(sequences)), lengths)[:windows]
    return np.minimum(forward, reverse)[valid], owner[valid]


def _window_codes(b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """2-bit codes of every window of ``k`` bases of ``b`` and of its reverse complement, by doubling: the code of
    a 2L-window is its first L-window's code shifted left by 2L bits, or-ed with its second's (the reverse
    complement's the other way round), so about 2 log2(k) passes over the bases instead of k."""
    levels = {1: (b, np.uint64(3) - b)}
    size = 1
    while size * 2 <= k:
        f, r = levels[size]
        shift = np.uint64(2 * size)
        levels[size * 2] = ((f[:-size] << shift) | f[size:], (r[size:] << shift) | r[:-size])
        size *= 2
    forward = reverse = None
    length = 0
    for size in sorted(levels, reverse=True):
        if length + size > k:
            continue
        f, r = levels[size]
        if forward is None:
            forward, reverse, length = f, r, size
            continue
        n = len(b) - (length + size) + 1
        forward = (forward[:n] << np.uint64(2 * size)) | f[length:length + n]
        reverse = (r[length:length + n] << np.uint64(2 * length)) | reverse[:n]
        length += size
    windows = len(b) - k + 1
    return forward[:windows], reverse[:windows]


def _shared(codes: np.ndarray, owners: np.ndarray, split_of: np.ndarray):
    """Sorted codes and owners, and per sorted entry the bit mask of the splits its code occurs in."""
    order = np.argsort(codes, kind="stable")  # equal codes keep row order: examples name the first partner
    sc, so = codes[order], owners[order]
    starts = np.flatnonzero(np.concatenate([[True], sc[1:] != sc[:-1]])) if len(sc) else np.zeros(0, np.int64)
    bits = (np.uint8(1) << split_of[so].astype(np.uint8)) if len(sc) else np.zeros(0, np.uint8)
    masks = np.bitwise_or.reduceat(bits, starts) if len(sc) else bits
    return sc, so, np.repeat(masks, np.diff(np.append(starts, len(sc))))


def leakage_report(splits: dict[str, list[str]], k: int = 20, ids: dict[str, list[str]] | None = None,
                   examples: int = 3) -> LeakageReport:
    """Counts exact and near-duplicate rows between every pair of splits.

    Args:
        splits: Split name -> its normalised sequences (e.g. ``train``, ``validation``, ``test``).
        k: A near-duplicate shares a stretch of at least ``k`` nt with the other split, on either strand.
        ids: Split name -> a readable id per row (default ``row N``, 1-based within the split).
        examples: Example id pairs kept per split pair.

    Returns:
        A :class:`LeakageReport`; pairs are named ``"a~b"`` in the order of ``splits``.
    """
    start = time.perf_counter()
    names = list(splits)
    seqs = [s for name in names for s in splits[name]]
    sizes = np.array([len(splits[n]) for n in names])
    split_of = np.repeat(np.arange(len(names)), sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    codes, owners = kmer_codes(seqs, k)
    sc, so, masks = _shared(codes, owners, split_of)
    multi = (masks & (masks - np.uint8(1))) != 0  # the code occurs in two or more splits
    row_mask = np.zeros(len(seqs), np.uint8)
    np.bitwise_or.at(row_mask, so[multi], masks[multi])
    ids = ids or {}
    label = lambda i: _row_id(ids, names, offsets, int(i))  # noqa: E731
    report = LeakageReport(k)
    for a, b in combinations(range(len(names)), 2):
        in_a = set(splits[names[a]])
        exact = len(in_a & set(splits[names[b]]))
        near = {names[x]: int(((row_mask[offsets[x]:offsets[x + 1]] >> np.uint8(y)) & 1).sum())
                for x, y in ((a, b), (b, a))}
        hits = np.flatnonzero((row_mask[offsets[b]:offsets[b + 1]] >> np.uint8(a)) & 1)[:examples] + offsets[b]
        pairs = [[label(r), label(_partner(sc, so, codes, owners, int(r), split_of, a))] for r in hits]
        report.pairs[f"{names[a]}~{names[b]}"] = {"exact": exact, "near": near, "examples": pairs,
                                                  "sizes": {names[a]: int(sizes[a]), names[b]: int(sizes[b])}}
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def _partner(sc, so, codes, owners, row: int, split_of, other: int) -> int:
    """A row of split ``other`` that shares a k-mer with ``row``."""
    for code in codes[owners == row]:
        lo, hi = np.searchsorted(sc, code, "left"), np.searchsorted(sc, code, "right")
        found = so[lo:hi][split_of[so[lo:hi]] == other]
        if len(found):
            return int(found[0])
    raise AssertionError(f"row {row} was marked but shares no k-mer with split {other}")


def _row_id(ids: dict, names: list[str], offsets: np.ndarray, i: int) -> str:
    x = int(np.searchsorted(offsets, i, "right") - 1)
    local = i - int(offsets[x])
    given = ids.get(names[x])
    return str(given[local]) if given else f"row {local + 1}"


def kmer_components(sequences: list[str], k: int = 20) -> np.ndarray:
    """Connected groups of rows linked by shared k-mers (either strand): ``data.split: cluster``'s groups.

    Args:
        sequences: Normalised sequences, ``(rows,)``.
        k: k-mer length in nucleotides.

    Returns:
        Component index per row, ``(rows,)``; rows sharing no k-mer with any other row are alone.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    codes, owners = kmer_codes(sequences, k)
    order = np.argsort(codes, kind="stable")
    sc, so = codes[order], owners[order]
    link = np.flatnonzero(sc[1:] == sc[:-1])  # consecutive entries of one code: an edge between their rows
    n = len(sequences)
    graph = coo_matrix((np.ones(len(link), np.int8), (so[link], so[link + 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def leaked_rows(report: LeakageReport, split: str = "test", against: str = "train") -> int:
    """Rows of ``split`` that share a k-mer with ``against`` in ``report`` (0 if the pair is absent)."""
    for name, pair in report.pairs.items():
        if set(name.split("~")) == {split, against}:
            return int(pair["near"][split])
    return 0


def leakage_sentences(report: dict, scored: str = "test", strategy: str = "random") -> list[str]:
    """What the model card and the CLI say about a leakage report (``LeakageReport.to_dict()``): one sentence per
    split sharing exact or near-duplicate rows with ``train``; empty when none does.

    Args:
        report: The report as recorded in ``metrics.json`` (``data.leakage``).
        scored: The split whose score the sentences warn about first (``test``; ``external`` for an external set).
        strategy: The run's ``data.split``, for the advice (a group split keeps groups apart, not shared repeats).
    """
    advice = {"random": "data.split: group (e.g. by chromosome) or cluster keeps them apart.",
              "column": "data.split: group or cluster keeps them apart.",
              "group": "the groups are apart but these rows share repeats or homologous stretches across groups; "
                       "data.split: cluster keeps them apart.",
              "cluster": "raise data.leakage.k to the length the clusters were built with.",
              "external": "drop those rows from the external set (or the training data) to score generalisation "
                          "alone."}.get(strategy, "")
    out = []
    for name, pair in report.get("pairs", {}).items():
        first, second = name.split("~")
        if "train" not in (first, second):
            continue
        other = second if first == "train" else first
        near, exact = pair["near"][other], pair["exact"]
        if not near and not exact:
            continue
        size = pair.get("sizes", {}).get(other)
        share = f" ({near / size:.1%})" if size else ""
        example = f", e.g. {pair['examples'][0][0]} ~ {pair['examples'][0][1]}" if pair.get("examples") else ""
        what = (f"{near} {other} rows{share} share a stretch of at least {report['k']} nt (either strand) with "
                f"training rows{example}")
        if exact:
            what += f"; {exact} {other} sequences are identical to training sequences"
        out.append(what + (f": the {other} score partly measures recall of near-copies, not generalisation; "
                           f"{advice}" if other == scored else "."))
    return sorted(out, key=lambda line: not line.startswith(f"{_count(line)} {scored} "))


def _count(line: str) -> str:
    return line.split(" ", 1)[0]
