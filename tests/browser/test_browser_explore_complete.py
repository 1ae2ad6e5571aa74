"""A real browser drives the Explore and Complete tabs: a slider moves the image, a completion appears."""
import re
from pathlib import Path

import pytest
from browser_page import launch


@pytest.fixture(scope="module")
def page(app_url):
    from imggen.ui import common

    if not common.model_choices(capability="decode"):
        pytest.skip("no shipped generative model yet")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.goto(app_url, wait_until="domcontentloaded")
        page.locator("gradio-app").wait_for()
        page.get_by_role("tab").first.wait_for(timeout=60_000)
        yield page
        browser.close()


def _src(page, sel: str) -> str:
    img = page.locator(f"{sel} img").first
    img.wait_for(timeout=120_000)
    return img.get_attribute("src")


def test_explore_slider_updates_image(page, artifacts):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Explore").click()
    recipe = page.locator("#exp-recipe textarea, #exp-recipe input").first
    expect(recipe).to_have_value(re.compile(r":0:"), timeout=120_000)  # rendered at page load
    before = _src(page, "#exp-image")
    box = page.locator("#exp-s0 input[type=number]")
    box.fill("2")
    box.press("Enter")
    expect(recipe).to_have_value(re.compile(r":0:2(,|$)"), timeout=60_000)
    expect(page.locator("#exp-image img").first).not_to_have_attribute("src", before, timeout=60_000)
    page.screenshot(path=str(artifacts / "explore.png"), full_page=True)


def test_complete_shows_completions(page, artifacts):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Complete").click()
    expect(page.locator("#cmp-info")).to_contain_text("completion 4", timeout=180_000)  # the page-open view
    before = _src(page, "#cmp-out")
    page.locator("#cmp-go").click()
    expect(page.locator("#cmp-out img").first).not_to_have_attribute("src", before, timeout=180_000)  # made again
    expect(page.locator("#cmp-info")).to_contain_text("completion 4")
    assert _src(page, "#cmp-masked")
    page.screenshot(path=str(artifacts / "complete.png"), full_page=True)


def test_style_mixing_grid(page, artifacts):
    """Explore → Style mixing: the shipped style-based GAN mixes the default seeds into a grid."""
    from playwright.sync_api import expect

    from imggen.ui import common

    if not common.model_choices(capability="mix"):
        pytest.skip("no style-based model is registered")
    page.get_by_role("tab", name="Explore").click()
    page.get_by_text("Style mixing (style-based GANs)").click()
    expect(page.locator("#mix-layers input[type=checkbox]").first).to_be_checked(timeout=60_000)  # coarsest ticked
    page.locator("#mix-go").click()
    expect(page.locator("#mix-info")).to_contain_text("styles from its column's seed", timeout=120_000)
    assert _src(page, "#mix-image")
    page.screenshot(path=str(artifacts / "style-mixing.png"), full_page=True)


def test_pixel_gpt_completes_a_digit(page, artifacts):
    """Complete with the pixel GPT: the auto method resolves to gpt and the completions appear."""
    from playwright.sync_api import expect

    from imggen.ui import common

    if "pixelgpt-mnist" not in common.model_choices(capability="decode|complete"):
        pytest.skip("pixelgpt-mnist is not shipped")
    page.get_by_role("tab", name="Complete").click()
    page.locator("#cmp-model input").click()
    page.get_by_role("option", name="pixelgpt-mnist").click()
    page.locator("#cmp-go").click()
    expect(page.locator("#cmp-info")).to_contain_text("Method: gpt", timeout=180_000)
    assert _src(page, "#cmp-out")
    page.screenshot(path=str(artifacts / "complete-gpt.png"), full_page=True)


def test_explore_upload_inverted_then_edited_with_a_slider(page, artifacts):
    """Start from your digit: upload a photo, Invert (the default GAN optimises), then a labelled slider edits the
    inverted digit; the recipe the page shows makes the same pixels again."""
    import io

    import numpy as np
    from PIL import Image
    from playwright.sync_api import expect

    from imggen.convert import read_recipe
    from imggen.ui import explore

    photo = Path(__file__).resolve().parents[2] / "assets" / "examples" / "photo-3-ruled.jpg"
    if not photo.exists():
        pytest.skip("assets/examples/photo-3-ruled.jpg is missing")
    page.get_by_role("tab", name="Explore").click()
    recipe = page.locator("#exp-recipe textarea, #exp-recipe input").first
    expect(recipe).to_have_value(re.compile(r"^[\w.-]+:\d+:"), timeout=120_000)
    _open_digit_section(page)
    page.locator("#exp-upload input[type=file]").set_input_files(str(photo))
    expect(page.locator("#exp-source input[value=Upload]")).to_be_checked(timeout=60_000)
    page.locator("#exp-invert").click()
    expect(page.locator("#exp-inv-note")).to_contain_text("PSNR", timeout=180_000)
    expect(recipe).to_have_value(re.compile(r":z=[A-Za-z0-9+/=]+:(c\d:)?0(,0)*$"), timeout=60_000)
    assert _src(page, "#exp-compare")
    before = _src(page, "#exp-image")
    page.screenshot(path=str(artifacts / "explore-inverted.png"), full_page=True)
    label = page.locator("#exp-s0 input[type=number]").get_attribute("aria-label") or ""
    assert "r=" in label or "no measured change" in label, label  # a labelled slider
    box = page.locator("#exp-s0 input[type=number]")
    box.fill("1")
    box.press("Enter")
    expect(recipe).to_have_value(re.compile(r":z=[A-Za-z0-9+/=]+:(c\d:)?1(,|$)"), timeout=60_000)
    img = page.locator("#exp-image img").first
    expect(img).not_to_have_attribute("src", before, timeout=60_000)
    page.screenshot(path=str(artifacts / "explore-inverted-edited.png"), full_page=True)
    shown = Image.open(io.BytesIO(page.request.get(img.get_attribute("src")).body()))
    rec = read_recipe(shown)
    assert rec["seed"] is None and rec["latent"] and rec["values"][0] == 1.0
    again = explore.apply_recipe(recipe.input_value())[3 + explore.NUM]  # the recipe text the page shows
    assert np.array_equal(np.asarray(again.convert("L")), np.asarray(shown.convert("L")))


def _open_digit_section(page) -> None:
    if not page.locator("#exp-invert").is_visible():
        page.locator("#exp-digit-section").get_by_text("Start from your digit").click()
    page.locator("#exp-invert").wait_for(timeout=30_000)


def test_explore_example_click_inverts_it(page, artifacts):
    """One click on an example photo under the upload: it is inverted into the picked model (vae-mnist here)."""
    from playwright.sync_api import expect

    from imggen.ui import common

    if "vae-mnist" not in common.model_choices(capability="decode"):
        pytest.skip("vae-mnist is not shipped")
    page.get_by_role("tab", name="Explore").click()
    recipe = page.locator("#exp-recipe textarea, #exp-recipe input").first
    _open_digit_section(page)
    page.locator("#exp-back").click()  # seed mode (an earlier test may have left an inverted digit)
    expect(recipe).to_have_value(re.compile(r"^[\w.-]+:\d+:"), timeout=60_000)
    expect(page.locator("#exp-inv-note")).not_to_contain_text("PSNR", timeout=30_000)
    page.locator("#exp-model input").click()
    page.get_by_role("option", name="vae-mnist", exact=True).click()
    expect(recipe).to_have_value(re.compile(r"^vae-mnist:\d+:"), timeout=120_000)
    box = page.locator("#exp-examples")
    box.scroll_into_view_if_needed()
    box.get_by_text("photo: 7 in a shadow", exact=True).click()
    expect(page.locator("#exp-source input[value='Upload']")).to_be_checked(timeout=30_000)
    expect(page.locator("#exp-inv-note")).to_contain_text("encoder", timeout=120_000)
    expect(recipe).to_have_value(re.compile(r"^vae-mnist:z="), timeout=60_000)
    page.screenshot(path=str(artifacts / "explore-example-inverted.png"), full_page=True)
