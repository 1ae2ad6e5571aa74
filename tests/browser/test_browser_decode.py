"""Explore decodes in the browser (issue 29): dragging a slider draws new frames with no server request, and the
page's pixels are the server's (max difference ≤ 1/255)."""
import re

import numpy as np
import pytest
from browser_page import launch


CANVAS = "#exp-bd-canvas"


def open_explore(p, url, args=()):
    """A Chromium page on the Explore tab with its first in-browser frame drawn."""
    browser = launch(p, *args)
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Explore").click()
    return browser, page


def canvas_state(page) -> dict:
    return page.evaluate("""() => { const c = document.querySelector('%s');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return {w: c.width, h: c.height, values: c.dataset.values || '', key: c.dataset.key || '',
                px: Array.from(d), frames: (window.imggenBD || {}).frames || 0,
                mode: (window.imggenBD || {}).mode}; }""" % CANVAS)


def drag(page, selector: str, seconds: float = 1.0, steps: int = 40) -> None:
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.45 * i / steps), y)
        page.wait_for_timeout(seconds * 1000 / steps)
    page.mouse.up()


def test_drag_decodes_in_the_page_with_server_pixels(app_url, artifacts):
    from playwright.sync_api import expect, sync_playwright

    from imggen.ui import browser_decode, common

    if not common.model_choices(capability="decode"):
        pytest.skip("no shipped generative model yet")
    with sync_playwright() as p:
        browser, page = open_explore(p, app_url)
        try:
            page.wait_for_function("() => { const c = document.querySelector('%s');"
                                   " return c && c.dataset.key; }" % CANVAS, timeout=120_000)
            expect(page.locator("#exp-bd .bd-note")).to_contain_text("browser", timeout=30_000)
            page.wait_for_timeout(1000)  # the page-open renders settle (a sync follows the sliders' first change)
            before = canvas_state(page)
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            drag(page, "#exp-s0 input[type=range]")
            during = list(requests)
            page.wait_for_timeout(200)
            after = canvas_state(page)
            assert not during, f"server requests during the drag: {during[:5]}"
            assert after["frames"] - before["frames"] >= 5, (before["frames"], after["frames"])
            assert after["px"] != before["px"] and after["values"] != before["values"]
            recipe = page.locator("#exp-recipe textarea, #exp-recipe input").first
            name = recipe.input_value().split(":")[0]
            vals = [float(v) for v in after["values"].split(",")]
            expect(recipe).to_have_value(f"{name}:0:" + ",".join(
                latent_fmt(v) for v in vals), timeout=30_000)  # the server's PNG + recipe once the drag rests
            server = browser_decode.server_pixels(name, 0, vals).numpy().astype(int)
            page_px = np.array(after["px"], dtype=int).reshape(after["h"], after["w"], 4)[..., :3]
            page_px = page_px[..., 0] if server.ndim == 2 else page_px
            assert page_px.shape == server.shape and np.abs(page_px - server).max() <= 1
            page.screenshot(path=str(artifacts / "explore_browser_decode.png"), full_page=True)
        finally:
            browser.close()


def latent_fmt(v: float) -> str:
    from imggen import latent

    return latent._fmt(v)


def test_without_webassembly_the_server_renders_and_says_so(app_url):
    from playwright.sync_api import expect, sync_playwright

    from imggen.ui import common

    if not common.model_choices(capability="decode"):
        pytest.skip("no shipped generative model yet")
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.add_init_script("delete window.WebAssembly;")
        try:
            page.goto(app_url, wait_until="domcontentloaded")
            page.get_by_role("tab", name="Explore").click()
            expect(page.locator("#exp-bd .bd-note")).to_contain_text("WebAssembly is unavailable", timeout=120_000)
            recipe = page.locator("#exp-recipe textarea, #exp-recipe input").first
            expect(recipe).to_have_value(re.compile(r":0:"), timeout=120_000)
            box = page.locator("#exp-s0 input[type=number]")
            box.fill("1.5")
            box.press("Enter")
            expect(recipe).to_have_value(re.compile(r":0:1\.5(,|$)"), timeout=60_000)
        finally:
            browser.close()


def test_colour_conditional_model_pixels_match(app_url):
    """A colour model with classes (RGB canvas, the label input): the page's pixels are the server's."""
    from playwright.sync_api import sync_playwright

    from imggen.ui import browser_decode, common

    name = next((n for n in ("cgan-emoji32", "vae-emoji32") if n in common.model_choices(capability="decode")), None)
    if name is None:
        pytest.skip("no colour model is registered")
    with sync_playwright() as p:
        browser, page = open_explore(p, app_url)
        try:
            page.wait_for_function("() => { const c = document.querySelector('%s');"
                                   " return c && c.dataset.key; }" % CANVAS, timeout=120_000)
            page.locator("#exp-model input").click()
            page.get_by_role("option", name=name, exact=True).click()
            page.wait_for_function("(n) => document.querySelector('%s').dataset.model === n" % CANVAS, arg=name,
                                   timeout=180_000)
            page.wait_for_timeout(1000)
            box = page.locator("#exp-s1 input[type=number]")
            box.fill("-1.75")
            box.press("Enter")
            page.wait_for_function("() => document.querySelector('%s').dataset.values.split(',')[1] === '-1.75'"
                                   % CANVAS, timeout=60_000)
            st = canvas_state(page)
            vals = [float(v) for v in st["values"].split(",")]
            server = browser_decode.server_pixels(name, 0, vals, 0 if "cgan" in name else None).numpy().astype(int)
            page_px = np.array(st["px"], dtype=int).reshape(st["h"], st["w"], 4)[..., :3]
            assert server.ndim == 3 and page_px.shape == server.shape and np.abs(page_px - server).max() <= 1
        finally:
            browser.close()
