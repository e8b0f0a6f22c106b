"""The fast in-silico mutagenesis (the reference's key/value cache reused for each variant's unchanged prefix)
gives the values of the reference implementation (a full forward pass per variant) within float32 rounding, for
every head and pooling, strand-symmetric runs, regression, IUPAC codes and a tokenizer whose variants change length;
and the row-by-row table the pyfunc model and batch scoring share refuses bad rows without dropping the others."""

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import build_tiny_model_dir
from workbench.serving.mutagenesis import reference_mutagenesis, saturation_mutagenesis

LABELS = ["EI", "IE", "N"]
SEQ = "ACGTTGCANGGATCCATTGACCGTA"


def _predictor(model_dir, pooling="last", classifier="lm_head", task_type="classification", **task):
    """A Predictor on the tiny random Llama with a random (non-zero) LoRA adapter, float32."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.models.heads import LabelScorer, label_token_ids
    from workbench.models.regression_head import RegressionScorer
    from workbench.serving.predictor import Predictor

    torch.manual_seed(1)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"],
                                             init_lora_weights=False)).eval()
    info = {"type": task_type, "labels": LABELS, "max_length": 100, "pooling": pooling, **task}
    if task_type == "regression":
        scorer = RegressionScorer(model, None, pooling=pooling)
        torch.nn.init.normal_(scorer.head.weight)
        info.update(target="gc", scaler={"mean": 0.5, "std": 0.1})
    else:
        ids = label_token_ids(tokenizer, ["donor", "acceptor", "neither"])
        scorer = LabelScorer(model, ids, None, pooling=pooling, classifier=classifier)
    return Predictor(model_dir, info, scorer.eval(), tokenizer, "")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("pooling,classifier,task_type,extra", [
    ("last", "lm_head", "classification", {}),
    ("mean", "lm_head", "classification", {}),
    ("mean", "linear", "classification", {"reverse_complement": True}),
    ("last", "lm_head", "classification", {"kmer": 3}),
    ("mean", "lm_head", "regression", {}),
])
def test_fast_mutagenesis_equals_the_reference(model_dir, pooling, classifier, task_type, extra):
    predictor = _predictor(model_dir, pooling, classifier, task_type, **extra)
    fast = saturation_mutagenesis(predictor, SEQ, batch_size=7)
    slow = reference_mutagenesis(predictor, SEQ, batch_size=7)
    assert fast.variants == slow.variants == 3 * len(SEQ) + 1  # N yields 4 variants
    assert fast.target == slow.target and fast.reference == pytest.approx(slow.reference, abs=1e-6)
    assert np.abs(fast.delta - slow.delta).max() < 1e-5
    assert np.abs(slow.delta).max() > 1e-4  # the variants do move the prediction: the check is not vacuous
    for b, base in enumerate("ACGT"):  # the reference base's cell is 0
        assert all(fast.delta[b, i] == 0 for i, ref in enumerate(SEQ) if ref == base)


def test_variants_whose_tokens_change_length_fall_back_to_padding(model_dir):
    """Unspaced prompts on a word-level tokenizer: every variant is one unknown word, the suffix widths differ."""
    from workbench.serving.variants import score_variants

    predictor = _predictor(model_dir, "mean")
    prompts = ["DNA: A C G T\nClass:", "DNA: A C\nClass:", "DNA: A C G T T T\nClass:", "DNA: G\nClass:"]
    fast = score_variants(predictor.scorer, predictor.tokenizer, prompts[0], prompts[1:], batch_size=2)
    from workbench.models.heads import encode_prompts

    full = predictor.scorer(**encode_prompts(predictor.tokenizer, prompts))
    assert torch.allclose(fast, full, atol=1e-5)


def test_score_table_refuses_bad_rows_and_scores_the_rest(model_dir):
    from workbench.serving.table import output_columns, score_table

    predictor = _predictor(model_dir)
    predictor.task["label_names"] = {"EI": "donor"}
    frame = score_table(predictor, ["ACGT", None, "ACGX", "acg t", "A" * 101])
    assert list(frame.columns) == [c for c, _ in output_columns(predictor.task)] == [
        "label", "name", "p_EI", "p_IE", "p_N", "error"]
    assert frame["error"].isna().tolist() == [True, False, False, True, False]
    assert "empty" in frame.loc[1, "error"] and "'X' at 4" in frame.loc[2, "error"]
    assert "at most 100 nt" in frame.loc[4, "error"]
    assert np.isnan(frame.loc[2, "p_EI"]) and pd.isna(frame.loc[2, "label"])
    direct = predictor.predict(["ACGT", "ACGT"])[0]
    assert frame.loc[0, "label"] == direct.label and frame.loc[0, "p_IE"] == pytest.approx(direct.probabilities["IE"])
    assert frame.loc[0, "name"] == ("donor" if direct.label == "EI" else direct.label)


@pytest.mark.parametrize("kmer", [1, 3])
def test_input_x_gradient_is_the_tokens_gradient_times_embedding_shared_over_their_bases(model_dir, kmer):
    from workbench.data.sequences import task_prompt
    from workbench.models.heads import pool_hidden
    from workbench.serving.attribution import input_x_gradient

    predictor = _predictor(model_dir, "mean", kmer=kmer)
    seq = SEQ.replace("N", "A")[:12]
    result = input_x_gradient(predictor, seq, "IE")
    assert result.scores.shape == (12,) and "approximation" in result.method and result.target == "IE"
    scorer = predictor.scorer
    ids = torch.tensor([predictor.tokenizer(task_prompt(seq, predictor.task), add_special_tokens=False).input_ids])
    emb = scorer.decoder.get_input_embeddings()(ids).detach().requires_grad_(True)
    hidden = scorer.decoder(inputs_embeds=emb, attention_mask=torch.ones_like(ids)).last_hidden_state
    prob = torch.softmax(scorer.head_logits(pool_hidden(hidden, torch.ones_like(ids), "mean")), -1)[0, 1]
    (grad,) = torch.autograd.grad(prob, emb)
    per_token = (grad * emb)[0].sum(-1).detach().numpy()  # tokens: DNA : <bases or k-mers> Class :
    expected = np.repeat(per_token[2:2 + 12 // kmer] / kmer, kmer)
    assert np.allclose(result.scores, expected, atol=1e-6) and np.abs(expected).max() > 0
