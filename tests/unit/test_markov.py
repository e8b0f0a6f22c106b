"""The Markov-chain baseline: counts per order, add-one smoothing, the context each base is predicted from, and
bits per base against what information theory says for sequences of known entropy."""

import math
import random

import numpy as np
import pytest

from workbench.data.markov import MarkovCounter, MarkovModel, encode


def test_counts_per_order_skip_n_contexts():
    counter = MarkovCounter(k=2)
    counter.add(["ACGNAC"])
    c0, c1, c2 = counter.counts
    assert c0.sum() == 5  # every A/C/G/T target
    assert c1.sum() == 3  # AC, CG, AC (contexts with N and the N target skipped)
    assert c2.sum() == 1  # ACG only
    assert c2[(0 * 4 + 1) * 4 + 2] == 1  # context AC, base G


def test_add_one_smoothing_by_hand():
    counter = MarkovCounter(k=1)
    counter.add(["AAAC"])  # order 1: A->A twice, A->C once
    model = counter.model()
    bits = model.base_bits(["AC"])
    assert math.isnan(bits[0, 0]) is False
    # base 0 uses order 0: counts A3 C1 G0 T0 -> p(A) = 4/8
    assert bits[0, 0] == pytest.approx(-math.log2(4 / 8))
    # base 1 uses order 1 with context A: counts A2 C1 -> p(C|A) = 2/7
    assert bits[0, 1] == pytest.approx(-math.log2(2 / 7))


def test_each_base_uses_the_longest_context_it_has():
    counter = MarkovCounter(k=3)
    counter.add(["ACGTACGTACGTACGT" * 20])
    bits = counter.model().base_bits(["ACGTNACGT"])
    assert np.isnan(bits[0, 4])  # N is never scored
    # after the N the context restarts: base 5 is predicted with order 0 (as base 0 is)
    assert bits[0, 5] == pytest.approx(bits[0, 0])
    assert bits[0, 3] <= bits[0, 1] + 1e-9 and bits[0, 1] < bits[0, 0] - 1  # context pays on a periodic sequence


def test_bits_per_base_matches_the_entropy_of_the_source():
    rng = random.Random(0)
    iid = "".join(rng.choice("ACGT") for _ in range(40_000))
    counter = MarkovCounter(k=2)
    counter.add([iid[i:i + 100] for i in range(0, 30_000, 100)])
    value, n = counter.model().bits_per_base([iid[i:i + 100] for i in range(30_000, 40_000, 100)])
    assert n == 10_000 and value == pytest.approx(2.0, abs=0.02)
    periodic = "ACGGT" * 2000
    counter = MarkovCounter(k=5)
    counter.add([periodic[i:i + 100] for i in range(0, 8000, 100)])
    value, _ = counter.model().bits_per_base([periodic[i:i + 100] for i in range(8000, 10_000, 100)])
    assert value < 0.1  # one context determines the next base


def test_save_and_load_round_trip(tmp_path):
    counter = MarkovCounter(k=2)
    counter.add(["ACGTTGCA" * 10])
    model = counter.model()
    model.save(tmp_path / "markov.json")
    loaded = MarkovModel.load(tmp_path / "markov.json")
    assert loaded.k == 2 and all((a == b).all() for a, b in zip(model.counts, loaded.counts))
    np.testing.assert_allclose(loaded.base_bits(["ACGTAC"]), model.base_bits(["ACGTAC"]))


def test_encode_pads_with_4():
    assert encode(["AC", "GTN"]).tolist() == [[0, 1, 4], [2, 3, 4]]
