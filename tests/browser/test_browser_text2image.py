"""A real browser (Debian's chromium via Playwright) on the Text → image tab: a tiny text model (trained in seconds
before the page opens) picked, a prompt typed, Draw it pressed: the grid appears, a PNG carrying its recipe, and the
note lists the words the model never saw."""
import io

import pytest
from browser_page import SLOW, open_app
from PIL import Image

from imggen.convert import read_recipe
from tiny_text import train_tiny_text

NAME = "test-t2i-browser"


@pytest.fixture(scope="module")
def page(app_url, tmp_path_factory):
    """This module's page, opened once the tiny text model is registered (the pickers list it on load)."""
    train_tiny_text(tmp_path_factory.mktemp("t2i-browser"), NAME)
    with open_app(app_url, wait_ms=SLOW) as page:
        yield page


def test_type_a_prompt_and_an_image_appears_with_the_unknown_words(page, artifacts):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Text → image").click()
    model = page.locator("#t2i-model input")
    model.wait_for(timeout=SLOW)
    model.fill(NAME)
    model.press("Enter")
    expect(model).to_have_value(NAME, timeout=SLOW)
    prompt = page.locator("#t2i-prompt textarea")
    prompt.fill("a zorblax heart")
    n = page.locator("#t2i-n input[type=number]")
    n.fill("4")
    n.press("Enter")
    page.locator("#t2i-btn").click()
    info = page.locator("#t2i-info")
    expect(info).to_contain_text("Unknown words", timeout=SLOW)
    expect(info).to_contain_text("zorblax", timeout=SLOW)
    expect(info).to_contain_text(NAME, timeout=SLOW)
    page.wait_for_function("() => { const e = document.querySelector('#t2i-grid img');"
                           " return e && e.complete && e.naturalWidth > 0 }", timeout=SLOW)
    data = page.request.get(page.locator("#t2i-grid img").get_attribute("src")).body()
    recipe = read_recipe(Image.open(io.BytesIO(data)))
    assert recipe["tab"] == "text2image" and recipe["prompt"] == "a zorblax heart" and recipe["n"] == 4, recipe
    page.screenshot(path=str(artifacts / "text2image.png"), full_page=True)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors
