"""A real browser trains a tiny DCGAN in the Train tab: Start, the fixed-seed grid changes, the model then shows up
in another tab's model list without a reload."""
import re

import pytest
from browser_page import launch

from imggen.ui import train_tab as tt


@pytest.fixture
def page(app_url, monkeypatch, tmp_path):
    from playwright.sync_api import sync_playwright

    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path)  # the app runs in this process
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 100)
    monkeypatch.setattr("imggen.ui.train_run.PRIOR_SAMPLES", 600)  # a tiny G's mixture: seconds
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(app_url, wait_until="domcontentloaded")  # not networkidle: the queue keeps connections open
        page.locator("gradio-app").wait_for()
        page.get_by_role("tab", name="Train").click()
        page.locator("#train-start").wait_for()
        yield page
        browser.close()


def _fill(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input").first
    box.fill(str(value))
    box.press("Enter")


def _fill_settings(page, values: dict) -> None:
    """Type the settings, then re-type any that a late page-load update reset (seen once in a full, busy suite:
    the typed Number values were back at the preset's when Start was clicked)."""
    for _ in range(3):
        for elem_id, value in values.items():
            _fill(page, elem_id, value)
        page.wait_for_timeout(500)
        lost = {k: v for k, v in values.items()
                if page.locator(f"#{k} input").first.input_value() != str(v)}
        if not lost:
            return
    raise AssertionError(f"settings did not stick: {lost}")


def test_start_streams_changing_grid(page, artifacts, app_url):
    from playwright.sync_api import expect

    page.get_by_text("Settings (filled by the preset").click()
    _fill_settings(page, {"train-max-images": 128, "train-width": 8, "train-latent": 16, "train-epochs": 3})
    page.locator("#train-name textarea, #train-name input").first.fill("browser-tiny")
    page.evaluate("""() => { window.gridSrcs = [];  // every distinct grid the page showed
        setInterval(() => { const im = document.querySelector('#train-grid img');
            if (im && im.src && !window.gridSrcs.includes(im.src)) window.gridSrcs.push(im.src); }, 30); }""")
    page.locator("#train-start").click()
    status = page.locator("#train-status textarea")
    expect(status).to_have_value(re.compile("finished after 12 steps"), timeout=150_000)
    assert len(page.evaluate("window.gridSrcs")) >= 2  # the grid changed from epoch to epoch
    page.screenshot(path=str(artifacts / "train-tab.png"), full_page=True)
    files = page.locator("#train-files")
    expect(files).to_contain_text(re.compile(r"browser-tiny\s*\.safetensors"))
    expect(files).to_contain_text(re.compile(r"browser-tiny-progress\s*\.gif"))

    page.get_by_text("After training a DCGAN: fit a latent mixture prior").click()  # the run gets a mixture prior
    page.locator("#train-prior").click()
    expect(status).to_have_value(re.compile("component latent mixture to 'browser-tiny'"), timeout=120_000)
    expect(page.locator("#train-warning")).to_contain_text("classifier FD")  # before / after, side by side
    page.screenshot(path=str(artifacts / "train-tab-prior.png"), full_page=True)

    page.get_by_role("tab", name="Explore").click()  # another tab sees the new model when its list opens
    dropdown = page.locator("#exp-model input").first
    dropdown.click()
    expect(page.get_by_role("option", name="browser-tiny")).to_be_visible(timeout=10_000)
    from gradio_client import Client  # ... and another visitor, at the same time, does not see it

    table, _, _ = Client(app_url, verbose=False, download_files=False).predict(None, api_name="/models_refresh")
    names = [row[0] for row in table["data"]]
    assert "dcgan-mnist" in names and "browser-tiny" not in names


def test_stop_resume_then_closing_the_browser_ends_the_job(page):
    """Stop keeps the model, Resume continues it; when the page goes away the server closes the generator (no
    zombie job), which saves the model."""
    import time

    from playwright.sync_api import expect

    import imggen

    page.get_by_text("Settings (filled by the preset").click()
    _fill_settings(page, {"train-max-images": 128, "train-width": 8, "train-latent": 16, "train-epochs": 50})
    page.locator("#train-name textarea, #train-name input").first.fill("browser-closed")
    status = page.locator("#train-status textarea")
    page.locator("#train-start").click()
    page.locator("#train-grid img").wait_for(timeout=150_000)  # the first epoch is done
    page.locator("#train-stop").click()
    expect(status).to_have_value(re.compile("stopped early by the user"), timeout=60_000)
    recipe = _recipe("browser-closed")
    steps = recipe["steps"]
    # the run's own plan (50 epochs of 128 images at batch 32 = 200 steps when the typed settings arrived in time)
    total = round(recipe["epochs_planned"] * steps / recipe["epochs"])
    page.locator("#train-resume").click()
    # running again, same plan (reading the images again can take as long as the first start on a loaded CI machine)
    expect(status).to_have_value(re.compile(rf"step \d+/{total}\b"), timeout=150_000)
    page.close()
    deadline = time.time() + 60
    while tt.service().status()["running"] and time.time() < deadline:
        time.sleep(0.2)
    assert not tt.service().status()["running"], "the training job kept running after the browser left"
    assert steps < _recipe("browser-closed")["steps"] < total


def _recipe(name: str) -> dict:
    """The recipe of the model a browser visitor saved as ``name`` (in that visitor's workspace, not ours)."""
    from imggen import checkpoint, registry

    paths = [p for (owner, n), p in registry.workspace_models().items() if n == name and owner is not None]
    assert len(paths) == 1, f"{name}: {paths}"
    return checkpoint.read_metadata(paths[0])["recipe"]


def test_fine_tune_a_shipped_model(page, artifacts):
    """Start from a shipped model's weights: picking it fills the family and its settings, and the run goes on
    from it under a new name whose card keeps both phases."""
    from playwright.sync_api import expect

    import imggen

    page.get_by_text("a trained model's weights (fine-tune)").click()
    pick = page.locator("#train-init input").first
    pick.wait_for()
    pick.click()
    page.get_by_role("option", name="vae-mnist", exact=True).click()
    latent = imggen.list_models()["vae-mnist"]["config"]["latent_dim"]
    expect(page.locator("#train-family input").first).to_have_value("VAE", timeout=10_000)
    page.get_by_text("Settings (filled by the preset").click()
    expect(page.locator("#train-latent input").first).to_have_value(str(latent))
    _fill_settings(page, {"train-max-images": 128, "train-epochs": 1})
    page.locator("#train-name textarea, #train-name input").first.fill("browser-finetuned")
    page.locator("#train-start").click()
    status = page.locator("#train-status textarea")
    expect(status).to_have_value(re.compile("finished after"), timeout=150_000)
    page.screenshot(path=str(artifacts / "train-tab-finetune.png"), full_page=True)
    rec = _recipe("browser-finetuned")
    assert rec["init"] == "vae-mnist" and rec["sessions"] >= 2
