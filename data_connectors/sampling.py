"""Reproducible row samples for :func:`~data_connectors.pipeline.materialize`, chosen by a keyed hash of each row so
the same rows are kept whatever order the source returns them in: ``sample.fraction`` filters each batch as it is
read; ``sample.n`` keeps a reservoir of the rows with the highest priority and rewrites the partial file to them
(:func:`take_rows`).
"""

from __future__ import annotations

import heapq
import uuid
from pathlib import Path
from typing import Any

from .checks import RowChecks, hash_lines


class RowSampler:
    """Applies a ``SampleConfig``-like object (``fraction`` or ``n``, and ``seed``) batch by batch.

    Args:
        sample: The sample settings, or None (keep every row).
    """

    def __init__(self, sample: Any):
        fraction = getattr(sample, "fraction", None)
        self.threshold = int(fraction * 2**64) if fraction is not None else None
        self.seed = getattr(sample, "seed", 0) if sample is not None else 0
        self.n = getattr(sample, "n", None)
        self.reservoir: list[tuple[int, int]] = []  # (-hash, written row index) for sample.n

    def apply(self, table, first_row: int):
        """Filters a batch by ``sample.fraction``, or offers its rows to the ``sample.n`` reservoir.

        Args:
            table: One batch with the output columns, NULL rows removed.
            first_row: Index in the written file of the batch's first row.

        Returns:
            The rows of the batch to write (all of them under ``sample.n``: :func:`take_rows` picks later).
        """
        import pyarrow as pa

        if self.threshold is None and self.n is None:
            return table
        hashes = hash_lines(table, self.seed)
        if self.threshold is not None:
            return table.filter(pa.array([h < self.threshold for h in hashes]))
        for i, h in enumerate(hashes):
            item = (-h, first_row + i)
            if len(self.reservoir) < self.n:
                heapq.heappush(self.reservoir, item)
            elif item > self.reservoir[0]:
                heapq.heapreplace(self.reservoir, item)
        return table

    def indices(self) -> list[int]:
        """The written rows the ``sample.n`` reservoir kept, in file order."""
        return sorted(i for _, i in self.reservoir)


def take_rows(path: Path, indices: list[int], schema, checks: RowChecks, made: list[Path]) -> Path:
    """Rewrites the partial file keeping only ``indices`` (the ``sample.n`` rows), re-running the checks."""
    import pyarrow as pa

    source = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    target = path.with_name(f".partial-{uuid.uuid4().hex}.arrow")
    made.append(target)
    checks.reset()
    with pa.ipc.new_stream(str(target), schema) as writer:
        for start in range(0, len(indices), 50_000):
            part = source.take(pa.array(indices[start:start + 50_000], pa.int64()))
            checks.accept(part)
            for batch in part.to_batches():
                writer.write_batch(batch)
    del source
    path.unlink(missing_ok=True)
    return target
