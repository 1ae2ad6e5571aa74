"""The Gradio studio: one tab per capability (one module per tab), assembled by ``build_app``."""
from __future__ import annotations

import base64
from pathlib import Path

import gradio as gr

from .. import registry
from ..device import set_app_threads
from . import arena, common, models_tab, restore
from . import train_tab
from . import sample
from . import text2image
from . import interpolate, reconstruct
from . import complete as complete_tab, explore

# Each tab module has TITLE, ID and render(); add yours with one line ABOVE models_tab (kept last).
TABS = [
    sample,
    text2image,
    explore,
    complete_tab,
    reconstruct,
    interpolate,
    train_tab,
    arena,
    models_tab,
]

LOGO_PATH = Path(__file__).resolve().parents[2] / "assets" / "logo.png"
INTRO = ("Classic image generators — GANs, VAEs and friends — trained on small data, sampled, probed and "
         "measured on your CPU.")


def _header() -> None:
    logo = ""
    if LOGO_PATH.exists():
        b64 = base64.b64encode(LOGO_PATH.read_bytes()).decode()
        logo = f'<img id="logo-img" src="data:image/png;base64,{b64}" alt="imggen logo" width="48" height="48">'
    gr.HTML(f'<div class="imggen-header">{logo}<div><h1>imggen</h1><p>{INTRO}</p></div></div>', elem_id="header")


def build_app() -> gr.Blocks:
    """Build (not launch) the app; cheap: no training, no downloads."""
    common._ON_LOAD.clear()
    registry.set_visitor_resolver(common.visitor)  # each visitor sees shipped, published and their own models
    set_app_threads(reserve=1)  # the other core(s) train (imggen.jobs workers)
    train_tab.service()  # the job service and its janitor: leftovers removed, published models served, at start
    with gr.Blocks(title="imggen", delete_cache=(3600, 3600)) as demo:
        _header()
        drop, status = restore.render()
        io = {}  # tab ID -> {name: component}
        with gr.Tabs(elem_id="tabs") as tabs:
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.ID, elem_id=f"tab-{tab.ID}"):
                    io[tab.ID] = tab.render() or {}
        restore.wire(drop, status, tabs, io)
        demo.imggen_io = io  # for tests: each tab's components by name
        for fn, inputs, outputs in common._ON_LOAD:
            demo.load(fn, inputs, outputs, api_visibility="private", queue=False)
    demo.queue(max_size=32, default_concurrency_limit=2)
    return demo
