"""The honest baselines of a DNA language model: a k-th order Markov chain and the uniform 2 bits per base.

The chain predicts each base from the ``k`` bases before it (k = 5 by default: 4^5 = 1,024 contexts), with add-one
(Laplace) smoothing, ``p(b | ctx) = (count(ctx, b) + 1) / (count(ctx) + 4)``. Every order 0..k is fitted on the
same windows, and a base with fewer than ``k`` valid bases before it in its window (the first bases of a window, or
after an ``N``) is predicted from the longest context it has, so the chain sees exactly the context the language
model sees within a window, capped at ``k`` bases. Only A, C, G and T are scored; ``N`` is never a target.

Bits per base = mean over scored bases of ``-log2 p(base | context)`` (Shannon, 1948; the unit of DNA compression
benchmarks, e.g. Cao et al., "A simple statistical algorithm for biological sequence compression", DCC 2007).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

_CODE = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
UNIFORM_BITS = 2.0
"""Bits per base of a model that knows nothing: log2 4."""


def encode(windows: list[str], width: int | None = None) -> np.ndarray:
    """Windows as codes A=0, C=1, G=2, T=3, anything else 4, right-padded with 4.

    Returns:
        int64 array of shape ``(len(windows), width or longest window)``.
    """
    width = width or max((len(w) for w in windows), default=0)
    out = np.full((len(windows), width), 4, dtype=np.int64)
    for i, w in enumerate(windows):
        raw = np.frombuffer(w.encode("ascii")[:width], dtype=np.uint8)
        out[i, :len(raw)] = _CODE[raw]
    return out


def _contexts(codes: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """``(index, valid)`` for every position ``t >= order``: the context's base-4 number times 4 plus the target,
    and whether the context and target are all A/C/G/T; both of shape ``(batch, width - order)``."""
    width = codes.shape[1]
    target = codes[:, order:width]
    ctx = np.zeros_like(target)
    valid = target < 4
    for i in range(order):
        part = codes[:, i:width - order + i]
        valid &= part < 4
        ctx = ctx * 4 + np.minimum(part, 3)
    return ctx * 4 + np.minimum(target, 3), valid


class MarkovCounter:
    """Counts (context, base) pairs of every order 0..k over training windows, streaming batch by batch.

    Args:
        k: The chain's order (bases of context).
    """

    def __init__(self, k: int = 5):
        if not 0 <= k <= 10:
            raise ValueError(f"Markov order k={k} is outside 0..10 (4^(k+1) counts per order).")
        self.k = k
        self.counts = [np.zeros(4 ** (o + 1), dtype=np.int64) for o in range(k + 1)]

    def add(self, windows: list[str]) -> None:
        """Adds every base of ``windows`` (each order wherever its context is all A/C/G/T)."""
        if not windows:
            return
        codes = encode(windows)
        for order in range(self.k + 1):
            if codes.shape[1] <= order:
                break
            index, valid = _contexts(codes, order)
            self.counts[order] += np.bincount(index[valid], minlength=4 ** (order + 1))

    def model(self) -> "MarkovModel":
        """The smoothed chain of these counts."""
        return MarkovModel(self.k, [c.copy() for c in self.counts])


class MarkovModel:
    """A fitted k-th order chain with add-one smoothing (module docstring).

    Args:
        k: Order.
        counts: Per order ``o``, the ``4^(o+1)`` counts indexed by ``context * 4 + base``.
    """

    def __init__(self, k: int, counts: list[np.ndarray]):
        self.k = k
        self.counts = [np.asarray(c, dtype=np.int64) for c in counts]
        self.log2p = []
        for c in self.counts:
            table = c.reshape(-1, 4).astype(np.float64) + 1.0
            self.log2p.append(np.log2(table / table.sum(axis=1, keepdims=True)).reshape(-1))

    def base_bits(self, windows: list[str]) -> np.ndarray:
        """Bits the chain spends on each base: ``-log2 p(base | context)``.

        Returns:
            float64 array of shape ``(len(windows), longest window)``; NaN where the base is not A/C/G/T (or padding).
        """
        codes = encode(windows)
        batch, width = codes.shape
        bits = np.full((batch, width), np.nan)
        # the order each position uses: the valid bases right before it, capped at k
        run = np.zeros((batch, width), dtype=np.int64)
        for t in range(1, width):
            run[:, t] = np.where(codes[:, t - 1] < 4, np.minimum(run[:, t - 1] + 1, self.k), 0)
        for order in range(min(self.k, width - 1) + 1):
            index, valid = _contexts(codes, order)
            use = valid & (run[:, order:] == order)
            part = bits[:, order:]
            part[use] = -self.log2p[order][index[use]]
        return bits

    def bits_per_base(self, windows: list[str]) -> tuple[float, int]:
        """``(mean bits per scored base, scored bases)`` over ``windows``."""
        bits = self.base_bits(windows)
        scored = ~np.isnan(bits)
        n = int(scored.sum())
        return (float(bits[scored].mean()) if n else math.nan), n

    def to_dict(self) -> dict:
        """JSON form: ``{"k": k, "smoothing": "add-one", "counts": [[...], ...]}``."""
        return {"k": self.k, "smoothing": "add-one (Laplace)", "counts": [c.tolist() for c in self.counts]}

    def save(self, path: Path) -> None:
        """Writes :meth:`to_dict` as JSON (a temp file renamed into place)."""
        import os
        import tempfile

        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.to_dict(), handle)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "MarkovModel":
        """Reads a chain written by :meth:`save`."""
        data = json.loads(Path(path).read_text())
        return cls(int(data["k"]), [np.asarray(c) for c in data["counts"]])
