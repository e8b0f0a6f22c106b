"""Split assignments other than the seeded random split: a split column, whole groups (e.g. chromosomes), and the
validation part carved from a given training part; with the checks that name what is wrong and what to do.

- :func:`group_keys`: the group of each row from a column, optionally through a regular expression or the
  ``chromosome`` shorthand (``CHR13_99137199_99137399``, ``chr13:100-300`` and ``chr13`` all give ``chr13``);
- :func:`group_split`: no group in two splits, stratified by label where possible (scikit-learn's
  ``StratifiedGroupKFold``: the test part is one of ``round(1 / test_fraction)`` folds, the validation part one of
  the remaining rows' ``round((1 - test share) / val_fraction)`` folds), ``test_groups``/``validation_groups``
  pinned explicitly;
- :func:`column_split`: a column says ``train``/``validation``/``test`` (or values mapped to them);
- :func:`carve_validation`: a seeded, stratified validation part taken from training rows;
- :func:`check_splits`: no split empty, no class missing from one.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict

import numpy as np

from .splits import SplitError

CHROMOSOME = "chromosome"
_CHROM = re.compile(r"(?i)(?:^|[^A-Za-z0-9])chr(?:om(?:osome)?)?[_ ]?([0-9]{1,2}|MT|Un|[XYMW])(?![A-Za-z0-9])")
SPLITS = ("train", "validation", "test")


def chromosome(value: str) -> str | None:
    """The chromosome named in a FASTA header, interval or column value, normalised (``CHR13_99137199`` ->
    ``chr13``, ``chrx`` -> ``chrX``, ``chr08`` -> ``chr8``), or None if it names none."""
    match = _CHROM.search(str(value))
    if not match:
        return None
    name = match.group(1)
    if name.isdigit():
        return f"chr{int(name)}"
    return "chrUn" if name.lower() == "un" else f"chr{name.upper()}"


def group_keys(values: list[str], pattern: str | None, column: str) -> list[str]:
    """The group of each row.

    Args:
        values: The group column's value per row, ``(rows,)``.
        pattern: None (the value itself), ``chromosome`` (see :func:`chromosome`), or a regular expression whose
            first capture group (or whole match) is the group.
        column: The column's name, for messages.

    Raises:
        SplitError: A value gives no group (the first three are named, with the pattern).
    """
    if pattern is None:
        keys = [None if v is None or str(v).strip() == "" else str(v).strip() for v in values]
    elif pattern == CHROMOSOME:
        keys = [chromosome(v) for v in values]
    else:
        regex = re.compile(pattern)
        found = [regex.search(str(v)) for v in values]
        keys = [None if m is None else (m.group(1) if regex.groups else m.group(0)) for m in found]
    bad = [i for i, key in enumerate(keys) if not key]
    if bad:
        shown = ", ".join(f"row {i + 1}: {values[i]!r}" for i in bad[:3])
        how = "is empty" if pattern is None else f"does not match data.group_pattern {pattern!r}"
        raise SplitError(f"{len(bad)} of {len(values)} rows have no group: column {column!r} {how} ({shown}). "
                         "Fix data.group_pattern (or data.group_column), or filter those rows in the source.")
    return keys


def _fold(strata: list[str], groups: list[str], n_splits: int, seed: int, what: str) -> list[int]:
    """Indices (into ``strata``) of the first of ``n_splits`` stratified group folds."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < 2:
        raise SplitError(f"{what}: only {n_groups} group ({sorted(set(groups))}) left to split; a group split needs "
                         "groups on both sides. Use data.split: random, or a finer data.group_column.")
    folds = StratifiedGroupKFold(n_splits=min(n_splits, n_groups), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class has fewer members than n_splits"
        try:
            _, held = next(folds.split(np.zeros(len(strata)), strata, groups))
        except ValueError as exc:
            raise SplitError(f"{what}: scikit-learn's StratifiedGroupKFold refused the split ({exc}). Pin the groups "
                             "with data.test_groups / data.validation_groups, or add rows.") from None
    return sorted(int(i) for i in held)


def _pinned(pinned: list[str], found: set[str], pattern: str | None, field: str) -> set[str]:
    wanted = {(chromosome(g) or g) if pattern == CHROMOSOME else str(g) for g in pinned}
    missing = sorted(wanted - found)
    if missing:
        known = sorted(found, key=natural_key)
        shown = ", ".join(known[:30]) + (f" (and {len(known) - 30} more)" if len(known) > 30 else "")
        raise SplitError(f"data.{field} names group(s) {missing} that are not in the data; its groups are: {shown}. "
                         "Correct the names (or data.group_pattern).")
    return wanted


def natural_key(name) -> list:
    """Sort key that orders ``chr2`` before ``chr10`` (digit runs compared as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(name))]


def group_split(strata: list[str], groups: list[str], val_fraction: float, test_fraction: float, seed: int,
                test_groups: list[str] = (), validation_groups: list[str] = (), pattern: str | None = None,
                with_test: bool = True) -> dict[str, list[int]]:
    """Assigns whole groups to train/validation/test, stratified by ``strata`` where possible.

    Args:
        strata: Label (or target bin) per row, ``(rows,)``.
        groups: Group per row, ``(rows,)`` (see :func:`group_keys`).
        val_fraction: Target share of rows in validation, in (0, 0.5).
        test_fraction: Target share of rows in test, in (0, 0.5).
        seed: Seed of the fold shuffle; the same seed and data give the same split.
        test_groups: Groups pinned to the test part (the rest of the test part is then not drawn).
        validation_groups: Groups pinned to the validation part.
        pattern: ``data.group_pattern`` (pinned chromosome names are normalised like the data's).
        with_test: False when the test rows come from elsewhere (``test_source``): only train/validation.

    Returns:
        ``{"train": [...], "validation": [...], "test": [...]}`` sorted row indices.

    Raises:
        SplitError: Pinned groups that do not exist, a group pinned twice, or too few groups to split.
    """
    found = set(groups)
    pin_test = _pinned(list(test_groups), found, pattern, "test_groups")
    pin_val = _pinned(list(validation_groups), found, pattern, "validation_groups")
    if pin_test & pin_val:
        raise SplitError(f"group(s) {sorted(pin_test & pin_val)} are pinned to both data.test_groups and "
                         "data.validation_groups; a group belongs to one split.")
    rows = np.arange(len(groups))
    if not with_test:
        test = []
    elif pin_test:
        test = [int(i) for i in rows if groups[i] in pin_test]
    else:
        free = [int(i) for i in rows if groups[i] not in pin_val]
        test = [free[j] for j in _fold([strata[i] for i in free], [groups[i] for i in free],
                                       max(2, round(1 / test_fraction)), seed, "the test part")]
    taken = set(test)
    if pin_val:
        val = [int(i) for i in rows if groups[i] in pin_val]
    else:
        rest = [int(i) for i in rows if i not in taken]
        share = len(rest) / max(1, len(groups))
        val = [rest[j] for j in _fold([strata[i] for i in rest], [groups[i] for i in rest],
                                      max(2, round(share / val_fraction)), seed, "the validation part")]
    taken |= set(val)
    return {"train": [int(i) for i in rows if i not in taken], "validation": sorted(val), "test": sorted(test)}


def column_split(values: list[str], mapping: dict[str, str], column: str) -> list[str]:
    """The split named by each row's split-column value.

    Args:
        values: The split column's value per row, ``(rows,)``.
        mapping: ``data.split_values``: source value -> ``train``/``validation``/``test``; the names ``train``,
            ``validation`` and ``test`` themselves always count (case-insensitive).
        column: The column's name, for messages.

    Raises:
        SplitError: Naming every unknown value with its row count and how to map it.
    """
    table = {name: name for name in SPLITS}
    table.update({str(k).strip().lower(): v for k, v in mapping.items()})
    names = [table.get(str(v).strip().lower()) if v is not None else None for v in values]
    unknown = Counter(str(values[i]) for i, n in enumerate(names) if n is None)
    if unknown:
        shown = ", ".join(f"{v!r} ({n} rows)" for v, n in unknown.most_common(10))
        raise SplitError(f"split column {column!r} has value(s) {shown} that name no split; it may hold train, "
                         f"validation or test{', or ' + ', '.join(map(repr, mapping)) if mapping else ''}. Map them "
                         "in data.split_values (e.g. {dev: validation}) or filter those rows in the source.")
    return names


def carve_validation(strata: list[str], rows: list[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Takes a seeded validation part from training rows, stratified: ``round(n * val_fraction)`` rows per stratum
    (at least one of every stratum with two or more rows).

    Returns:
        ``(train, validation)`` sorted row indices (a subset of ``rows`` each).
    """
    by: dict[str, list[int]] = defaultdict(list)
    for i in rows:
        by[strata[i]].append(i)
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for key in sorted(by):
        idx = np.array(by[key])
        rng.shuffle(idx)
        take = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0
        val += idx[:take].tolist()
    chosen = set(val)
    return sorted(i for i in rows if i not in chosen), sorted(val)


def check_splits(splits: dict[str, list[int]], strata: list[str], groups: list[str] | None, classify: bool) -> None:
    """Raises :class:`SplitError` when a split is empty or (classification) lacks a class, naming its groups."""
    every = sorted(set(strata))
    for name in SPLITS:
        ix = splits.get(name, [])
        present = {strata[i] for i in ix}
        missing = [c for c in every if c not in present] if classify else []
        if ix and not missing:
            continue
        where = ""
        if groups is not None:
            held = sorted({groups[i] for i in ix}, key=natural_key)
            where = f" (its groups: {', '.join(held[:20]) or 'none'}{' ...' if len(held) > 20 else ''})"
        problem = "is empty" if not ix else f"has no row of class(es) {missing}"
        raise SplitError(f"the {name} split {problem}{where}. Pin other groups (data.test_groups / "
                         "data.validation_groups), change data.seed or the fractions, or add rows of "
                         f"{'those classes' if missing else 'that split'}.")
