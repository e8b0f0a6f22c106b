"""Config loading and validation (workbench.config)."""

from pathlib import Path

import pytest

from workbench.config import ConfigError, expand_env, load_config, task_type, validate_config
from workbench.config import load_sft_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_preset_validates_and_names_its_launch_command(preset, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:///x.db")
    cfg = (load_sft_config if task_type(preset) == "sft" else load_config)(preset)
    assert cfg.name
    assert preset.read_text().startswith("# Launch:"), "presets are headed by their launch command"


def test_splice_preset_values(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:////tmp/w.db")
    cfg = load_config(REPO / "configs" / "splice.yaml")
    assert cfg.source.url == "sqlite:////tmp/w.db"
    assert cfg.task.label_words == {"EI": "donor", "IE": "acceptor", "N": "neither"}
    assert cfg.published.test_accuracy["RBF"] == pytest.approx(0.959)


def test_all_problems_reported_at_once():
    bad = {"name": "bad name!", "source": {"kind": "sql"}, "lora": {"r": 0},
           "train": {"learning_rate": -1, "precision": "fp8"}, "task": {"prompt": "no placeholder"}}
    with pytest.raises(ConfigError) as err:
        validate_config(bad)
    text = str(err.value)
    for field in ("name", "source", "lora.r", "train.learning_rate", "train.precision", "task.prompt"):
        assert field in text, f"{field} missing from:\n{text}"
    assert "6 problem(s)" in text


def test_unknown_field_is_rejected():
    with pytest.raises(ConfigError, match="train.epoch"):
        validate_config({"name": "x", "source": {"kind": "files", "path": "a.csv"}, "train": {"epoch": 3}})


def test_env_expansion_default_and_missing(monkeypatch):
    monkeypatch.delenv("WB_UNSET_VAR", raising=False)
    assert expand_env("url: ${WB_UNSET_VAR:-sqlite:///d.db}") == "url: sqlite:///d.db"
    monkeypatch.setenv("WB_SET_VAR", "postgresql://u@h/db")
    assert expand_env("${WB_SET_VAR}") == "postgresql://u@h/db"
    with pytest.raises(ConfigError, match="WB_UNSET_VAR"):
        expand_env("${WB_UNSET_VAR}")


def test_overrides_and_missing_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nsource: {kind: files, path: a.csv}\n")
    cfg = load_config(path, {"train.epochs": 0.5, "lora.r": 4})
    assert cfg.train.epochs == 0.5 and cfg.lora.r == 4
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_regression_preset_values(monkeypatch):
    monkeypatch.setenv("GC_CSV", "/tmp/gc.csv")
    cfg = load_config(REPO / "configs" / "regression.yaml")
    assert cfg.task.type == "regression" and cfg.source.path == "/tmp/gc.csv"
    assert cfg.columns.label == "gc_content" and cfg.data.quantile_bins == 5
    assert cfg.train.eval_every > 0 and cfg.train.early_stopping_patience > 0 and cfg.train.save_every > 0
    assert "not a biology result" in (REPO / "configs" / "regression.yaml").read_text()


def test_training_control_fields_are_validated():
    with pytest.raises(ConfigError) as err:
        validate_config({"name": "x", "source": {"kind": "files", "path": "a.csv"},
                         "train": {"eval_every": -1, "early_stopping_patience": -2, "save_every": -3,
                                   "early_stopping_start": 1.0},
                         "data": {"quantile_bins": -1}, "task": {"type": "ranking"}})
    for field in ("train.eval_every", "train.early_stopping_patience", "train.save_every", "data.quantile_bins",
                  "task.type", "train.early_stopping_start"):
        assert field in str(err.value)


def test_classifier_route_is_for_classification_only():
    src = {"kind": "files", "path": "x.csv"}
    cfg = validate_config({"name": "x", "source": src, "task": {"classifier": "linear", "pooling": "mean"}})
    assert (cfg.task.classifier, cfg.task.pooling) == ("linear", "mean")
    with pytest.raises(ConfigError, match="task.classifier applies to classification only"):
        validate_config({"name": "x", "source": src, "task": {"type": "regression", "classifier": "linear"}})
    with pytest.raises(ConfigError, match="task.pooling"):
        validate_config({"name": "x", "source": src, "task": {"pooling": "max"}})
    assert validate_config({"name": "x", "source": src, "task": {"kmer": 2}}).task.kmer == 2
    with pytest.raises(ConfigError, match="task.spaced is false"):
        validate_config({"name": "x", "source": src, "task": {"kmer": 2, "spaced": False}})
    with pytest.raises(ConfigError, match="task.kmer"):
        validate_config({"name": "x", "source": src, "task": {"kmer": 0}})


def test_splice_preset_spells_out_the_default_recipe(monkeypatch):
    """configs/splice.yaml states the recipe that the sequence defaults give any new task (docs/genome/recipe.md)."""
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:///x.db")
    preset = load_config(REPO / "configs" / "splice.yaml")
    default = validate_config({"name": "x", "source": {"kind": "files", "path": "x.csv"}})
    for group, fields in {"model": ("num_layers",), "lora": ("r", "lora_alpha", "first_layer", "target_modules"),
                          "task": ("pooling", "classifier", "spaced", "kmer"),
                          "train": ("epochs", "learning_rate", "batch_size")}.items():
        for name in fields:
            assert getattr(getattr(preset, group), name) == getattr(getattr(default, group), name), f"{group}.{name}"
    assert (default.model.num_layers, default.lora.r, default.task.pooling) == (4, 64, "mean")
    sft = load_sft_config(REPO / "configs" / "chat_sft.yaml")
    assert sft.lora.r == 16 and not hasattr(sft.model, "num_layers")  # chat SFT keeps its own defaults
