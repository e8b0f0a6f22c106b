"""Opens the built documentation site in Chromium (Playwright) the way a reader would, and records what the pages
asked for: used by tests/integration/test_docs.py, directly and inside a network namespace with only loopback.

It serves SITE on 127.0.0.1 (``workbench.cli.docs.serve_site``), opens three pages (home, the architecture note with
its mermaid diagram, the generated configuration reference), searches for a config field, saves a screenshot of
each step into OUT, and writes ``OUT/result.json``: every URL requested, the pages' titles, the drawn diagrams (drawn, left undrawn,
height in px) and the search results.

Run as::

    python tests/integration/docs_browser.py SITE_DIR OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and Path(p).is_file()), None)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-features=Translate,OptimizationHints,MediaRouter"]
PAGES = ("index.html", "architecture.html", "reference/configuration.html")
QUERY = "max_steps"


def browse(site: Path, out: Path) -> dict:
    """Opens :data:`PAGES` and searches :data:`QUERY`; returns what was seen (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    from workbench.cli.docs import serve_site

    server = serve_site(site, 0)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    seen = {"base": base, "requests": [], "titles": [], "mermaid_drawn": None, "search": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: seen["requests"].append(request.url))
            for i, name in enumerate(PAGES, 1):
                page.goto(base + name, wait_until="networkidle")
                seen["titles"].append(page.title())
                if name == "architecture.html":  # Material swaps <pre class="mermaid"> for a drawn <div> (closed
                    drawn = page.locator("div.mermaid")  # shadow root holding the SVG) once mermaid has rendered it
                    drawn.first.wait_for(state="visible", timeout=30_000)
                    seen["mermaid_drawn"] = [drawn.count(), page.locator("pre.mermaid").count(),
                                             drawn.first.bounding_box()["height"]]
                page.screenshot(path=str(out / f"{i:02d}_{name.replace('/', '_').replace('.html', '')}.png"))
            page.goto(base + "index.html", wait_until="networkidle")
            page.locator("input.md-search__input").click()
            page.keyboard.type(QUERY, delay=50)  # as a reader types: the search listens to key events
            results = page.locator(".md-search-result__item")
            results.first.wait_for(state="visible", timeout=30_000)
            page.wait_for_timeout(500)  # let the result list settle
            seen["search"] = [{"text": item.inner_text(), "href": item.locator("a").first.get_attribute("href")}
                              for item in results.all()[:10]]
            page.screenshot(path=str(out / "04_search_max_steps.png"))
            browser.close()
    finally:
        server.shutdown()
    return seen


if __name__ == "__main__":
    site_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "result.json").write_text(json.dumps(browse(site_dir, out_dir), indent=1))
