"""Explore's sliders decoded in the browser (issue 29), in headless Chromium (Playwright) on `python app.py`:
per explorable model, the first-frame latency after picking it, frames drawn per second during a 2-s drag of
slider 1, server requests during the drag, and the download (the model's ONNX; the runtime once). Then the same
drag on the default model while 20 gradio_client visitors call /explore_update in a loop, and the server path
(WebAssembly removed from the page) for comparison.
    python -m bench.browser_sliders [--models a,b] [--visitors 20] -> bench/results/browser_sliders.{json,md}"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import RESULTS, machine, save
from bench.load import App

CHROMIUM = "/usr/bin/chromium"
ORT_DIR = Path(__file__).resolve().parents[1] / "imggen" / "ui" / "static" / "onnxruntime-web"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]


def wait_frame(page, name: str, timeout_ms: float = 180_000) -> str:
    """Wait for the page's first frame of model ``name``; its package key."""
    page.wait_for_function("(n) => { const c = document.querySelector('#exp-bd-canvas');"
                           " return c && c.dataset.model === n; }", arg=name, timeout=timeout_ms)
    return page.evaluate("() => document.querySelector('#exp-bd-canvas').dataset.key")


def pick(page, name: str) -> None:
    page.locator("#exp-model input").click()
    page.get_by_role("option", name=name, exact=True).click()


IN_PAGE_DRAG = """async ([seconds, hz]) => {  // slider 1 swept 0 -> 3 -> 0 by input events at hz, as a drag makes
    const el = document.querySelector('#exp-s0 input[type=range]');
    const f0 = window.imggenBD.frames, t0 = performance.now();
    let moves = 0;
    while (performance.now() - t0 < 1000 * seconds) {
        const ph = (performance.now() - t0) / (1000 * seconds);
        el.value = (Math.round(300 * (1 - Math.abs(1 - 2 * ph))) / 100).toFixed(2);
        el.dispatchEvent(new Event('input', {bubbles: true}));
        moves += 1;
        await new Promise((r) => setTimeout(r, 1000 / hz));
    }
    const s = (performance.now() - t0) / 1000;
    return {seconds: s, moves, frames: window.imggenBD.frames - f0};
}"""


def drag(page, seconds: float = 2.0, hz: float = 60.0) -> dict:
    """A 2-s drag of slider 1 (input events dispatched in the page); frames and server requests meanwhile, then
    the page's decode capacity."""
    page.wait_for_function("() => window.imggenBD && window.imggenBD.frames > 0", timeout=120_000)
    requests: list[str] = []
    listen = lambda r: requests.append(r.url)  # noqa: E731
    page.on("request", listen)
    d = page.evaluate(IN_PAGE_DRAG, [seconds, hz])
    page.remove_listener("request", listen)
    page.wait_for_timeout(500)
    cap = page.evaluate("() => window.imggenBD.capacity(1000)")  # with the visitors still running, under load
    return {**d, "fps": d["frames"] / d["seconds"], "capacity_fps": cap, "server_requests": len(requests),
            "request_urls": sorted(set(u.split("?")[0] for u in requests))[:5]}


def server_drag(browser, url: str, seconds: float = 2.0) -> dict:
    """Today's path: WebAssembly removed, every slider move is an /explore_update request; frames = PNGs shown."""
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.add_init_script("delete window.WebAssembly;")
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Explore").click()
    page.locator("#exp-bd .bd-note").filter(has_text="WebAssembly is unavailable").wait_for(timeout=120_000)
    page.locator("#exp-image img").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    page.evaluate("""() => { window._srcs = 0; const el = document.querySelector('#exp-image');
        new MutationObserver(() => { window._srcs++; }).observe(el, {subtree: true, attributes: true,
        attributeFilter: ['src']}); }""")
    joins: list[str] = []
    listen = lambda r: joins.append(r.url) if "queue/join" in r.url else None  # noqa: E731
    page.on("request", listen)
    d = page.evaluate(IN_PAGE_DRAG.replace("window.imggenBD.frames", "window._srcs"), [seconds, 60.0])
    page.remove_listener("request", listen)
    page.close()
    return {**d, "server_requests": len(joins), "fps": d["frames"] / d["seconds"]}


def visitors(url: str, n: int, name: str, seconds: float, work: str) -> None:
    """(Run in a child process, so the visitors' threads never slow the Playwright driver.) n gradio_client
    visitors, each calling /explore_update with changing slider values for ``seconds``; prints JSON figures."""
    from gradio_client import Client

    done: list[tuple[float, float]] = []  # (finished at, latency)
    stop = threading.Event()

    def run(k: int):
        c = Client(url, verbose=False, download_files=f"{work}/v{k}", analytics_enabled=False)
        j = 0
        while not stop.is_set():
            t = time.perf_counter()
            try:
                c.predict(name, k, 0, *[round(((j + s) % 7 - 3) * 0.5, 2) for s in range(8)],
                          api_name="/explore_update")
                done.append((time.perf_counter(), time.perf_counter() - t))
            except Exception:  # noqa: BLE001 - a failed call is simply not counted
                pass
            j += 1

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    lat = sorted(x for _, x in done)
    print(json.dumps({"calls": len(done), "calls_per_s": len(done) / (time.perf_counter() - t0),
                      "p50_s": lat[len(lat) // 2] if lat else None,
                      "p95_s": lat[int(0.95 * (len(lat) - 1))] if lat else None}), flush=True)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="", help="comma-separated (default: every explorable model)")
    ap.add_argument("--visitors", type=int, default=20)
    ap.add_argument("--out", default=str(RESULTS / "browser_sliders"))
    ap.add_argument("--visitor-run", nargs=4, metavar=("URL", "MODEL", "SECONDS", "DIR"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.visitor_run:
        url, model, seconds, work = a.visitor_run
        return visitors(url, a.visitors, model, float(seconds), work)
    from playwright.sync_api import sync_playwright

    from imggen import export

    names = [n for n in a.models.split(",") if n] or export.explorable()
    build = {}
    for n in names:  # the server builds each package once per weights (cached); timed here, cold or warm
        t = time.perf_counter()
        pkg = export.package(n)
        build[n] = {"package_s": time.perf_counter() - t, "onnx_bytes": pkg.onnx_bytes, "key": pkg.meta["key"]}
    runtime = {f.name: f.stat().st_size for f in ORT_DIR.iterdir() if f.suffix in (".js", ".mjs", ".wasm")}
    res = {"machine": machine(), "runtime_bytes": runtime, "runtime_total_bytes": sum(runtime.values()), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        app = App(Path(tmp), http_timeout_s=60)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1100})
                t = time.perf_counter()
                page.goto(app.url, wait_until="domcontentloaded")
                page.get_by_role("tab", name="Explore").click()
                page.wait_for_function("() => { const c = document.querySelector('#exp-bd-canvas');"
                                       " return c && c.dataset.key; }", timeout=180_000)
                res["page_open_first_frame_s"] = time.perf_counter() - t  # incl. the runtime's download + compile
                default = page.locator("#exp-model input").input_value()
                for n in names:
                    try:
                        first = None  # drawn at page open
                        if n != default:
                            page.wait_for_timeout(800)
                            t = time.perf_counter()
                            pick(page, n)
                            build[n]["page_key"] = wait_frame(page, n)
                            first = time.perf_counter() - t
                        page.wait_for_timeout(1000)  # the pick's server renders settle
                        res["models"][n] = {**build[n], "first_frame_s": first, "drag": drag(page)}
                    except Exception as e:  # noqa: BLE001 - one model's failure is reported, the rest still run
                        res["models"][n] = {**build[n], "error": f"{type(e).__name__}: {str(e)[:200]}"}
                    page.wait_for_timeout(600)
                last = names[-1]
                child = subprocess.Popen([sys.executable, "-m", "bench.browser_sliders", "--visitors",
                                          str(a.visitors), "--visitor-run", app.url, last, "14", tmp],
                                         cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
                time.sleep(8)  # the visitors connect and fill the queue
                loaded = drag(page)
                out, _ = child.communicate(timeout=120)
                vis = json.loads(out.strip().splitlines()[-1])
                res["under_load"] = {"visitors": a.visitors, "model": last, "drag": loaded,
                                     "visitor_calls_per_s": vis["calls_per_s"], "visitor_p50_s": vis["p50_s"],
                                     "visitor_p95_s": vis["p95_s"]}
                page.close()
                res["server_path"] = {"model": default, "drag": server_drag(browser, app.url)}
                browser.close()
        finally:
            app.close()
    save(a.out, res, markdown)
    print(markdown(res))
    return res


def markdown(r: dict) -> str:
    mb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    lines = [f"# Explore's sliders decoded in the browser (`python -m bench.browser_sliders`, {r['machine']})", "",
             "Headless Chromium (Playwright) on `python app.py`; a drag = slider 1 swept 0 → 3 → 0 for 2 s by "
             "`input` events at 60/s dispatched in the page (as a mouse drag makes them). Frames = images the page "
             "decoded (onnxruntime-web, WASM, one thread). Server requests = every HTTP request the page made during "
             "the drag. Decode capacity = back-to-back decodes + draws in the page for 1 s after the drag, the "
             "ceiling. The runtime (" + mb(r["runtime_total_bytes"]) +
             ": ort.wasm.min.js, ort-wasm-simd-threaded.mjs/.wasm) downloads once per browser; each model adds its "
             "ONNX file.", "",
             f"Page open → first in-browser frame (default model, runtime download and compile included): "
             f"{r['page_open_first_frame_s']:.2f} s", "",
             "Server build = the package's first build in this process (directions discovered first where the "
             "checkpoint changed since its cache, then the ONNX export; cached after).", "",
             "| model | ONNX download | server build (s) | first frame after picking (s) | frames/s during drag | "
             "frames / input events | decode capacity (frames/s) | server requests during drag |",
             "|---|---|---|---|---|---|---|---|"]
    for n, m in r["models"].items():
        if "error" in m:
            lines.append(f"| {n} | {mb(m['onnx_bytes'])} | {m['package_s']:.2f} | failed: {m['error'][:80]} | | | | |")
            continue
        d = m["drag"]
        ff = "page open" if m["first_frame_s"] is None else f"{m['first_frame_s']:.2f}"
        lines.append(f"| {n} | {mb(m['onnx_bytes'])} | {m['package_s']:.2f} | {ff} | {d['fps']:.1f} | "
                     f"{d['frames']} / {d['moves']} "
                     f"| {d['capacity_fps']:.0f} | {d['server_requests']} |")
    u = r["under_load"]
    d = u["drag"]
    lines += ["", f"**Under load** ({u['visitors']} gradio_client visitors calling /explore_update on {u['model']} "
              f"in a loop: {u['visitor_calls_per_s']:.1f} calls/s served, p50 {u['visitor_p50_s'] or 0:.2f} s, "
              f"p95 {u['visitor_p95_s'] or 0:.2f} s): the browser drag drew {d['fps']:.1f} frames/s "
              f"({d['frames']} frames for {d['moves']} input events; decode capacity {d['capacity_fps']:.0f} "
              "frames/s), "
              f"{d['server_requests']} server requests.", ""]
    s = r["server_path"]["drag"]
    lines += [f"**Server path** (WebAssembly removed from the page, {r['server_path']['model']}, no load): "
              f"{s['server_requests']} /explore_update requests during the 2-s drag ({s['moves']} input events), "
              f"{s['frames']} images shown "
              f"({s['fps']:.1f}/s).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
