"""The layout the architecture note describes holds in the code: its diagram's arrows are real imports, modules
stay small and documented, every task type has a schema and a task, and the pipeline does not branch on it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTE = REPO / "docs" / "architecture.md"
PACKAGES = ("workbench", "data_connectors")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute dotted names that ``path`` imports (relative imports resolved; ``from X import Y`` gives X.Y too)."""
    package = _dotted(path).split(".") if path.name == "__init__.py" else _dotted(path).split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def _files_of(dotted: str) -> list[Path]:
    path = REPO.joinpath(*dotted.split("."))
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path.with_suffix(".py")]


def _arrows() -> list[tuple[str, str]]:
    block = re.search(r"```mermaid\n(.*?)```", NOTE.read_text(), re.S).group(1)
    return [(a.replace("__", "."), b.replace("__", ".")) for a, b in
            re.findall(r"^\s*([A-Za-z_]+)\s*-->(?:\|[^|]*\|)?\s*([A-Za-z_]+)\s*$", block, re.M)]


def test_the_note_has_a_diagram_with_arrows():
    assert len(_arrows()) >= 20


@pytest.mark.parametrize("source,target", _arrows())
def test_every_arrow_of_the_diagram_is_a_real_import(source, target):
    files = _files_of(source)
    assert files and all(f.is_file() for f in files), f"{source} is not a module or package"
    imported = set().union(*(_imports(f) for f in files))
    assert any(name == target or name.startswith(target + ".") for name in imported), \
        f"nothing in {source} imports {target}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_modules_are_small_and_say_what_they_hold(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 300, f"{path.relative_to(REPO)} has {lines} lines; split it by concern (docs/architecture.md)"
    if lines > 20:
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(REPO)} has no module docstring"


def test_every_task_type_has_a_schema_and_a_task():
    from workbench.config import SCHEMAS
    from workbench.runs.run_dir import TASK_FILES
    from workbench.tasks import TASKS

    assert set(SCHEMAS) == set(TASKS) == set(TASK_FILES) == {"classification", "regression", "sft", "pretrain"}
    for name, task in TASKS.items():
        assert task.type == name


def test_the_pipeline_never_branches_on_the_task_type():
    source = (REPO / "workbench" / "pipeline.py").read_text()
    code = ast.unparse(ast.parse(source))  # docstrings aside, what executes
    for name in ("classification", "regression", "sft", "pretrain"):
        assert f"'{name}'" not in code and f'"{name}"' not in code, name
