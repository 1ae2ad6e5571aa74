"""Interpolate's scrub slider decodes in the browser (issue 29): dragging it draws frames with no server request,
the page's pixels at a t are the server's rendering of that latent (max difference ≤ 1/255), and without
WebAssembly the page shows the nearest rendered frame and says so."""

import numpy as np
import pytest

from browser_page import launch

from tests.browser.test_browser_decode import drag


CANVAS = "#int-scrub-canvas"
MODEL = "vae-mnist"


def open_walk(p, url, init_script=None):
    """Chromium on the Interpolate tab, vae-mnist from seed 0 to seed 1 (slerp, 12 frames) walked once."""
    browser = launch(p)
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    if init_script:
        page.add_init_script(init_script)
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#int-model input").click()
    page.get_by_role("option", name=MODEL, exact=True).click()
    page.locator("#int-btn").click()
    page.wait_for_function("() => { const c = document.querySelector('%s'); return c && c.dataset.model; }"
                           % CANVAS, timeout=120_000)
    return browser, page


def canvas_state(page) -> dict:
    return page.evaluate("""() => { const c = document.querySelector('%s');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return {w: c.width, h: c.height, t: c.dataset.t, mode: c.dataset.mode, px: Array.from(d),
                frames: (window.imggenScrub || {}).frames || 0,
                note: document.querySelector('#int-scrub-panel .bd-note').textContent}; }""" % CANVAS)


def endpoints():
    from imggen import registry
    from imggen.latent import seed_latent

    net = registry.load(MODEL).net
    return seed_latent(net, 0)[0], seed_latent(net, 1)[0]


def test_scrub_decodes_in_the_page_with_server_pixels(app_url, artifacts):
    from playwright.sync_api import sync_playwright

    from imggen.ui import common, interpolate_scrub

    if MODEL not in common.model_choices(capability="decode"):
        pytest.skip(f"{MODEL} is not shipped")
    with sync_playwright() as p:
        browser, page = open_walk(p, app_url)
        try:
            page.wait_for_function("() => document.querySelector('%s').dataset.mode === 'browser'" % CANVAS,
                                   timeout=60_000)
            page.wait_for_timeout(500)
            before = canvas_state(page)
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.locator("#int-scrub input[type=range]").scroll_into_view_if_needed()
            drag(page, "#int-scrub input[type=range]")
            during = list(requests)
            page.wait_for_timeout(300)
            after = canvas_state(page)
            assert not during, f"server requests while scrubbing: {during[:5]}"
            assert after["frames"] - before["frames"] >= 5, (before["frames"], after["frames"])
            assert after["px"] != before["px"] and after["t"] != before["t"] and "browser" in after["note"]
            a, b = endpoints()
            t = float(after["t"])
            assert 0.5 < t < 1 and abs(11 * t - round(11 * t)) > 1e-3  # between the rendered frames' k / 11
            server = interpolate_scrub.server_pixels(MODEL, a, b, "slerp", t).astype(int)
            page_px = np.array(after["px"], dtype=int).reshape(after["h"], after["w"], 4)[..., 0]
            assert page_px.shape == server.shape and np.abs(page_px - server).max() <= 1
            print(f"scrub: {after['frames'] - before['frames']} frames drawn, t={t}, "
                  f"max |page - server| = {np.abs(page_px - server).max()}")
            page.screenshot(path=str(artifacts / "interpolate_scrub.png"), full_page=True)
        finally:
            browser.close()


def test_without_webassembly_scrub_shows_the_nearest_rendered_frame(app_url):
    from playwright.sync_api import expect, sync_playwright

    from imggen.ui import common, interpolate_scrub

    if MODEL not in common.model_choices(capability="decode"):
        pytest.skip(f"{MODEL} is not shipped")
    with sync_playwright() as p:
        browser, page = open_walk(p, app_url, "delete window.WebAssembly;")
        try:
            note = page.locator("#int-scrub-panel .bd-note")
            expect(note).to_contain_text("WebAssembly is unavailable", timeout=30_000)
            expect(note).to_contain_text("nearest of the 12 rendered frames")
            box = page.locator("#int-scrub input[type=number]")
            box.fill("0.7")
            box.press("Enter")
            page.wait_for_function("() => document.querySelector('%s').dataset.t.startsWith('0.727')" % CANVAS,
                                   timeout=30_000)  # frame 9 of 12: t = 8/11
            st = canvas_state(page)
            a, b = endpoints()
            server = interpolate_scrub.server_pixels(MODEL, a, b, "slerp", 8 / 11).astype(int)
            page_px = np.array(st["px"], dtype=int).reshape(st["h"], st["w"], 4)[..., 0]
            assert st["mode"] == "frames" and np.abs(page_px - server).max() <= 1
        finally:
            browser.close()
