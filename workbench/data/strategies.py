"""The split strategies of a sequence run (``data.split``) and the sources per split, behind one function.

- ``random`` (default): the seeded stratified 70/10/20 split of :mod:`.splits`, exactly as before when the run has
  one source;
- ``column``: a source column names each row's split (:func:`.groups.column_split`); with only train and test
  rows, the validation part is carved from train (seeded, stratified, ``val_fraction`` of the training rows);
- ``group``: whole groups (``data.group_column``, e.g. the chromosome of a FASTA header) per split
  (:func:`.groups.group_split`);
- ``cluster``: the groups are the connected clusters of rows sharing a ``data.leakage.k``-mer
  (:func:`.leakage.kmer_components`), so no near-duplicate crosses a split.

``validation_source`` / ``test_source`` rows go to their split whatever the strategy; the main source's rows are
then divided among the remaining splits. Duplicate control (``data.duplicates: drop``): rows whose split is given
(by a column or a source) keep one copy per split, and a sequence in a given validation or test part is dropped
from the rows still to be split and from train, so no sequence is in two splits and the given test rows stay whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .groups import carve_validation, check_splits, column_split, group_keys, group_split, natural_key
from .splits import SplitError, SplitReport, count_overlap, deduplicate, quantile_bins, split_regression, split_rows
from .splits import target_stats as _target_stats

PRIORITY = ("test", "validation", "train")


@dataclass
class RowInfo:
    """Per-row facts a strategy needs besides sequence and label (all ``(rows,)``).

    Attributes:
        origin: ``source``, ``validation_source`` or ``test_source``.
        column: The split column's value (main-source rows), or None without ``split: column``.
        groups: The group column's value (main-source rows), or None without ``split: group``.
    """

    origin: list[str]
    column: list | None = None
    groups: list | None = None


def split_sequences(sequences: list[str], labels: list, data, info: RowInfo,
                    targets: list[float] | None = None) -> tuple[dict[str, list[int]], SplitReport]:
    """Splits a sequence run's rows by ``data.split`` (and the sources per split).

    Args:
        sequences: Normalised sequences, ``(rows,)``.
        labels: Labels (classification) or label strings (regression), ``(rows,)``.
        data: The run's ``data`` config group (:class:`~workbench.config.sequence.DataConfig`).
        info: Per-row origin, split column and group values.
        targets: Regression: the numeric targets, ``(rows,)``; None for classification.

    Returns:
        ``(splits, report)``: row indices per split and the :class:`~workbench.data.splits.SplitReport`.

    Raises:
        SplitError: Unknown split-column values, pinned groups that do not exist, a split left empty or without a
            class, or too few rows.
    """
    single = all(o == "source" for o in info.origin)
    if data.split == "random" and single:
        if targets is None:
            return split_rows(sequences, labels, data.duplicates, data.val_fraction, data.test_fraction, data.seed)
        return split_regression(sequences, targets, data.duplicates, data.val_fraction, data.test_fraction,
                                data.seed, data.quantile_bins)
    keys = [str(y) for y in labels] if targets is None else [repr(float(t)) for t in targets]
    strata = keys if targets is None else (quantile_bins(targets, data.quantile_bins) if data.quantile_bins >= 2
                                           else ["all"] * len(targets))
    report = SplitReport(data.duplicates, strategy=data.split)
    given = _given(info, data)
    free = [i for i, name in enumerate(given) if name is None]
    fixed = _dedupe_given(sequences, keys, given, report)
    taken = {sequences[i] for name in ("validation", "test") for i in fixed[name]}
    if data.duplicates == "drop":  # rows still to split: none repeating a given validation/test row, one copy each
        repeats = [i for i in free if sequences[i] in taken]
        report.duplicate_rows_dropped += len(repeats)
        free = [i for i in free if sequences[i] not in taken]
        kept, dups, conflicts = deduplicate([sequences[i] for i in free], [keys[i] for i in free])
        report.duplicate_rows_dropped += dups
        report.conflicting_sequences_dropped += conflicts
        free = [free[j] for j in kept]
    groups = _assign(free, fixed, sequences, strata, data, info, report.carved)
    splits = {name: sorted(fixed[name]) for name in ("train", "validation", "test")}
    if targets is not None and sum(map(len, splits.values())) < 10:
        raise SplitError(f"{sum(map(len, splits.values()))} usable rows cannot be split for regression (need at "
                         "least 10). Add rows.")
    check_splits(splits, strata, groups, classify=targets is None)
    count_overlap(report, splits, sequences)
    report.class_counts = {k: dict(sorted(Counter(strata[i] for i in v).items())) for k, v in splits.items()}
    report.origins = {k: dict(Counter(info.origin[i] for i in v)) for k, v in splits.items()}
    if groups is not None:
        report.groups = ({k: len({groups[i] for i in v}) for k, v in splits.items()} if data.split == "cluster" else
                         {k: sorted({groups[i] for i in v}, key=natural_key) for k, v in splits.items()})
    if targets is not None:
        report.target_stats = _target_stats(splits, targets)
    return splits, report


def _given(info: RowInfo, data) -> list[str | None]:
    """The split each row is given (by its source or the split column), None where the strategy decides."""
    from_source = {"validation_source": "validation", "test_source": "test"}
    given = [from_source.get(o) for o in info.origin]
    if data.split != "column":
        return given
    main = [i for i, o in enumerate(info.origin) if o == "source"]
    named = column_split([info.column[i] for i in main], data.split_values, data.split_column)
    for split, where in (("test", "test_source"), ("validation", "validation_source")):
        if split in named and where in info.origin:
            raise SplitError(f"split column {data.split_column!r} has {named.count(split)} {split} row(s) and the run "
                             f"also has a {where}: give the {split} rows one way. Remove {where}, or map those values "
                             "to another split in data.split_values.")
    for i, name in zip(main, named):
        given[i] = name
    return given


def _dedupe_given(sequences: list[str], keys: list[str], given: list[str | None], report: SplitReport) -> dict:
    """Rows per given split; under ``drop`` one copy per split and sequences conflicting within a split removed."""
    fixed: dict[str, list[int]] = {name: [i for i, g in enumerate(given) if g == name] for name in PRIORITY}
    if report.policy != "drop":
        return fixed
    seen: set[str] = set()
    for name in PRIORITY:  # test first: its rows stay whole; a repeat in a later split is dropped there
        rows = fixed[name]
        kept, dups, conflicts = deduplicate([sequences[i] for i in rows], [keys[i] for i in rows])
        report.duplicate_rows_dropped += dups
        report.conflicting_sequences_dropped += conflicts
        rows = [rows[j] for j in kept]
        fixed[name] = [i for i in rows if sequences[i] not in seen]
        report.duplicate_rows_dropped += len(rows) - len(fixed[name])
        seen.update(sequences[i] for i in fixed[name])
    return fixed


def _assign(free: list[int], fixed: dict[str, list[int]], sequences: list[str], strata: list[str], data,
            info: RowInfo, carved: list[str]) -> list | None:
    """Divides the ``free`` rows among the splits ``fixed`` still lacks (in place, naming in ``carved`` the splits
    drawn at random from training rows); returns the group per row (group and cluster splits) or None."""
    need_test, need_val = not fixed["test"], not fixed["validation"]
    if data.split == "column":
        if need_test:
            raise SplitError(f"split column {data.split_column!r} names no test row and there is no test_source: "
                             "mark test rows in the column (test) or give data's test rows as test_source.")
        if need_val:
            fixed["train"], fixed["validation"] = carve_validation(strata, fixed["train"], data.val_fraction,
                                                                   data.seed)
            carved.append("validation")
        return None
    if data.split == "random":  # here a source gives the validation or the test rows: carve the other one
        if need_test and need_val:
            raise SplitError("the validation_source / test_source rows were all dropped as repeats; check them.")
        if not (need_test or need_val):
            fixed["train"] += free
            return None
        rest, taken = carve_validation(strata, free, data.test_fraction if need_test else data.val_fraction, data.seed)
        fixed["train"] += rest
        fixed["test" if need_test else "validation"] += taken
        carved.append("test" if need_test else "validation")
        return None
    groups = [None] * len(sequences)
    if data.split == "group":
        keys = group_keys([info.groups[i] for i in free], data.group_pattern, data.group_column)
    else:
        from .leakage import kmer_components

        components = kmer_components([sequences[i] for i in free], data.leakage.k)
        keys = [f"cluster{c}" for c in components]
        biggest = Counter(keys).most_common(1)[0][1] if keys else 0
        if free and biggest > 0.7 * len(free):
            raise SplitError(f"the largest cluster of rows sharing a {data.leakage.k}-mer holds {biggest} of "
                             f"{len(free)} rows, too many to keep in one split (repeats link the rows). Raise "
                             "data.leakage.k, or use data.split: group with a column such as the chromosome.")
    for i, key in zip(free, keys):
        groups[i] = key
    local = group_split([strata[i] for i in free], keys, data.val_fraction, data.test_fraction, data.seed,
                        data.test_groups if need_test else [], data.validation_groups if need_val else [],
                        data.group_pattern if data.split == "group" else None, with_test=need_test)
    for name, ix in local.items():
        if name == "train" or (name == "test" and need_test) or (name == "validation" and need_val):
            fixed[name] += [free[j] for j in ix]
        else:
            fixed["train"] += [free[j] for j in ix]
    for name in fixed:
        for i in fixed[name]:
            if groups[i] is None:
                groups[i] = f"({info.origin[i]})"
    return groups


def read_run_rows(config):
    """Reads every source of a sequence run (``source``, then ``validation_source`` and ``test_source``) into one
    list of rows, with the per-row facts the strategy needs.

    Args:
        config: A :class:`~workbench.config.sequence.RunConfig`.

    Returns:
        ``(rows, info, sources)``: a :class:`~workbench.data.sources.SequenceRows` over all sources (the main
        source's lineage and ambiguity report), its :class:`RowInfo`, and per extra source its lineage and ambiguity
        report (JSON-serialisable; empty with one source).

    Raises:
        data_connectors.ConnectorError: A source cannot be read; the split or group column is missing.
        workbench.data.sequences.SequenceError: A sequence is invalid.
    """
    from dataclasses import asdict

    from .sources import read_sequences

    d = config.data
    column = d.split_column if d.split == "column" else d.group_column if d.split == "group" else None
    rows = read_sequences(config, (column,) if column else ())
    info = RowInfo(["source"] * len(rows.sequences))
    values = rows.extra.get(column) if column else None
    sources = {}
    for origin in ("validation_source", "test_source"):
        src = getattr(config, origin, None)
        if src is None:
            continue
        more = read_sequences(config.model_copy(update={"source": src}))
        sources[origin] = {"lineage": more.lineage.to_dict(), "ambiguity": asdict(more.ambiguity),
                           "excluded": more.excluded}
        rows.sequences += more.sequences
        rows.labels += more.labels
        rows.ids += [f"{origin}:{i}" for i in more.ids]
        info.origin += [origin] * len(more.sequences)
        if values is not None:
            values = values + [None] * len(more.sequences)
    if d.split == "column":
        info.column = values
    elif d.split == "group":
        info.groups = values
    return rows, info, sources
