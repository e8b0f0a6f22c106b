"""The documentation site builds with ``--strict`` (a broken link, anchor or API reference fails it), carries the
generated reference pages, and reads offline: Chromium opens three pages and searches for a config field, and every
request stays on loopback, also inside a network namespace that has only loopback (as root; skipped elsewhere).

Screenshots go to the test's temporary folder, or to ``$WORKBENCH_TEST_ARTIFACTS/docs_browser`` where set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO
from tests.integration.docs_browser import CHROMIUM, PAGES, QUERY
from tests.integration.test_offline_job import _namespace_problem

pytestmark = pytest.mark.integration
pytest.importorskip("mkdocs", reason="the docs tools are not installed (pip install -e '.[docs]')")
NO_CHROMIUM = "Debian chromium is not installed (scripts/setup.sh --dev installs it)"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from workbench.cli.docs import build_site

    return build_site(tmp_path_factory.mktemp("docs") / "site")


def _shots(tmp_path: Path) -> Path:
    out = Path(os.environ["WORKBENCH_TEST_ARTIFACTS"]) / "docs_browser" if os.environ.get("WORKBENCH_TEST_ARTIFACTS") \
        else tmp_path / "shots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_the_strict_build_has_every_section_and_the_generated_references(site):
    for page in ("index.html", "getting-started/quickstart.html", "scientists/model-card.html",
                 "data-teams/retunes.html", "stakeholders/demo.html", "genome/results.html", "security.html",
                 "troubleshooting.html", "architecture.html", "reference/cli.html", "reference/api/index.html",
                 "reference/api/workbench.config.html", "data_connectors/index.html",
                 "benchmarks/results/splice_recipes.html"):
        assert (site / page).is_file(), page
    config = (site / "reference" / "configuration.html").read_text()
    for anchor in ('id="classification-regression-train"', 'id="sft-train"', 'id="source-sql"'):
        assert anchor in config
    assert "max_steps" in config and "lora_alpha" in config
    assert "retune" in (site / "reference" / "cli.html").read_text()
    assert 'class="mermaid"' in (site / "architecture.html").read_text()
    assert not list(site.parent.glob(".site.*")), "the staging folder was left behind"


def _mutated_docs(tmp_path: Path, page_text: str) -> Path:
    """A copy of mkdocs.yml and docs/ whose home page is ``page_text`` (the packages linked, not copied)."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    for linked in ("workbench", "data_connectors", "benchmarks", "configs", "examples"):  # read by docs/hooks
        (root / linked).symlink_to(REPO / linked)
    (root / "docs" / "index.md").write_text(page_text)
    return root / "mkdocs.yml"


@pytest.mark.parametrize("bad,reported", [
    ("[a page that is not there](no-such-page.md) and [an anchor](troubleshooting.md#no-such-anchor)",
     ["no-such-page.md", "#no-such-anchor"]),
    ("::: workbench.no_such_module", ["workbench.no_such_module"]),
], ids=["broken-link-and-anchor", "missing-api-reference"])
def test_the_strict_build_fails_on_a_broken_link_or_reference(tmp_path, bad, reported):
    code = ("import sys; from workbench.cli.docs import DocsError, build_site\n"
            "try: build_site(__import__('pathlib').Path(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]))\n"
            "except DocsError as exc: print('DocsError:', exc); sys.exit(3)\n")
    config = _mutated_docs(tmp_path, f"# Home\n\n{bad}\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), str(config)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    output = done.stdout + done.stderr
    assert done.returncode == 3 and "DocsError: the documentation did not build" in output, output[-3000:]
    for text in reported:
        assert text in output, output[-3000:]
    assert not (tmp_path / "site").exists()


def _check_browse(result: dict) -> None:
    hosts = {urlsplit(url).hostname for url in result["requests"]}
    assert hosts == {"127.0.0.1"}, f"requests outside loopback: {sorted(hosts)}"
    assert len(result["titles"]) == len(PAGES) and all("Private fine-tuning workbench" in t for t in result["titles"])
    drawn, undrawn, height = result["mermaid_drawn"]
    assert drawn >= 1 and undrawn == 0 and height > 100, result["mermaid_drawn"]
    assert any("/assets/vendor/mermaid/mermaid.min.js" in url for url in result["requests"])
    hits = [hit for hit in result["search"] if "reference/configuration.html" in (hit["href"] or "")]
    assert hits and QUERY in hits[0]["text"], result["search"]


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_pages_open_search_finds_a_config_field_and_nothing_leaves_loopback(site, tmp_path):
    from tests.integration.docs_browser import browse

    out = _shots(tmp_path)
    _check_browse(browse(site, out))
    assert len(list(out.glob("*.png"))) == len(PAGES) + 1


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
@pytest.mark.skipif(_namespace_problem() is not None, reason=str(_namespace_problem()))
def test_the_site_reads_in_a_network_namespace_with_only_loopback(site, tmp_path):
    out = tmp_path / "netns"
    script = f"ip link set lo up && exec {sys.executable} {REPO / 'tests' / 'integration' / 'docs_browser.py'} {site} {out}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(key, None)
    done = subprocess.run(["unshare", "--net", "--", "sh", "-c", script], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_browse(json.loads((out / "result.json").read_text()))
