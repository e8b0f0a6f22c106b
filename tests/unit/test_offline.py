"""Offline defaults (workbench.offline) and the artifacts root (workbench.paths)."""

import os

from workbench import offline, paths


def test_import_sets_offline_variables():
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "UNSLOTH_DISABLE_STATISTICS"):
        assert os.environ[key] == "1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_user_settings_are_respected(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    applied = offline.apply_offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "0" and "HF_HUB_OFFLINE" not in applied
    assert applied["DO_NOT_TRACK"] == "1"


def test_workbench_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "root"))
    assert paths.home() == tmp_path / "root"
    assert paths.runs_dir() == tmp_path / "root" / "runs" and paths.models_dir().is_dir()
