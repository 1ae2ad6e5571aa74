"""Interpolate's scrub slider decoded in the browser (issue 29), in headless Chromium (Playwright) on `python app.py`:
per model, a walk is made (seed 0 -> seed 1, 12 frames), then the scrub slider is swept 0 -> 1 -> 0 for 2 s by input
events at 60/s; frames drawn per second, server requests meanwhile, and the page's pixels against the server's
rendering of the same latent at the final t. Beside it in the same run, the fallback (WebAssembly removed from the
page): the nearest of the server's rendered frames.
    python -m imggen bench browser_scrub [--models a,b] -> bench/results/browser_scrub.{json,md}"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.browser_sliders import ARGS, CHROMIUM
from bench.common import RESULTS, machine, save
from bench.load import App

CANVAS = "#int-scrub-canvas"
SLIDER = "#int-scrub input[type=range]"
DEFAULT_MODELS = ("vae-mnist", "dcgan-mnist", "cgan-mnist", "stylegan-mnist", "vae-emoji32")

IN_PAGE_SCRUB = """async ([seconds, hz]) => {  // t swept 0 -> 1 -> 0 by input events at hz, as a drag makes them
    const el = document.querySelector('%s');
    const f0 = (window.imggenScrub || {}).frames || 0, t0 = performance.now();
    let moves = 0;
    while (performance.now() - t0 < 1000 * seconds) {
        const ph = (performance.now() - t0) / (1000 * seconds);
        el.value = (Math.round(1000 * (1 - Math.abs(1 - 2 * ph)) * 0.97 + 7) / 1000).toFixed(3);
        el.dispatchEvent(new Event('input', {bubbles: true}));
        moves += 1;
        await new Promise((r) => setTimeout(r, 1000 / hz));
    }
    const s = (performance.now() - t0) / 1000;
    return {seconds: s, moves, frames: window.imggenScrub.frames - f0};
}""" % SLIDER

STATE = """() => { const c = document.querySelector('%s'); const d = c.getContext('2d').getImageData(0, 0, c.width,
    c.height).data; return {w: c.width, h: c.height, t: c.dataset.t, mode: c.dataset.mode, px: Array.from(d)}; }""" % CANVAS


def walk(page, url: str, name: str) -> float:
    """Open the Interpolate tab, pick ``name``, make the default walk; seconds until the scrub's first frame."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#int-model input").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_timeout(800)
    t = time.perf_counter()
    page.locator("#int-btn").click()
    page.wait_for_function("(n) => { const c = document.querySelector('%s'); return c && c.dataset.model === n; }"
                           % CANVAS, arg=name, timeout=180_000)
    return time.perf_counter() - t


def scrub(page, seconds: float = 2.0) -> dict:
    requests: list[str] = []
    listen = lambda r: requests.append(r.url)  # noqa: E731
    page.locator(SLIDER).scroll_into_view_if_needed()
    page.on("request", listen)
    d = page.evaluate(IN_PAGE_SCRUB, [seconds, 60.0])
    page.remove_listener("request", listen)
    page.wait_for_timeout(400)
    return {**d, "fps": d["frames"] / d["seconds"], "server_requests": len(requests)}


def pixel_gap(page, name: str) -> tuple[float, int]:
    """Scrub to t = 0.537 (between rendered frames); the canvas's t and the largest |page - server| grey level there (the server renders the same latent)."""
    from imggen import registry
    from imggen.latent import seed_latent
    from imggen.ui import interpolate_scrub

    page.evaluate("(v) => { const el = document.querySelector('%s'); el.value = v;"
                  " el.dispatchEvent(new Event('input', {bubbles: true})); }" % SLIDER, "0.537")
    page.wait_for_function("() => document.querySelector('%s').dataset.t === '0.537'" % CANVAS, timeout=30_000)
    s = page.evaluate(STATE)
    net = registry.load(name).net
    a, b = seed_latent(net, 0)[0], seed_latent(net, 1)[0]
    t = float(s["t"])
    server = interpolate_scrub.server_pixels(name, a, b, "slerp", t).astype(int)
    px = np.array(s["px"], dtype=int).reshape(s["h"], s["w"], 4)[..., :3]
    px = px[..., 0] if server.ndim == 2 else px
    return t, int(np.abs(px - server).max()) if px.shape == server.shape else -1


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--out", default=str(RESULTS / "browser_scrub"))
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from imggen.ui import common

    names = [n for n in a.models.split(",") if n in common.model_choices(capability="decode")]
    res = {"machine": machine(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        app = App(Path(tmp), http_timeout_s=60)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                for n in names:
                    row = {}
                    for path, init in (("browser", None), ("frames", "delete window.WebAssembly;")):
                        page = browser.new_page(viewport={"width": 1600, "height": 1400})
                        if init:
                            page.add_init_script(init)
                        try:
                            first = walk(page, app.url, n)
                            d = scrub(page)
                            mode = page.evaluate("() => document.querySelector('%s').dataset.mode" % CANVAS)
                            why = page.locator("#int-scrub-panel .bd-note").text_content()
                            row[path] = {"first_frame_s": first, "mode": mode, "note": why, **d}
                            if mode == "browser":
                                row[path]["t"], row[path]["max_px_diff"] = pixel_gap(page, n)
                        except Exception as e:  # noqa: BLE001 - one failure is reported, the rest still run
                            row[path] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
                        finally:
                            page.close()
                    res["models"][n] = row
                browser.close()
        finally:
            app.close()
    save(a.out, res, markdown)
    print(markdown(res))
    return res


def markdown(r: dict) -> str:
    lines = [f"# Interpolate's scrub decoded in the browser (`python -m imggen bench browser_scrub`, {r['machine']})",
             "", "Headless Chromium on `python app.py`. Per model a walk (seed 0 → seed 1, slerp, 12 frames), then the "
             "scrub slider swept 0 → 1 → 0 for 2 s by `input` events at 60/s. *Browser*: the page computes the "
             "latent at t and decodes it (onnxruntime-web, WASM). *Frames*: WebAssembly removed from the page, it "
             "shows the nearest of the 12 frames the server rendered. Pixel gap = max |page − server| grey level "
             "at the final t (the server decodes the same latent).", "",
             "| model | path | walk → first scrub frame (s) | frames/s during scrub | frames / input events | "
             "server requests during scrub | pixel gap at t |", "|---|---|---|---|---|---|---|"]
    notes = []
    for n, row in r["models"].items():
        for path, d in row.items():
            if "error" in d:
                lines.append(f"| {n} | {path} | failed: {d['error'][:80]} | | | | |")
                continue
            if path == "browser" and d["mode"] != "browser":
                notes.append(f"- {n}: {d['note'].split(':')[0]}.")
            gap = f"{d['max_px_diff']} at t={d['t']:.3f}" if "max_px_diff" in d else "-"
            lines.append(f"| {n} | {path} ({d['mode']}) | {d['first_frame_s']:.2f} | {d['fps']:.1f} | "
                         f"{d['frames']} / {d['moves']} | {d['server_requests']} | {gap} |")
    if notes:
        lines += ["", "Walks the browser's decoder does not take (the page falls back to the rendered frames):", *notes]
    return "\n".join(lines + [""])


if __name__ == "__main__":
    main()
