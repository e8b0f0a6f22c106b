"""Deterministic, seeded train/validation/test splits with duplicate control (``data.split: random``, the default).

Classification splits are stratified by label; regression splits are stratified by quantile
bins of the target (or a plain seeded shuffle with ``bins=0``). The other strategies (a split column, whole
groups, clusters of near-duplicates, a source per split) are in :mod:`.strategies`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np


class SplitError(ValueError):
    """Raised when rows cannot be split (too few rows or classes)."""


@dataclass
class SplitReport:
    """What splitting did.

    Attributes:
        policy: ``drop`` or ``report`` (see ``DataConfig.duplicates``).
        duplicate_rows_dropped: Repeated (sequence, label) rows removed before splitting.
        conflicting_sequences_dropped: Sequences seen with more than one label (all copies removed).
        cross_split_duplicates: Sequences present in more than one split after splitting.
        sizes: Rows per split.
        class_counts: Per split, rows per label (regression: rows per target quantile bin).
        target_stats: Regression only: per split, ``{"mean", "std", "min", "max"}`` of the target.
        strategy: ``data.split``: ``random``, ``column``, ``group`` or ``cluster``.
        groups: Group and cluster splits: per split, its group names (clusters: the number of clusters).
        origins: Per split, rows from each source (``source``, ``validation_source``, ``test_source``).
        carved: Splits carved at random from the training rows (a split column or source gave the others).
    """

    policy: str
    duplicate_rows_dropped: int = 0
    conflicting_sequences_dropped: int = 0
    cross_split_duplicates: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    target_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    strategy: str = "random"
    groups: dict[str, list[str] | int] = field(default_factory=dict)
    origins: dict[str, dict[str, int]] = field(default_factory=dict)
    carved: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Returns the report as a JSON-serialisable dict."""
        return asdict(self)


def deduplicate(sequences: list[str], labels: list[str]) -> tuple[list[int], int, int]:
    """Keeps the first copy of each sequence and drops sequences with conflicting labels.

    Returns:
        ``(kept_indices, duplicate_rows_dropped, conflicting_sequences_dropped)``.
    """
    by_seq: dict[str, set[str]] = defaultdict(set)
    for s, y in zip(sequences, labels):
        by_seq[s].add(y)
    seen: set[str] = set()
    kept: list[int] = []
    dups = 0
    for i, s in enumerate(sequences):
        if len(by_seq[s]) > 1:
            continue
        if s in seen:
            dups += 1
            continue
        seen.add(s)
        kept.append(i)
    conflicting = sum(1 for v in by_seq.values() if len(v) > 1)
    return kept, dups, conflicting


def stratified_split(labels: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Splits row indices into train/validation/test, stratified by label.

    Per class, rows are shuffled with ``numpy.random.default_rng(seed)`` and the first
    ``round(n * test_fraction)`` go to test, the next ``round(n * val_fraction)`` to validation.

    Args:
        labels: Label per row, shape ``(rows,)``.
        val_fraction: Fraction in validation, in (0, 0.5).
        test_fraction: Fraction in test, in (0, 0.5).
        seed: Random seed; the same seed and labels give the same split.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}`` sorted row indices.

    Raises:
        SplitError: If there are fewer than 2 classes or a class has fewer than 3 rows.
    """
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    if len(by_class) < 2:
        raise SplitError(
            f"only one label ({next(iter(by_class), None)!r}) in {len(labels)} rows: a classifier needs at least two. "
            "Check the label column and the query's filters."
        )
    small = {y: len(ix) for y, ix in by_class.items() if len(ix) < 3}
    if small:
        raise SplitError(f"label(s) with fewer than 3 rows cannot be split: {small}. Add rows or merge those labels.")
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for y in sorted(by_class):
        idx = np.array(by_class[y])
        rng.shuffle(idx)
        n_test = max(1, round(len(idx) * test_fraction))
        n_val = max(1, round(len(idx) * val_fraction))
        out["test"] += idx[:n_test].tolist()
        out["validation"] += idx[n_test:n_test + n_val].tolist()
        out["train"] += idx[n_test + n_val:].tolist()
    return {k: sorted(v) for k, v in out.items()}


def split_rows(sequences: list[str], labels: list[str], policy: str, val_fraction: float,
               test_fraction: float, seed: int) -> tuple[dict[str, list[int]], SplitReport]:
    """Applies the duplicate policy, then a stratified split.

    Args:
        sequences: Normalised sequences, shape ``(rows,)``.
        labels: Labels, shape ``(rows,)``.
        policy: ``"drop"`` removes repeats before splitting (no sequence in two splits);
            ``"report"`` keeps them and counts sequences shared between splits.
        val_fraction: See :func:`stratified_split`.
        test_fraction: See :func:`stratified_split`.
        seed: See :func:`stratified_split`.

    Returns:
        ``(splits, report)``: indices into the input rows per split, and a :class:`SplitReport`.
    """
    report = SplitReport(policy)
    candidates = list(range(len(sequences)))
    if policy == "drop":
        candidates, report.duplicate_rows_dropped, report.conflicting_sequences_dropped = deduplicate(sequences, labels)
    local = stratified_split([labels[i] for i in candidates], val_fraction, test_fraction, seed)
    splits = {name: [candidates[j] for j in ix] for name, ix in local.items()}
    count_overlap(report, splits, sequences)
    report.class_counts = {k: dict(sorted(Counter(labels[i] for i in v).items())) for k, v in splits.items()}
    return splits, report


def quantile_bins(values: list[float], bins: int) -> list[str]:
    """Assigns each value to one of ``bins`` equal-count bins by rank (ties broken by row order).

    Returns:
        Bin name per value, ``"q0"`` (lowest) .. ``"q{bins-1}"``, shape ``(rows,)``.
    """
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(np.asarray(values, dtype=np.float64), kind="stable")] = np.arange(len(values))
    return [f"q{int(r) * bins // len(values)}" for r in ranks]


def split_regression(sequences: list[str], targets: list[float], policy: str, val_fraction: float,
                     test_fraction: float, seed: int, bins: int = 5) -> tuple[dict[str, list[int]], SplitReport]:
    """Applies the duplicate policy, then a seeded split stratified by target quantile bins.

    Duplicates are handled as for classification: a sequence repeated with the same target
    keeps one copy; a sequence seen with different targets is dropped entirely (``drop``).

    Args:
        sequences: Normalised sequences, shape ``(rows,)``.
        targets: Numeric targets, shape ``(rows,)``.
        policy: ``"drop"`` or ``"report"`` (see :func:`split_rows`).
        val_fraction: Fraction in validation, in (0, 0.5).
        test_fraction: Fraction in test, in (0, 0.5).
        seed: Random seed; the same seed and data give the same split.
        bins: Quantile bins to stratify by (0 = plain shuffle).

    Returns:
        ``(splits, report)`` as for :func:`split_rows`.

    Raises:
        SplitError: If there are too few rows for the split (or for the bins).
    """
    report = SplitReport(policy)
    keys = [repr(float(t)) for t in targets]
    candidates = list(range(len(sequences)))
    if policy == "drop":
        candidates, report.duplicate_rows_dropped, report.conflicting_sequences_dropped = deduplicate(sequences, keys)
    n = len(candidates)
    if n < max(10, 3 * bins):
        raise SplitError(f"{n} usable rows cannot be split for regression (need at least {max(10, 3 * bins)}"
                         f"{f' for data.quantile_bins={bins}' if bins else ''}). Add rows or lower data.quantile_bins.")
    values = [float(targets[i]) for i in candidates]
    if bins >= 2:
        strata = quantile_bins(values, bins)
        local = stratified_split(strata, val_fraction, test_fraction, seed)
    else:
        strata = []
        order = np.random.default_rng(seed).permutation(n)
        n_test, n_val = max(1, round(n * test_fraction)), max(1, round(n * val_fraction))
        local = {"test": sorted(order[:n_test].tolist()), "validation": sorted(order[n_test:n_test + n_val].tolist()),
                 "train": sorted(order[n_test + n_val:].tolist())}
    splits = {name: [candidates[j] for j in ix] for name, ix in local.items()}
    count_overlap(report, splits, sequences)
    if strata:
        report.class_counts = {k: dict(sorted(Counter(strata[j] for j in ix).items())) for k, ix in local.items()}
    report.target_stats = target_stats(splits, targets)
    return splits, report


def target_stats(splits: dict[str, list[int]], targets: list[float]) -> dict[str, dict[str, float]]:
    """Per split, ``{"mean", "std", "min", "max"}`` of a regression target (empty splits left out)."""
    out = {}
    for name, ix in splits.items():
        if ix:
            v = np.asarray([float(targets[i]) for i in ix])
            out[name] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}
    return out


def count_overlap(report: SplitReport, splits: dict[str, list[int]], sequences: list[str]) -> None:
    """Fills ``report.sizes`` and ``report.cross_split_duplicates`` (sequences found in more than one split)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for name, ix in splits.items():
        for i in ix:
            owners[sequences[i]].add(name)
    report.cross_split_duplicates = sum(1 for v in owners.values() if len(v) > 1)
    report.sizes = {k: len(v) for k, v in splits.items()}
