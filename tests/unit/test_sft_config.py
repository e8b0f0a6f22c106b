"""SFT config validation (workbench.sft_config) and the chat_sft preset."""

from pathlib import Path

import pytest

from workbench.config import ConfigError, task_type
from workbench.config import load_sft_config, validate_sft_config

REPO = Path(__file__).resolve().parents[2]
SOURCE = {"kind": "files", "path": "qa.jsonl"}


def test_chat_sft_preset_values():
    preset = REPO / "configs" / "chat_sft.yaml"
    assert preset.read_text().startswith("# Launch: workbench run configs/chat_sft.yaml")
    assert task_type(preset) == "sft" and task_type(REPO / "configs" / "splice.yaml") == "classification"
    cfg = load_sft_config(preset)
    assert cfg.task.type == "sft" and cfg.columns.kind == "kind" and cfg.eval.exact_match_kind == "qa"
    assert (REPO / cfg.source.path).is_file(), "the preset trains on the bundled corpus"
    assert cfg.model.base_model == "smollm2-135m-instruct"


def test_defaults_and_messages_mapping():
    cfg = validate_sft_config({"name": "x", "source": SOURCE})
    assert (cfg.columns.prompt, cfg.columns.response, cfg.columns.messages) == ("instruction", "response", None)
    assert cfg.train.learning_rate == 2e-4 and cfg.task.type == "sft"
    cfg = validate_sft_config({"name": "x", "source": SOURCE, "columns": {"messages": "messages", "prompt": None,
                                                                         "response": None}})
    assert cfg.columns.messages == "messages"


def test_all_problems_reported_at_once():
    bad = {"name": "bad name!", "source": {"kind": "files"}, "data": {"max_length": 4, "test_fraction": 0.7},
           "task": {"type": "classification"}, "eval": {"max_new_tokens": 0}, "train": {"batch_size": 0}}
    with pytest.raises(ConfigError) as err:
        validate_sft_config(bad)
    text = str(err.value)
    for field in ("name", "source", "data.max_length", "data.test_fraction", "task.type", "eval.max_new_tokens",
                  "train.batch_size"):
        assert field in text, f"{field} missing from:\n{text}"
    assert "7 problem(s)" in text


def test_column_mapping_must_be_complete_and_distinct():
    with pytest.raises(ConfigError, match="set both `prompt` and `response`, or `messages`"):
        validate_sft_config({"name": "x", "source": SOURCE, "columns": {"response": None}})
    with pytest.raises(ConfigError, match="must be different columns"):
        validate_sft_config({"name": "x", "source": SOURCE, "columns": {"prompt": "text", "response": "text"}})
    with pytest.raises(ConfigError, match="eval.exact_match"):
        validate_sft_config({"name": "x", "source": SOURCE, "eval": {"exact_match": "qa"}})


def test_num_layers_is_refused_for_chat_sft():
    with pytest.raises(ConfigError, match="model.num_layers: Extra inputs are not permitted"):
        validate_sft_config({"name": "x", "source": SOURCE, "model": {"num_layers": 4}})


def test_packing_is_an_sft_setting_only():
    assert validate_sft_config({"name": "x", "source": SOURCE}).train.packing is False
    assert validate_sft_config({"name": "x", "source": SOURCE, "train": {"packing": True}}).train.packing is True
    from workbench.config import validate_config

    with pytest.raises(ConfigError, match="train.packing: Extra inputs are not permitted"):
        validate_config({"name": "x", "source": SOURCE, "train": {"packing": True}})
