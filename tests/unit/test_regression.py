"""The regression head and target handling (workbench.regression), on a tiny random Llama."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from workbench.models.heads import encode_prompts
from workbench.models.regression_head import RegressionScorer, TargetScaler, predict_standardised
from workbench.tasks.regression import parse_targets


def test_scaler_standardises_with_train_statistics_and_inverts():
    scaler = TargetScaler.fit([1.0, 2.0, 3.0, 4.0])
    assert scaler.mean == pytest.approx(2.5) and scaler.std == pytest.approx(1.118034, rel=1e-6)
    z = scaler.transform([2.5, 4.0])
    assert z.dtype == torch.float32 and z[0] == 0 and z[1] == pytest.approx(1.5 / 1.118034, rel=1e-6)
    assert scaler.invert(z).tolist() == pytest.approx([2.5, 4.0])
    assert TargetScaler.fit([7.0, 7.0]).std == 1.0  # a constant target cannot be divided by 0


def test_parse_targets_names_bad_rows():
    assert parse_targets(["1", "2.5", "-3e-2"], "y") == [1.0, 2.5, -0.03]
    with pytest.raises(ValueError, match=r"column 'expr' has 2 value\(s\).*row 1: 'high'.*row 2: 'nan'"):
        parse_targets(["1", "high", "nan"], "expr")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_head_reads_the_last_prompt_token(tiny):
    model, tok = tiny
    scorer = RegressionScorer(model)
    torch.nn.init.normal_(scorer.head.weight)
    prompts = ["DNA : A C G T Class :", "DNA : G G Class :"]  # different lengths -> right padding
    got = scorer(**encode_prompts(tok, prompts))
    assert got.shape == (2,)
    for i, p in enumerate(prompts):
        single = tok(p, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = model.model(input_ids=single).last_hidden_state[0, -1]
        assert got[i].item() == pytest.approx((hidden @ scorer.head.weight[0] + scorer.head.bias[0]).item(), abs=1e-5)


def test_head_starts_at_the_mean_and_round_trips(tiny, tmp_path):
    model, tok = tiny
    scorer = RegressionScorer(model)
    assert predict_standardised(scorer, tok, ["DNA : A Class :"] * 3).tolist() == [0.0, 0.0, 0.0]
    torch.nn.init.normal_(scorer.head.weight)
    scorer.save_head(tmp_path / "head.safetensors", TargetScaler(0.5, 0.1))
    other = RegressionScorer(model)
    other.load_head(tmp_path / "head.safetensors")
    torch.testing.assert_close(other.head.weight, scorer.head.weight)
    wrong = RegressionScorer(model)
    wrong.head = torch.nn.Linear(8, 1)
    with pytest.raises(ValueError, match="does not match its base model"):
        wrong.load_head(tmp_path / "head.safetensors")
