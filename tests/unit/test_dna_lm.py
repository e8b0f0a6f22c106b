"""Next-base prediction on the tiny random Llama: one token per base, bits per base as the restricted head's
cross-entropy over ln 2, the trainable DNA rows and their merge into the weights, and the label subsets."""

import math

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_prompt_is_the_prefix_then_one_token_per_base(tiny):
    from workbench.models.dna_lm import DnaLM, TokenizerMismatch, dna_token_ids

    model, tok = tiny
    prefix, ids = dna_token_ids(tok, "DNA: {sequence}")
    assert tok.convert_ids_to_tokens(prefix) == ["DNA", ":"] and tok.convert_ids_to_tokens(ids) == list("ACGTN")
    batch = DnaLM(model, tok).encode(["ACGN", "TT"])
    assert batch["input_ids"][0].tolist() == prefix + [ids[i] for i in (0, 1, 2, 4)]
    assert batch["targets"].tolist() == [[0, 1, 2, -100], [3, 3, -100, -100]]  # N and padding never scored
    assert batch["attention_mask"].sum(1).tolist() == [6, 4]
    with pytest.raises(TokenizerMismatch, match="must end with"):
        dna_token_ids(tok, "DNA: {sequence}\nClass:")


def test_bits_per_base_is_the_restricted_cross_entropy_over_ln2(tiny):
    from workbench.models.dna_lm import DnaLM, bits_per_base

    model, tok = tiny
    lm = DnaLM(model, tok).eval()
    windows = ["ACGTACGGTTAC", "GGGACN"]
    bits = lm.base_bits(windows)
    assert bits.shape == (2, 12) and np.isnan(bits[1, 5:]).all()
    batch = lm.encode(windows)
    with torch.no_grad():
        loss, scored = lm(**batch)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    # by hand: next-token logits at the position before each base, restricted to the A/C/G/T rows
    acgt = lm.dna_ids[:4]
    manual = []
    for i, w in enumerate(windows):
        for t, c in enumerate(w):
            if c in "ACGT":
                row = torch.log_softmax(logits[i, len(lm.prefix) - 1 + t, acgt], -1)
                manual.append(-row["ACGT".index(c)].item() / math.log(2))
    value, n = bits_per_base(bits)
    assert n == scored == len(manual) == 17
    assert value == pytest.approx(np.mean(manual), abs=1e-5)
    assert loss.item() / math.log(2) == pytest.approx(value, abs=1e-5)


def test_full_vocabulary_loss_is_larger_than_the_restricted_one(tiny):
    from workbench.models.dna_lm import DnaLM

    model, tok = tiny
    batch = DnaLM(model, tok).encode(["ACGTACGTAA"])
    with torch.no_grad():
        restricted, _ = DnaLM(model, tok, loss="dna")(**batch)
        full, _ = DnaLM(model, tok, loss="full")(**batch)
    assert full.item() > restricted.item()  # the same targets, normalised over 23 tokens instead of 4


def test_dna_rows_train_and_merge_into_the_embeddings(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.models.dna_lm import DnaLM, add_rows

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    lm = DnaLM(model, tok, train_rows=True, rows_ratio=0.5)
    with torch.no_grad():
        lm.rows.normal_()
    windows = ["ACGTTGCAAC"]
    trained = lm.base_bits(windows)
    lm.save_rows(tmp_path / "rows.safetensors")
    lm._hook.remove()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = DnaLM(plain, tok).base_bits(windows)
    add_rows(plain, tmp_path / "rows.safetensors")
    merged = DnaLM(plain, tok).base_bits(windows)
    np.testing.assert_allclose(merged, trained, atol=1e-5)  # the merge reproduces the trained rows exactly
    assert np.abs(merged - before).max() > 1e-3


def test_label_subsets_are_stratified_and_seeded():
    from workbench.tasks.adaptive import apply_label_fraction, label_subset

    targets = [0] * 600 + [1] * 300 + [2] * 100
    keep = label_subset(targets, 0.1, seed=0)
    assert [sum(targets[i] == c for i in keep) for c in (0, 1, 2)] == [60, 30, 10]
    assert keep == label_subset(targets, 0.1, seed=0) and keep != label_subset(targets, 0.1, seed=1)
    part = {"train": ([f"S{i}" for i in range(1000)], targets), "validation": ([], []), "test": ([], [])}
    sub, aside, report = apply_label_fraction(part, 0.1, 0)
    assert len(sub["train"][0]) == 100 and len(aside) == 900 and report["labelled_rows"] == 100
    assert not set(sub["train"][0]) & set(aside)
    values = [float(i) for i in range(200)]
    assert len(label_subset(values, 0.25, seed=3)) == 50  # numeric targets: quantile strata
