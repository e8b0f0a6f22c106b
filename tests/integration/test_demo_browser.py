"""The demo in a real browser (Debian's Chromium, headless, driven by Playwright): sign in, paste a sequence and
see the probability chart with class names, open the mutagenesis heat map, upload a FASTA and read the batch
table, trigger validation messages. Screenshots go to ``tests/artifacts/demo_browser/`` (git-ignored), or to
``$WORKBENCH_TEST_ARTIFACTS`` where set (``$WORKBENCH_SCREENSHOT_COPY``: a folder to copy them to as well).
``$WORKBENCH_TEST_DEMO_RUN`` serves that run directory (with ``label_names``) instead of a tiny one."""

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and Path(p).is_file()), None)
USER, PASSWORD = "browser-user", "Browser-Pw-9931"
SEQ = "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-features=Translate,OptimizationHints,MediaRouter"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    out = Path(os.environ.get("WORKBENCH_TEST_ARTIFACTS") or REPO / "tests" / "artifacts") / "demo_browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def served(splice_db, tiny_model_dir, tmp_path_factory):
    from workbench.serving.auth import Credentials, hash_password
    from workbench.serving.demo import serve
    from workbench.serving.limits import Limits

    given = os.environ.get("WORKBENCH_TEST_DEMO_RUN")  # a real run (e.g. SmolLM2 on splice) for the screenshots
    if given:
        run_dir = Path(given)
    else:
        cfg = tiny_run_config(splice_db, tiny_model_dir, tmp_path_factory.mktemp("browser_runs"), epochs=0.1)
        cfg["task"]["label_names"] = {"EI": "donor (exon-intron)", "IE": "acceptor (intron-exon)", "N": "neither"}
        run_dir = setup(validate_config(cfg), progress=False).run_dir
    creds = Credentials({USER: hash_password(PASSWORD, iterations=1000)}, "test")
    demo, url = serve(run_dir, host="127.0.0.1", port=0, block=False, credentials=creds,
                      limits=Limits(max_upload_mb=1.0))
    yield run_dir, url
    demo.close()


def close_toasts(page) -> None:
    """Dismisses the error toasts so they do not cover the next screenshot."""
    for button in page.locator(".toast-close").all():
        if button.is_visible():
            button.click()


def clear_upload(page) -> None:
    """Removes the file from the upload box (its clear button), if one is there."""
    clear = page.locator("#upload button[aria-label='Clear']")
    if clear.count():
        clear.first.click()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (scripts/setup.sh --dev installs it)")
def test_browser_user_signs_in_predicts_mutates_uploads(served, artifacts, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    _, url = served
    fasta = tmp_path / "three.fa"
    fasta.write_text(f">exon_intron_candidate\n{SEQ}\n>short_one\nACGTACGTACGTACGTACGT\n>third\n{SEQ[::-1]}\n")
    bad = tmp_path / "bad_header.fa"
    bad.write_text(">\nACGT\n")
    huge = tmp_path / "huge.fa"
    with open(huge, "wb") as handle:
        handle.write(b">big\n")
        handle.truncate(50 * 2**20)  # a 50 MB upload
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.get_by_label("username").fill(USER)
        page.get_by_label("password").fill(PASSWORD)
        page.screenshot(path=str(artifacts / "01_sign_in.png"))
        page.get_by_role("button", name="Login").click()

        page.locator("#sequence textarea").fill(SEQ)
        page.locator("#predict").click()
        expect(page.locator("#result")).to_contain_text("%", timeout=30_000)
        expect(page.locator("#chart img")).to_be_visible(timeout=30_000)
        expect(page.locator("#result")).to_contain_text("donor (exon-intron) [EI]")
        page.screenshot(path=str(artifacts / "02_probability_chart.png"), full_page=True)

        page.locator("#sequence textarea").fill("ACGTX")
        page.locator("#predict").click()
        expect(page.get_by_text("invalid letter(s) 'X' at 5").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(600)  # the toast slides in
        page.screenshot(path=str(artifacts / "03_validation_message.png"))
        close_toasts(page)

        page.get_by_role("tab", name="Mutagenesis").click()
        page.locator("#mut_sequence textarea").fill(SEQ)
        page.locator("#mutate").click()
        expect(page.locator("#heatmap img")).to_be_visible(timeout=60_000)
        expect(page.locator("#mut_summary")).to_contain_text("180 variants of a 60-nt sequence")
        page.screenshot(path=str(artifacts / "04_mutagenesis_heatmap.png"), full_page=True)
        close_toasts(page)

        page.get_by_role("tab", name="Batch").click()
        page.locator("#upload input[type=file]").set_input_files(str(bad))
        page.locator("#predict_batch").click()
        expect(page.get_by_text("the header '>' has no identifier").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(600)  # the toast slides in
        page.screenshot(path=str(artifacts / "05_upload_message.png"))
        close_toasts(page)
        clear_upload(page)
        page.locator("#upload input[type=file]").set_input_files(str(huge))
        expect(page.get_by_text("exceed the maximum allowed size").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(600)  # the toast slides in
        page.screenshot(path=str(artifacts / "05b_oversized_upload_message.png"))
        close_toasts(page)
        clear_upload(page)
        page.locator("#upload input[type=file]").set_input_files(str(fasta))
        page.locator("#predict_batch").click()
        expect(page.locator("#batch_table")).to_contain_text("exon_intron_candidate", timeout=30_000)
        expect(page.locator("#batch_table")).to_contain_text("short_one")
        expect(page.locator("#batch_status")).to_contain_text("Scored 3 sequences")
        expect(page.locator("#batch_table")).not_to_have_class(re.compile("pending"))
        page.wait_for_timeout(500)  # let the table's fade-in finish before the screenshot
        page.screenshot(path=str(artifacts / "06_batch_table.png"), full_page=True)

        page.get_by_role("tab", name="Model card").click()
        expect(page.get_by_text("Test-split results").first).to_be_visible()
        expect(page.get_by_text("Lineage").first).to_be_visible()
        page.screenshot(path=str(artifacts / "07_model_card.png"), full_page=True)
        browser.close()
    notes = os.environ.get("WORKBENCH_SCREENSHOT_COPY")
    if notes:
        Path(notes).mkdir(parents=True, exist_ok=True)
        for shot in artifacts.glob("*.png"):
            shutil.copy(shot, Path(notes) / shot.name)
