"""The Gradio demo: a prediction through gradio_client, the validation message, and a real browser."""

import shutil

import pytest

from tests.conftest import tiny_run_config
from workbench import setup, validate_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(splice_db, tiny_model_dir, tmp_path_factory):
    from workbench.serving.demo import serve

    out = tmp_path_factory.mktemp("demo_runs")
    run = setup(validate_config(tiny_run_config(splice_db, tiny_model_dir, out, epochs=0.1)), progress=False)
    demo, url = serve(run.run_dir, host="127.0.0.1", port=0, block=False)
    yield run, url
    demo.close()


def test_binds_loopback_without_share_link(served):
    _, url = served
    assert url.startswith("http://127.0.0.1:")


def test_prediction_through_gradio_client(served):
    from gradio_client import Client

    run, url = served
    client = Client(url, verbose=False)
    result = client.predict("CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG", api_name="/classify")
    labels = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(labels) == {"EI", "IE", "N"}
    assert sum(labels.values()) == pytest.approx(1.0, abs=1e-4)
    assert result["label"] == max(labels, key=labels.get)


def test_validation_message_for_invalid_letter(served):
    from gradio_client import Client

    _, url = served
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match=r"invalid letter\(s\) 'X' at 5"):
        client.predict("ACGTX", api_name="/classify")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (scripts/setup.sh --dev installs it as root)")
def test_browser_user_gets_prediction_and_error(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    _, url = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.goto(url)
        page.locator("#sequence textarea").fill("CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG")
        page.locator("#predict").click()
        expect(page.locator("#result")).to_contain_text("%", timeout=30_000)
        page.screenshot(path=str(tmp_path / "prediction.png"))
        page.locator("#sequence textarea").fill("ACGTX")
        page.locator("#predict").click()
        expect(page.get_by_text("invalid letter(s) 'X' at 5").first).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="Model card").click()
        expect(page.get_by_text("Test-split results").first).to_be_visible()
        browser.close()
