"""The documentation site's build hooks (docs/hooks/generate.py, docs/hooks/griffe_roles.py) and its vendored
mermaid: links to repository files, the API pages and their nav, Sphinx roles, the pinned script."""

from __future__ import annotations

import hashlib
import importlib.util
import re

import pytest

from tests.conftest import REPO

pytest.importorskip("mkdocs", reason="the docs tools are not installed (pip install -e '.[docs]')")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", REPO / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _load("generate")


def test_links_to_mirrored_repository_files_point_at_their_copies():
    text = ("[a](../../benchmarks/results/splice_recipes.md) [b](../../benchmarks/results/shared_cpu.md#x) "
            "[c](../../workbench/paths.py) [d](../index.md) [e](https://example.org/x.md) [f](../../configs/splice.yaml)")
    out = generate.rewrite_repo_links(text, "genome/results.md")
    assert "[a](../benchmarks/results/splice_recipes.md)" in out
    assert "[b](../benchmarks/results/shared_cpu.md#x)" in out
    assert "[f](../configs/splice.yaml)" in out
    # not mirrored (left for the strict build to reject), inside docs/, or another site: unchanged
    assert "[c](../../workbench/paths.py)" in out and "[d](../index.md)" in out and "(https://example.org/x.md)" in out
    assert generate.rewrite_repo_links("[x](../benchmarks/results/engine_cpu.md)", "index.md") == \
        "[x](benchmarks/results/engine_cpu.md)"


def test_every_module_gets_an_api_entry_and_a_page_in_the_nav():
    pages = generate.api_modules()
    documented = {module for modules in pages.values() for module, _, _ in modules}
    files = [p for pkg in generate.PACKAGES for p in (REPO / pkg).rglob("*.py") if p.name != "__main__.py"]
    for path in files:
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        assert ".".join(parts[:-1] if parts[-1] == "__init__" else parts) in documented, path
    assert {"workbench", "workbench.config", "workbench.cli", "data_connectors"} <= set(pages)
    nav = [{"Home": "index.md"}, {"Reference": [{"Configuration": "reference/configuration.md"},
                                                {"API reference": generate.API_INDEX}]}]
    generate._expand_nav(nav, list(pages))
    api = nav[1]["Reference"][1]["API reference"]
    assert api[0] == generate.API_INDEX and {"workbench.config": "reference/api/workbench.config.md"} in api


def test_api_pages_document_what_each_module_defines_not_what_it_reexports():
    import ast

    names = generate.defined_names(ast.parse((REPO / "workbench" / "config" / "__init__.py").read_text()))
    assert names == []  # it only re-exports: documented in config.base, config.sequence, ...
    base = generate.defined_names(ast.parse((REPO / "workbench" / "config" / "base.py").read_text()))
    assert {"SCHEMAS", "ConfigError", "RunBase", "register_schema"} <= set(base) and "_Group" not in base
    page = generate.api_page("workbench.config", [("workbench.config", "", []), ("workbench.config.base", "", base)])
    assert "::: workbench.config\n    options:\n      heading_level: 2\n      members: false" in page
    assert re.search(r"members: \[SCHEMAS, register_schema, ConfigError", page)


def test_sphinx_roles_become_code_spans():
    roles = _load("griffe_roles")
    assert roles.plain_roles("see :class:`~workbench.config.RunConfig` and :func:`setup`") == \
        "see `workbench.config.RunConfig` and `setup`"


def test_the_vendored_mermaid_is_the_pinned_release():
    folder = REPO / "docs" / "assets" / "vendor" / "mermaid"
    provenance = (folder / "PROVENANCE.txt").read_text()
    recorded = re.search(r"sha256 of mermaid.min.js:\s+([0-9a-f]{64})", provenance).group(1)
    script = (folder / "mermaid.min.js").read_bytes()
    assert hashlib.sha256(script).hexdigest() == recorded
    version = re.search(r"^mermaid (\d+\.\d+\.\d+)", provenance).group(1)
    assert f'"{version}"'.encode() in script and version.startswith("11.")  # Material 9 expects mermaid 11
    assert b'globalThis["mermaid"]' in script and "MIT" in (folder / "LICENSE").read_text()
    assert "assets/vendor/mermaid/mermaid.min.js" in (REPO / "mkdocs.yml").read_text()
