"""Explore's sliders decoded in the browser (issue 29): the model's slider decoder as ONNX (imggen.export) runs in
the page with onnxruntime-web, vendored under static/onnxruntime-web (scripts/vendor_onnxruntime_web.sh) and
served by the app. Dragging a slider is a JS-only event: the page computes base + scale·α·V and decodes locally;
the server sends the package when the model, seed, class or inverted digit changes and renders the PNG + recipe
once the sliders rest. Without WebAssembly every move goes to the server, as before, and the panel says so."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import torch

from .. import export, latent
from . import common

STATIC = Path(__file__).resolve().parent / "static"
ORT_DIR = STATIC / "onnxruntime-web"
CORE = (STATIC / "bd_core.js").read_text()  # runtime, sessions, decode, latentAt: shared with Interpolate's scrub
JS = CORE + (STATIC / "browser_decode.js").read_text()
TEMPLATE = ('<div class="bd"><canvas id="exp-bd-canvas" width="1" height="1"></canvas>'
            '<span class="bd-note">Loading the in-browser decoder…</span></div>')
CSS = ("canvas { width: 224px; height: 224px; image-rendering: pixelated; background: #000; display: block; } "
       ".bd-note { font-size: 0.85em; opacity: 0.8; }")


def file_url(path: Path) -> str:
    """The URL Gradio serves a static file (or, with a trailing /, a folder's files) under."""
    return f"/gradio_api/file={Path(path).resolve()}"


def package_info(name, seed, label, inv) -> str:
    """JSON for the page: the model's ONNX URL and shapes, the latent the sliders move from, the class."""
    if not name:
        return json.dumps(None)
    with common.user_errors():
        name = common.require_model(name)
        ex = latent.explorer(name)
        start = inv["z"] if inv and inv.get("model") == name else common.to_seed(seed)
        base = ex.base(start)
    try:
        pkg = export.package(name)
    except Exception as e:  # noqa: BLE001 - a decoder the exporter cannot write: the page falls back to the server
        return json.dumps({"model": name, "error": f"{name} could not be exported for the browser ({e})"})
    m = pkg.meta
    klass = (inv.get("label") if inv and inv.get("model") == name and inv.get("label") is not None else label)
    try:
        klass = int(klass or 0) if ex.num_classes else 0
    except (TypeError, ValueError):
        klass = 0
    return json.dumps({"url": file_url(pkg.onnx_path), "ort_dir": file_url(ORT_DIR) + "/", "model": name,
                       "key": m["key"], "base": base[0].tolist(), "label": klass, "conditional": bool(ex.num_classes),
                       "num_sliders": m["num_sliders"], "channels": m["channels"], "height": m["height"],
                       "width": m["width"], "bytes": pkg.onnx_bytes})


def attach(model, seed, cls, inverted, sliders, image) -> gr.HTML:
    """The live panel, placed just above ``image`` in its column; slider changes are JS-only. Returns the panel:
    its ``submit`` (fired by the page once the sliders rest, or on every move without WebAssembly) is the event
    Explore renders the PNG + recipe on."""
    gr.set_static_paths([ORT_DIR, export.CACHE_DIR])
    export.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    panel = gr.HTML(json.dumps(None), html_template=TEMPLATE, css_template=CSS, js_on_load=JS,
                    label="Live (decoded in your browser)", elem_id="exp-bd", render=False)
    col = image.parent
    with col:
        panel.render()
    col.children.insert(col.children.index(image), col.children.pop())  # above the server's PNG
    keys = [model, seed, cls, inverted]
    gr.on([model.change, seed.change, cls.change, inverted.change], package_info, keys, panel,
          show_progress="hidden", api_name="explore_package", trigger_mode="always_last")
    common.on_load(package_info, keys, [panel])
    for s in sliders:  # no fn: runs in the page only
        s.change(None, sliders, None, js="(...v) => { window.imggenBD && window.imggenBD.draw(v); }")
    return panel


def server_pixels(name: str, seed: int, values, label=None) -> torch.Tensor:
    """The server's uint8 image for the same state, (H, W) or (H, W, 3) (for tests and the bench)."""
    from ..convert import to_uint8

    ex = latent.explorer(name)
    return torch.from_numpy(to_uint8(ex.render(seed, values, label)[0]))
