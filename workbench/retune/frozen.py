"""The frozen evaluation set of a registered model: carved once from the source, fixed across re-tunes, never trained
on, versioned and fingerprinted.

On the first re-tune of a model, a stratified sample (``retune.frozen_fraction``, seed ``retune.frozen_seed``) of the
validated, de-duplicated source rows is written to ``$WORKBENCH_HOME/frozen/<name>/v1.csv`` (``sequence,label``)
with ``v1.json`` beside it (fingerprint, rows, class counts, source fingerprint, time). Later re-tunes reuse the
newest version; the challenger's config gets ``data.exclude_from`` pointed at it, so its rows (matched by sequence)
are dropped before splitting. A file whose rows no longer match its recorded fingerprint is refused.

Instead of a random carve-out, the frozen set may be the rows with given values of a source column
(``retune.frozen_column`` / ``retune.frozen_values``, e.g. a lab's fixed validation plate), or given groups of it
(``retune.frozen_pattern: chromosome`` with ``frozen_values: [chr8]``: a held-out chromosome), as
:func:`frozen_mask` selects them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import data_connectors as dc

from .. import paths


class FrozenSetError(ValueError):
    """Raised when the frozen set cannot be carved (too few rows) or its file no longer matches its fingerprint."""


@dataclass
class FrozenSet:
    """One version of a model's frozen evaluation set.

    Attributes:
        name: Registered model name.
        version: 1, 2, ...
        path: The CSV (``sequence,label``).
        fingerprint: sha256 of its ``(sequence, label)`` rows in file order (:func:`data_connectors.fingerprint_rows`).
        rows: Number of rows.
        class_counts: Rows per label (regression: per target quantile bin).
        source_fingerprint: Fingerprint of the source rows it was carved from.
        created: UTC time of carving.
        how: ``random`` (stratified carve-out) or ``column=value[, value]`` (the rows with those values).
    """

    name: str
    version: int
    path: Path
    fingerprint: str
    rows: int
    class_counts: dict
    source_fingerprint: str
    created: str
    how: str = "random"

    def to_dict(self) -> dict:
        """JSON-serialisable form (``path`` as a string)."""
        return {**asdict(self), "path": str(self.path)}

    def load(self) -> tuple[list[str], list[str]]:
        """Returns ``(sequences, labels)`` after checking the file against :attr:`fingerprint`.

        Raises:
            FrozenSetError: The file is missing or its rows changed since it was carved.
        """
        if not self.path.is_file():
            raise FrozenSetError(f"frozen set {self.path} is missing; restore it from the registry (artifact "
                                 f"`frozen/` of the re-tune runs) or carve a new version with --new-frozen-set.")
        with self.path.open(newline="") as handle:
            rows = [(r["sequence"], r["label"]) for r in csv.DictReader(handle)]
        if dc.fingerprint_rows(rows) != self.fingerprint:
            raise FrozenSetError(f"frozen set {self.path} no longer matches its fingerprint {self.fingerprint[:12]}…; "
                                 "it was edited. Restore it, or carve a new version with --new-frozen-set.")
        return [s for s, _ in rows], [y for _, y in rows]


def frozen_dir(name: str) -> Path:
    """``$WORKBENCH_HOME/frozen/<name>``."""
    return paths.home() / "frozen" / name


def latest_frozen(name: str) -> FrozenSet | None:
    """The newest frozen-set version of ``name``, or None if none was carved yet."""
    metas = sorted(frozen_dir(name).glob("v*.json"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else -1)
    if not metas:
        return None
    meta = json.loads(metas[-1].read_text())
    return FrozenSet(**{**meta, "path": Path(meta["path"])})


def _strata(labels: list[str], task_type: str) -> list[str]:
    if task_type == "regression":
        from ..data.splits import quantile_bins

        return quantile_bins([float(y) for y in labels], 5)
    return [str(y) for y in labels]


def frozen_mask(values: list, column: str, wanted: list[str], pattern: str | None = None) -> list[bool]:
    """Which rows form a frozen set given by column values (or groups of them).

    Args:
        values: The column's value per row, ``(rows,)``.
        column: ``retune.frozen_column``, for messages.
        wanted: ``retune.frozen_values``: the values (or groups) whose rows are frozen.
        pattern: ``retune.frozen_pattern``: None (the value itself), ``chromosome`` or a regular expression (as
            ``data.group_pattern``; :func:`workbench.data.groups.group_keys`).

    Returns:
        ``(rows,)`` booleans.

    Raises:
        FrozenSetError: A wanted value is not in the column (the values found are named), or the rows it selects are
            none or all of them.
    """
    from ..data.groups import CHROMOSOME, chromosome, group_keys
    from ..data.splits import SplitError

    try:
        keys = group_keys(values, pattern, column)
    except SplitError as exc:
        raise FrozenSetError(str(exc).replace("data.group_pattern", "retune.frozen_pattern")) from None
    want = {(chromosome(v) or v) if pattern == CHROMOSOME else str(v) for v in wanted}
    found = set(keys)
    missing = sorted(want - found)
    if missing:
        shown = sorted(found)[:30]
        raise FrozenSetError(f"retune.frozen_values names {missing}, not found in column {column!r} (its values: "
                             f"{shown}{' ...' if len(found) > 30 else ''}). Correct retune.frozen_values.")
    mask = [k in want for k in keys]
    if all(mask):
        raise FrozenSetError(f"retune.frozen_values {sorted(want)} select every row of column {column!r}: nothing "
                             "would be left to train on. Freeze fewer values.")
    return mask


def carve(name: str, sequences: list[str], labels: list, source_fingerprint: str, fraction: float, seed: int,
          task_type: str = "classification", mask: list[bool] | None = None, how: str = "random") -> FrozenSet:
    """Carves and writes the next frozen-set version of ``name`` from validated source rows.

    Args:
        name: Registered model name.
        sequences: Normalised sequences.
        labels: Their labels (or numeric targets).
        source_fingerprint: The source lineage's fingerprint, recorded beside the set.
        fraction: Share of the de-duplicated rows taken, per label (or target quantile bin).
        seed: Seed of the sample.
        task_type: ``classification`` or ``regression``.
        mask: Rows given as the frozen set (:func:`frozen_mask`) instead of a random carve-out; ``fraction`` and
            ``seed`` are then unused.
        how: Recorded beside the set: ``random`` or ``column=value, ...``.

    Returns:
        The new :class:`FrozenSet`.

    Raises:
        FrozenSetError: A label would get no row (too few rows), or the mask selects no de-duplicated row.
    """
    from ..data.splits import deduplicate

    keys = [str(y) for y in labels]
    kept, _, _ = deduplicate(sequences, keys)
    if mask is not None:
        chosen = [i for i in kept if mask[i]]
        if not chosen:
            raise FrozenSetError(f"the frozen set {how} holds no usable row (after dropping repeats and conflicting "
                                 "labels). Choose other retune.frozen_values.")
    else:
        chosen = _random_carve(kept, _strata([labels[i] for i in kept], task_type), fraction, seed)
    rows = [(sequences[i], keys[i]) for i in chosen]
    counts: dict[str, int] = defaultdict(int)
    for s in _strata([labels[i] for i in chosen], task_type):
        counts[s] += 1
    previous = latest_frozen(name)
    version = (previous.version + 1) if previous else 1
    folder = frozen_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    frozen = FrozenSet(name, version, folder / f"v{version}.csv", dc.fingerprint_rows(rows), len(rows),
                       dict(sorted(counts.items())), source_fingerprint,
                       _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), how)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sequence", "label"])
    writer.writerows(rows)
    _atomic_write(frozen.path, buffer.getvalue())
    _atomic_write(folder / f"v{version}.json", json.dumps(frozen.to_dict(), indent=2) + "\n")
    return frozen


def carve_for(config, name: str, rows, source_fingerprint: str) -> FrozenSet:
    """Carves the next frozen-set version as the run config's ``retune`` group says: the rows of
    ``retune.frozen_values`` in ``retune.frozen_column`` (read into ``rows.extra``), else a random carve-out.

    Args:
        config: The sequence run config being re-tuned.
        name: Registered model name.
        rows: The source's :class:`~workbench.data.sources.SequenceRows` (with the frozen column in ``extra``).
        source_fingerprint: The source lineage's fingerprint.

    Raises:
        FrozenSetError: See :func:`frozen_mask` and :func:`carve`.
    """
    r, column = config.retune, config.retune.frozen_column
    mask = frozen_mask(rows.extra[column], column, r.frozen_values, r.frozen_pattern) if column else None
    how = f"{column}={', '.join(r.frozen_values)}" if column else "random"
    return carve(name, rows.sequences, rows.labels, source_fingerprint, r.frozen_fraction, r.frozen_seed,
                 config.task.type, mask, how)


def _random_carve(kept: list[int], strata: list[str], fraction: float, seed: int) -> list[int]:
    """A stratified sample of ``fraction`` of the rows ``kept`` (``strata`` per kept row), sorted."""
    by_stratum: dict[str, list[int]] = defaultdict(list)
    for j, s in enumerate(strata):
        by_stratum[s].append(kept[j])
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for stratum in sorted(by_stratum):
        idx = np.array(by_stratum[stratum])
        rng.shuffle(idx)
        take = round(len(idx) * fraction)
        if take < 1 or take >= len(idx):
            raise FrozenSetError(f"label {stratum!r} has {len(idx)} rows: too few to hold out {fraction:.0%} for the "
                                 "frozen evaluation set. Add rows or change retune.frozen_fraction.")
        chosen += idx[:take].tolist()
    return sorted(chosen)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
