"""A real browser (Debian's chromium via Playwright) on the Sample tab with a colour model (issue 27): the class picker
offers the emoji categories by name, and a picked category draws a colour grid whose captions name it."""
import io
import re

import numpy as np
import pytest
from browser_page import open_app, SLOW
from PIL import Image
from tiny_colour import train_tiny_colour

from imggen import registry


@pytest.fixture(scope="module")
def colour_cgan(tmp_path_factory):
    """A tiny conditional GAN on 32-px RGB emoji, registered for every visitor (the dropdown lists it on open)."""
    name = train_tiny_colour(tmp_path_factory.mktemp("colour-browser"), families=("cgan",))["cgan"]
    yield name
    registry.unregister(name, owner=None)


def test_sample_a_colour_model_by_category(app_url, colour_cgan, artifacts):
    from playwright.sync_api import expect

    with open_app(app_url, wait_ms=SLOW) as page:
        page.get_by_role("tab", name="Sample").click()
        expect(page.locator("#sample-info")).to_contain_text("samples from", timeout=SLOW)  # the page-open grid
        page.locator("#sample-model input").click()
        page.get_by_role("option", name=colour_cgan, exact=True).click()
        expect(page.locator("#sample-model input")).to_have_value(colour_cgan, timeout=SLOW)
        cls = page.locator("#sample-class input")
        smileys = page.get_by_role("option", name="Smileys & Emotion", exact=True)
        for _ in range(SLOW // 5_000):  # the picker gets the categories once the model change has come back
            cls.click()
            try:
                expect(smileys).to_be_visible(timeout=5_000)
                break
            except AssertionError:
                page.keyboard.press("Escape")  # still the digits: close the list and open it again
        expect(smileys).to_be_visible()
        page.get_by_role("option", name="Flags", exact=True).click()
        expect(cls).to_have_value("Flags")
        page.locator("#sample-btn").click()
        info = page.locator("#sample-info")
        expect(info).to_contain_text(colour_cgan, timeout=SLOW)
        expect(info).to_contain_text("class: Flags")
        expect(page.locator("#sample-gallery")).to_contain_text("#0 · Flags", timeout=SLOW)
        src = page.locator("#sample-grid img").first.get_attribute("src")
        grid = np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")).astype(int)
        assert _chroma(grid) > 0.02  # a colour grid, not grey digits
        page.screenshot(path=str(artifacts / "sample-colour.png"), full_page=True)
        assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def _colour_image(page, selector: str) -> np.ndarray:
    """The RGB pixels of the first loaded image under ``selector`` (its download)."""
    page.wait_for_function("sel => Array.from(document.querySelectorAll(sel + ' img')).some(e => e.complete && "
                           "e.naturalWidth > 0)", arg=selector, timeout=SLOW)
    src = page.locator(f"{selector} img").first.get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")).astype(int)


def _chroma(rgb: np.ndarray) -> float:
    """Share of pixels with a colour (max - min channel > 60): 0 for grey digits."""
    return float((rgb.max(2) - rgb.min(2) > 60).mean())


def test_colour_vae_in_reconstruct_interpolate_and_complete(page, artifacts):
    """The shipped colour VAE from the page: an emoji example reconstructs and walks (😀 → 😡) in colour, and a
    model sample is completed in colour."""
    from playwright.sync_api import expect

    from imggen.data import builtin_classes
    from imggen.ui import common, examples

    if examples.COLOUR_MODEL not in common.model_choices(capability="decode"):
        pytest.skip(f"{examples.COLOUR_MODEL} is not shipped")
    grin, pout = examples.labels(examples.COLOUR)

    page.get_by_role("tab", name="Reconstruct").click()
    box = page.locator("#rec-colour-examples")
    box.scroll_into_view_if_needed()
    box.get_by_text(grin, exact=True).click()
    expect(page.locator("#rec-info")).to_contain_text(examples.COLOUR_MODEL, timeout=SLOW)
    assert _chroma(_colour_image(page, "#rec-output")) > 0.05

    page.get_by_role("tab", name="Interpolate").click()
    box = page.locator("#int-colour-examples")
    box.scroll_into_view_if_needed()
    box.get_by_text(f"{grin} → {pout}", exact=True).click()
    expect(page.locator("#int-model input")).to_have_value(examples.COLOUR_MODEL, timeout=SLOW)
    expect(page.locator("#int-info")).to_contain_text("frames", timeout=SLOW)
    assert _chroma(_colour_image(page, "#int-strip")) > 0.05

    page.get_by_role("tab", name="Complete").click()
    page.locator("#cmp-model input").click()
    page.get_by_role("option", name=examples.COLOUR_MODEL, exact=True).click()
    expect(page.locator("#cmp-model input")).to_have_value(examples.COLOUR_MODEL, timeout=SLOW)
    page.wait_for_timeout(1000)  # the model change's own updates come back first
    page.locator("#cmp-go").click()
    cats = "|".join(re.escape(c) for c in builtin_classes("emoji32"))  # the emoji net reads the completions
    expect(page.locator("#cmp-info")).to_contain_text(re.compile(rf"completion 1\s*({cats})"), timeout=SLOW)
    assert _chroma(_colour_image(page, "#cmp-out")) > 0.05
    page.screenshot(path=str(artifacts / "complete-colour.png"), full_page=True)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors
