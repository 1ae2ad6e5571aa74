"""Interpolate's scrub slider decoded in the browser (issue 29): once a walk is made, the page gets its two
endpoint latents, the path (lerp or slerp), the class and the model's browser package (imggen.export, the same
ONNX slider decoder Explore runs, fed base = the latent at t and zero slider values). Dragging the scrub slider is
a JS-only event: the page computes the latent at t and decodes it with the shared code of static/bd_core.js.
Without WebAssembly, or for walks that graph cannot decode (StyleGAN's W path, a class mixture), the page shows
the nearest frame the server rendered, and says so."""
from __future__ import annotations

import base64
import io
import json

import gradio as gr
import torch

from .. import export, registry
from ..convert import to01, to_uint8
from ..interpolate import lerp, slerp
from . import browser_decode

JS = browser_decode.CORE + (browser_decode.STATIC / "interpolate_scrub.js").read_text()
TEMPLATE = ('<div class="bd"><canvas id="int-scrub-canvas" width="1" height="1"></canvas>'
            '<span class="bd-note">Make a walk, then drag the scrub slider: the frames are decoded in your '
            'browser.</span></div>')


def _png(frame: torch.Tensor) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(frame)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _class(net, codes: torch.Tensor, frames: torch.Tensor) -> tuple[int | None, str]:
    """The one class the browser decodes the walk with, or (None, why not). The walk decodes conditional models
    with the model's default labels (or interpolated ones): class 0 unless that differs from the server's frame."""
    if not getattr(net.config, "num_classes", 0):
        return 0, ""
    mid = len(codes) // 2
    with torch.no_grad():
        x = to01(net.decode(codes[mid:mid + 1], torch.zeros(1, dtype=torch.long))).cpu()
    if (x[0] - frames[mid]).abs().max() > 1e-5:
        return None, "This walk mixes classes, which the browser's decoder does not take"
    return 0, ""


def state(name: str, codes: torch.Tensor, frames: torch.Tensor, mode: str) -> dict:
    """What the page needs to scrub a walk (kept in a gr.State; :func:`package_json` sends it)."""
    net = registry.load(name).net
    label, why = (None, "The W path (StyleGAN) is not decoded in the browser") if mode == "w" else \
        _class(net, codes, frames)
    return {"model": name, "a": codes[0].tolist(), "b": codes[-1].tolist(), "mode": mode, "label": label,
            "why": why, "frames": [_png(f) for f in frames]}


def package_json(st: dict | None) -> str:
    """JSON for the scrub panel: the walk's endpoints and path, the browser package, the rendered frames."""
    if not st:
        return json.dumps(None)
    out = {"model": st["model"], "a": st["a"], "b": st["b"], "mode": st["mode"], "label": st["label"] or 0,
           "steps": len(st["frames"]), "frames": st["frames"], "browser": not st["why"], "reason": st["why"]}
    if out["browser"]:
        try:
            pkg = export.package(st["model"])
            m = pkg.meta
            out.update(url=browser_decode.file_url(pkg.onnx_path), ort_dir=browser_decode.file_url(
                browser_decode.ORT_DIR) + "/", key=m["key"], conditional=bool(m["num_classes"]),
                       num_sliders=m["num_sliders"], channels=m["channels"], height=m["height"], width=m["width"])
        except Exception as e:  # noqa: BLE001 - a decoder the exporter cannot write: the page shows rendered frames
            out.update(browser=False, reason=f"{st['model']} could not be exported for the browser ({e})")
    return json.dumps(out)


def attach():
    """The scrub panel and slider (rendered here) and the gr.State the walk fills; returns (state, panel)."""
    gr.set_static_paths([browser_decode.ORT_DIR, export.CACHE_DIR])
    export.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    st = gr.State(None)
    with gr.Group():
        panel = gr.HTML(json.dumps(None), html_template=TEMPLATE, css_template=browser_decode.CSS, js_on_load=JS,
                        label="Scrub (decoded in your browser)", elem_id="int-scrub-panel")
        scrub = gr.Slider(0, 1, value=0.5, step=0.001, label="Scrub t (0 = A, 1 = B)", elem_id="int-scrub")
    scrub.change(None, scrub, None, js="(t) => { window.imggenScrub && window.imggenScrub.draw(t); }")
    return st, panel


def server_pixels(name: str, a, b, mode: str, t: float, label: int | None = None):
    """The server's uint8 image of the latent at ``t`` on the path from ``a`` to ``b`` (for tests)."""
    net = registry.load(name).net
    z = (slerp if mode == "slerp" else lerp)(torch.as_tensor(a).float(), torch.as_tensor(b).float(),
                                             torch.tensor([float(t)]))
    lab = torch.full((1,), int(label), dtype=torch.long) if getattr(net.config, "num_classes", 0) else None
    with torch.no_grad():
        return to_uint8(to01(net.decode(z, lab) if lab is not None else net.decode(z))[0])
