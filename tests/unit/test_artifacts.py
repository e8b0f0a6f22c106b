"""Atomic run directories (workbench.artifacts)."""

import json

import pytest

from workbench.runs.run_dir import missing_files, staged_run_dir, write_json


def test_failed_run_leaves_nothing_and_keeps_previous(tmp_path):
    final = tmp_path / "run"
    with staged_run_dir(final) as stage:
        (stage / "a.txt").write_text("first")
    assert (final / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError):
        with staged_run_dir(final) as stage:
            (stage / "a.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert (final / "a.txt").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no staging directory is left behind"


def test_rerun_keeps_previous_run(tmp_path):
    final = tmp_path / "run"
    for text in ("one", "two"):
        with staged_run_dir(final) as stage:
            (stage / "a.txt").write_text(text)
    assert (final / "a.txt").read_text() == "two"
    backups = [p for p in tmp_path.iterdir() if p.name.startswith("run-")]
    assert len(backups) == 1 and (backups[0] / "a.txt").read_text() == "one"


def test_write_json_and_missing_files(tmp_path):
    write_json(tmp_path / "m.json", {"x": 1.5})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5}
    assert "README.md" in missing_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_missing_files_follow_the_task_type(tmp_path):
    import json

    (tmp_path / "task.json").write_text(json.dumps({"type": "regression"}))
    missing = missing_files(tmp_path)
    assert "regression_head.safetensors" in missing and "scatter.png" in missing
    assert "confusion_matrix.png" not in missing
    (tmp_path / "task.json").write_text(json.dumps({"type": "classification"}))
    assert "confusion_matrix.png" in missing_files(tmp_path) and "scatter.png" not in missing_files(tmp_path)
