"""A real browser (Debian's chromium via Playwright): a PNG the page shows, downloaded as the visitor would get it
and dropped on the restore box from another tab, brings its tab back with the same settings and the same pixels."""
import io

import numpy as np
from browser_page import SLOW
from PIL import Image

from imggen.convert import read_recipe


def _png(page, selector: str) -> bytes:
    """The bytes of the image the page shows at ``selector`` (its download)."""
    src = page.locator(selector).get_attribute("src")
    return page.request.get(src).body()


def test_drop_a_png_restores_sample_bit_for_bit(page, tmp_path, artifacts):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Sample").click()
    seed = page.locator("#sample-seed input")
    seed.fill("4242")
    seed.press("Enter")
    page.locator("#sample-btn").click()
    expect(page.locator("#sample-info")).to_contain_text("Seed 4242", timeout=SLOW)
    page.wait_for_function("() => { const e = document.querySelector('#sample-grid img');"
                           " return e && e.complete && e.naturalWidth > 0 }", timeout=SLOW)
    data = _png(page, "#sample-grid img")
    recipe = read_recipe(Image.open(io.BytesIO(data)))
    assert recipe["seed"] == 4242 and recipe["tab"] == "sample", recipe  # the served PNG carries its recipe
    path = tmp_path / "grid.png"
    path.write_bytes(data)
    before = np.asarray(Image.open(path).convert("RGB"))
    old_src = page.locator("#sample-grid img").get_attribute("src")

    seed.fill("7")  # the visitor moves on, elsewhere
    seed.press("Enter")
    page.get_by_role("tab", name="Explore").click()
    page.locator("#restore-section").click()  # the accordion above the tabs
    page.locator("#restore-file input[type=file]").set_input_files(str(path))
    expect(page.locator("#restore-status")).to_contain_text("identical pixels", timeout=SLOW)
    expect(page.get_by_role("tab", name="Sample")).to_have_attribute("aria-selected", "true", timeout=SLOW)
    expect(seed).to_have_value("4242", timeout=SLOW)
    page.wait_for_function("old => { const e = document.querySelector('#sample-grid img');"
                           " return e && e.complete && e.naturalWidth > 0 && e.src !== old }",
                           arg=old_src, timeout=SLOW)  # made again: a new file, not the one shown before
    after = np.asarray(Image.open(io.BytesIO(_png(page, "#sample-grid img"))).convert("RGB"))
    assert np.array_equal(before, after)
    page.screenshot(path=str(artifacts / "restore-sample.png"), full_page=True)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_a_png_without_recipe_gets_a_clear_message(page, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "plain.png"
    Image.new("L", (40, 40), 255).save(path)
    if not page.locator("#restore-file").is_visible():
        page.locator("#restore-section").click()
    page.locator("#restore-file input[type=file]").set_input_files(str(path))
    expect(page.get_by_test_id("toast-body")).to_contain_text("no imggen recipe", timeout=SLOW)
