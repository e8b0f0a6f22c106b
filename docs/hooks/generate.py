"""MkDocs hooks of the documentation site (``hooks:`` in ``mkdocs.yml``): the pages written at build time, and the
links from the pages to files of the repository.

- ``reference/configuration.md``: from every registered config schema (:mod:`workbench.config.reference`);
- ``reference/cli.md``: from the command-line application (:mod:`workbench.cli.reference`);
- ``reference/api/<package>.md``: one page per package of ``workbench`` and ``data_connectors``, each module
  rendered by mkdocstrings from its docstrings, and ``reference/api/index.md`` listing them; the nav entry of that
  index is expanded with the package pages (so a new package appears without editing ``mkdocs.yml``);
- copies of the repository files in :data:`MIRRORED` (benchmark results, presets, scheduling examples, the
  connectors' README), at their repository paths, so that a page links to ``../benchmarks/results/x.md`` as it
  would on a code host, and the link works on the site too.

Run as (from the repository root)::

    mkdocs build --strict          # or: workbench docs --build-only
"""

from __future__ import annotations

import ast
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("workbench", "data_connectors")
API_INDEX = "reference/api/index.md"
# repository files copied into the site at their own paths (globs relative to the repository root)
MIRRORED = ("benchmarks/results/*.md", "benchmarks/results/*.json", "benchmarks/results/*.jsonl", "configs/*.yaml",
            "examples/scheduling/*", "data_connectors/README.md")
_LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # document this checkout's workbench, whatever else is installed


def defined_names(tree: ast.Module) -> list[str]:
    """The public names a module defines itself: classes, functions and UPPER_CASE constants (not what it imports,
    so that a package's ``__init__`` that re-exports its modules' names does not document them twice)."""
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
    return [n for n in names if not n.startswith("_")]


def api_modules() -> dict[str, list[tuple[str, str, list[str]]]]:
    """``{page: [(module, first line of its docstring, names it defines)]}``: top-level modules under their
    package's page, each subpackage on a page of its own. ``__main__`` modules (entry points only) are left out."""
    pages: dict[str, list[tuple[str, str, list[str]]]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__main__" or "resources" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            page = ".".join(parts[:2]) if len(parts) > 1 and (REPO.joinpath(*parts[:2]).is_dir()) else parts[0]
            tree = ast.parse(path.read_text())
            doc = (ast.get_docstring(tree) or "").strip().split("\n")[0]
            pages.setdefault(page, []).append((".".join(parts), doc, defined_names(tree)))
    return pages


def api_page(page: str, modules: list[tuple[str, str, list[str]]]) -> str:
    """A package's API page: one mkdocstrings block per module, listing the names the module defines."""
    out = [f"# `{page}`", ""]
    for module, _, names in modules:
        members = "[" + ", ".join(names) + "]" if names else "false"
        out += [f"::: {module}", "    options:", "      heading_level: 2", f"      members: {members}", ""]
    return "\n".join(out)


def api_index(pages: dict[str, list[tuple[str, str, list[str]]]]) -> str:
    """The API reference's front page: every package and module with its one-line summary."""
    out = ["# API reference", "",
           "Generated from the docstrings when this site is built: one page per package of `workbench` and "
           "`data_connectors`. Notebooks import the same functions (`from workbench import setup, load_config`). "
           "Where each package sits in the pipeline: [Architecture](../../architecture.md).", ""]
    for page, modules in pages.items():
        out += [f"## [`{page}`]({page}.md)", "", "| module | what it holds |", "|---|---|"]
        out += [f"| `{m}` | {' '.join(doc.split()).replace('|', chr(92) + '|')} |" for m, doc, _ in modules]
        out.append("")
    return "\n".join(out)


def _expand_nav(nav: list, pages: list[str]) -> None:
    """Replaces the nav entry whose page is :data:`API_INDEX` by a section: the index, then one page per package."""
    for i, item in enumerate(nav):
        title, value = next(iter(item.items())) if isinstance(item, dict) else (None, item)
        if value == API_INDEX:
            nav[i] = {title or "API reference": [API_INDEX] + [{p: f"reference/api/{p}.md"} for p in pages]}
        elif isinstance(value, list):
            _expand_nav(value, pages)


def on_config(config, **kwargs):
    """Expands the API reference's nav entry with the package pages."""
    if config.nav:
        _expand_nav(config.nav, list(api_modules()))
    return config


def on_files(files, config, **kwargs):
    """Adds the generated pages and the mirrored repository files."""
    from workbench.cli.reference import cli_reference
    from workbench.config.reference import config_reference

    generated = {"reference/configuration.md": config_reference(), "reference/cli.md": cli_reference()}
    pages = api_modules()
    generated[API_INDEX] = api_index(pages)
    generated.update({f"reference/api/{p}.md": api_page(p, modules) for p, modules in pages.items()})
    for pattern in MIRRORED:
        for path in sorted(REPO.glob(pattern)):
            if path.is_file():
                rel = path.relative_to(REPO).as_posix()
                files.append(File.generated(config, rel, abs_src_path=str(path)))
    for uri, content in generated.items():
        files.append(File.generated(config, uri, content=content))
    return files


def mirrored(repo_path: str) -> bool:
    """Whether a repository-relative path is one of the files copied into the site."""
    return any(Path(repo_path).match(p) and (REPO / repo_path).is_file() for p in MIRRORED)


def rewrite_repo_links(markdown: str, page_src: str, docs_dir: str = "docs") -> str:
    """Rewrites links that leave ``docs/`` for a mirrored repository file (``../benchmarks/results/x.md`` from
    ``docs/genome/results.md``) into links to its copy in the site; other links are left for MkDocs to check.

    Args:
        markdown: The page's Markdown.
        page_src: The page's path inside the docs (``genome/results.md``) or, for a mirrored page, in the repository.
        docs_dir: The docs folder, relative to the repository root.
    """
    here = posixpath.dirname(page_src)

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        repo_path = posixpath.normpath(posixpath.join(docs_dir, here, target))
        if repo_path.startswith(docs_dir + "/") or not mirrored(repo_path):
            return match.group(0)
        new = posixpath.relpath(repo_path, here or ".")  # the copy sits at the repository path inside the site
        return match.group(1) + new + (match.group(3) or "") + match.group(4)

    return _LINK.sub(fix, markdown)


def on_page_markdown(markdown, page, config, files, **kwargs):
    """Points links to mirrored repository files at their copies (see :func:`rewrite_repo_links`)."""
    if page.file.generated_by is not None:  # generated and mirrored pages: their links are written site-relative
        return markdown
    return rewrite_repo_links(markdown, page.file.src_uri)
