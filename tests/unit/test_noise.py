"""The third-party noise filters (workbench/noise.py): each listed message is dropped, narrowly; everything else,
the workbench's own messages first, still shows."""

from __future__ import annotations

import logging
import sys
import warnings

import pytest

from workbench.noise import NOISE, SHOW_ALL_ENV, apply_noise_filters

DEPRECATED = ("`is_gradient_checkpointing` is deprecated and will be removed in v6. Use `is_activation_checkpointing` "
              "instead.")


def _emit(message: str, module: str, category=FutureWarning) -> list[str]:
    """Warns as if from ``module`` (what ``warnings.warn`` inside that module does) under the noise filters."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        apply_noise_filters()
        warnings.warn_explicit(message, category, f"/site-packages/{module.replace('.', '/')}.py", 3303,
                               module=module)
    return [str(w.message) for w in seen]


@pytest.fixture(autouse=True)
def _no_policy(monkeypatch):
    monkeypatch.setattr(sys, "warnoptions", [])
    monkeypatch.delenv(SHOW_ALL_ENV, raising=False)


def test_the_transformers_deprecation_is_dropped_and_nothing_else():
    assert _emit(DEPRECATED, "transformers.modeling_utils") == []
    # another deprecation of the same module, and the same words from the workbench or another library, still show
    assert _emit("`foo` is deprecated", "transformers.modeling_utils") == ["`foo` is deprecated"]
    assert _emit(DEPRECATED, "workbench.training.loop") == [DEPRECATED]
    assert _emit(DEPRECATED, "peft.peft_model") == [DEPRECATED]
    assert _emit(DEPRECATED, "transformers.modeling_utils", category=UserWarning) == [DEPRECATED]


def test_the_real_property_stays_quiet_where_transformers_deprecates_it():
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        apply_noise_filters()
        assert model.is_gradient_checkpointing is False
    assert [str(w.message) for w in seen if "checkpointing" in str(w.message)] == []


@pytest.mark.parametrize("noise", [n for n in NOISE if n.kind == "log"], ids=lambda n: n.where)
def test_listed_log_lines_are_dropped_and_other_lines_of_the_logger_kept(noise, caplog):
    apply_noise_filters()
    text = noise.message.replace(".* ", "<enum 'X'> ").replace("\\.", ".")
    with caplog.at_level(logging.INFO):
        logging.getLogger(noise.where).warning(text + " (tail)")
        logging.getLogger(noise.where).warning("something the user can act on")
        logging.getLogger("workbench.training.loop").warning(text)
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        (noise.where, "something the user can act on"), ("workbench.training.loop", text)]


def test_every_entry_says_why_and_is_narrow():
    for noise in NOISE:
        assert noise.kind in {"warning", "log"} and len(noise.why) > 40
        assert not noise.where.startswith("workbench") and len(noise.message) > 20


def test_a_python_warning_policy_or_the_switch_leaves_warnings_alone(monkeypatch):
    monkeypatch.setattr(sys, "warnoptions", ["default"])
    assert all(n.kind == "log" for n in apply_noise_filters())
    monkeypatch.setenv(SHOW_ALL_ENV, "1")
    assert apply_noise_filters() == []
