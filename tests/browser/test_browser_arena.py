"""A real browser (Debian's chromium via Playwright) on the Arena tab: its grid is there on open, and "Open in
Sample/Explore" switches tabs with the model selected."""
import re

from browser_page import SLOW

from imggen import arena
from imggen.ui import common


def _pick(page, elem_id: str, name: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=name, exact=True).click()


def test_arena_shows_every_shipped_generator_on_open(page, artifacts):
    from playwright.sync_api import expect

    shipped = arena.default_pick(common.model_choices(capability="sample"))
    page.get_by_role("tab", name="Arena").click()  # only the tab: no Generate
    expect(page.locator("#arena-info")).to_contain_text(f"Seed {arena.DEFAULT_SEED}", timeout=SLOW)
    imgs = page.locator("#arena-gallery img")
    expect(imgs).to_have_count(len(shipped), timeout=SLOW)
    page.wait_for_function("n => Array.from(document.querySelectorAll('#arena-gallery img'))"
                           ".filter(e => e.complete && e.naturalWidth > 0).length >= n",
                           arg=len(shipped), timeout=SLOW)
    for name in shipped:
        expect(page.locator("#arena-table")).to_contain_text(name)
    expect(page.locator("#arena-info")).to_contain_text("show the classes 0, 1, … 9 in turn")
    page.screenshot(path=str(artifacts / "arena.png"), full_page=True)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_generate_measures_again_with_a_new_seed(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Arena").click()
    seed = page.locator("#arena-seed input")
    seed.fill("7")
    seed.press("Enter")
    page.locator("#arena-btn").click()
    expect(page.locator("#arena-info")).to_contain_text("Seed 7", timeout=SLOW)
    shipped = arena.default_pick(common.model_choices(capability="sample"))
    expect(page.locator("#arena-info")).to_contain_text(f"{len(shipped)} models,", timeout=SLOW)  # all streamed
    expect(page.locator("#arena-info")).to_contain_text("this call")
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors


def test_open_in_sample_and_explore(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Arena").click()
    expect(page.locator("#arena-open input")).to_have_value(re.compile(r"\S"), timeout=SLOW)  # filled on open
    seed = page.locator("#arena-seed input").input_value()  # whatever an earlier test left: it goes along
    _pick(page, "arena-open", "vae-mnist")
    page.locator("#arena-open-sample").click()
    expect(page.get_by_role("tab", name="Sample")).to_have_attribute("aria-selected", "true", timeout=SLOW)
    expect(page.locator("#sample-model input")).to_have_value("vae-mnist", timeout=SLOW)
    expect(page.locator("#sample-seed input")).to_have_value(seed)

    page.get_by_role("tab", name="Arena").click()
    _pick(page, "arena-open", "dcgan-mnist")
    page.locator("#arena-open-explore").click()
    expect(page.get_by_role("tab", name="Explore")).to_have_attribute("aria-selected", "true", timeout=SLOW)
    expect(page.locator("#exp-model input")).to_have_value("dcgan-mnist", timeout=SLOW)
    assert page.get_by_test_id("toast-body").count() == 0 and not page.errors, page.errors
