"""Interpolate tab: a latent walk between two endpoints (each a random seed, an upload or a drawing), as a strip
of frames, an animated GIF and an MP4; for 2-D latent models the latent-manifold map with the path drawn on it."""
from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import torch
from PIL import ImageDraw

from .. import registry, storage
from ..interpolate import (has_style_space, latent_walk, manifold_map, manifold_positions, mp4_available, to_gif,
                           to_mp4)
from ..convert import grid, pack_tensor, to_pil
from ..preprocess import model_input
from ..latent import seed_latent
from . import common, examples, interpolate_scrub

TITLE = "Interpolate"
ID = "interpolate"

SOURCES = ("Random seed", "Upload", "Drawing")
MAX_STEPS = 64
MAP_N = 15  # manifold map cells per axis
MAP_SCALE = 2


def endpoint(model, source: str, seed, upload, drawing):
    """-> latent code (D,) or image (C, H, W) in [0, 1], as interp.interpolate takes them."""
    if source == "Random seed":
        return seed_latent(model.net, common.to_seed(seed))[0]  # the prior's latent (an AE's fitted codes)
    if not hasattr(model.net, "encode"):
        raise ValueError(f"{model.name} has no encoder: use random seeds as endpoints for this model.")
    if source == "Upload":
        if not upload:
            raise ValueError("An endpoint is set to Upload but no file was uploaded.")
        return model_input(upload, model.config.channels, model.config.image_size)
    if not drawing or drawing.get("composite") is None:
        raise ValueError("An endpoint is set to Drawing but its canvas is empty.")
    return model_input(drawing["composite"], model.config.channels, model.config.image_size)


def _save(data: bytes, suffix: str) -> str:
    path = storage.output_file(suffix, prefix="imggen-walk-")  # removed after an hour (storage.OUTPUT_TTL_S)
    Path(path).write_bytes(data)
    return path


def manifold_with_path(model, codes: torch.Tensor, recipe: dict):
    """The decoded n x n grid of a 2-D latent space with the walk drawn over it (red line, green start, blue end)."""
    tiles = manifold_map(model, MAP_N)
    im = to_pil(grid(tiles, nrow=MAP_N, padding=0), scale=MAP_SCALE, recipe=recipe).convert("RGB")
    cell = model.config.image_size * MAP_SCALE
    pts = [(float(x) * cell, float(y) * cell) for x, y in manifold_positions(codes.cpu(), MAP_N)]
    d = ImageDraw.Draw(im)
    d.line(pts, fill=(255, 40, 40), width=3)
    for i, (x, y) in enumerate(pts):
        col = (40, 220, 40) if i == 0 else (60, 120, 255) if i == len(pts) - 1 else (255, 40, 40)
        r = 6 if i in (0, len(pts) - 1) else 3
        d.ellipse([x - r, y - r, x + r, y + r], fill=col)
    im.info.update({"imggen": to_pil(tiles[0], recipe=recipe).info["imggen"], "request": os.urandom(8).hex()})
    return im


def walk(model_name, a_source, a_seed, a_upload, a_drawing, b_source, b_seed, b_upload, b_drawing,
         mode: str, steps, fps, progress=gr.Progress()):
    """-> (strip PNG, GIF path, MP4 path, manifold map PNG or None, info markdown)."""
    return walk_and_scrub(model_name, a_source, a_seed, a_upload, a_drawing, b_source, b_seed, b_upload,
                          b_drawing, mode, steps, fps, progress)[:5]


def walk_and_scrub(model_name, a_source, a_seed, a_upload, a_drawing, b_source, b_seed, b_upload, b_drawing,
                   mode: str, steps, fps, progress=gr.Progress()):
    """:func:`walk`'s outputs + the scrub state (endpoint latents, path, class, rendered frames) for the page."""
    name = common.require_model(model_name)
    steps = common.whole_number(steps, "Steps", 2, MAX_STEPS)
    fps = common.number(fps, "Frames per second", 1, 30)
    a_seed, b_seed = common.to_seed(a_seed), common.to_seed(b_seed)  # a blank box: one random seed, recorded
    with common.user_errors():
        model = registry.load(name)
        a = endpoint(model, a_source, a_seed, a_upload, a_drawing)
        b = endpoint(model, b_source, b_seed, b_upload, b_drawing)
        progress(0.2, desc="decoding the walk")
        frames, codes = latent_walk(model, a, b, steps, mode)
    recipe = {"tab": "interpolate", "model": name, "mode": mode, "steps": steps, "fps": fps,
              "a": {"seed": common.to_seed(a_seed)} if a_source == "Random seed" else {"input": pack_tensor(a)},
              "b": {"seed": common.to_seed(b_seed)} if b_source == "Random seed" else {"input": pack_tensor(b)}}
    progress(0.6, desc="encoding GIF and MP4")
    strip = common.png_output(frames, recipe, scale=3, nrow=min(steps, 16))
    gif = _save(to_gif(frames, fps=fps, scale=8), ".gif")  # 224 px for 28-px frames, as large as the MP4
    mp4 = to_mp4(frames, fps=fps, scale=8) if mp4_available() else None  # a missing codec costs the MP4 alone
    mmap = manifold_with_path(model, codes, recipe) if model.config.latent_dim == 2 else None
    info = (f"{steps} frames, {mode}, |{'w' if mode == 'w' else 'z'}| from {codes[0].norm():.2f} to "
            f"{codes[-1].norm():.2f}"
            + (" — the map shows the decoded 2-D latent space; the path runs from green to blue." if mmap else "")
            + ("" if mp4 else " No MP4: this server lacks the imageio-ffmpeg package; the GIF has the same frames."))
    scrub = interpolate_scrub.state(name, codes, frames, mode)
    return strip, gif, mp4, mmap, info, scrub


PATHS = [("slerp (z)", "slerp"), ("lerp (z)", "lerp")]
STYLE_PATH = ("W: straight line between the styles (StyleGAN)", "w")


def path_choices(name):
    """Model picked: the W path is offered (and chosen) for a style-based model, else slerp / lerp in z."""
    try:
        style = bool(name) and has_style_space(registry.load(name))
    except Exception:  # an unloadable pick is reported when the walk runs, not here
        style = False
    return gr.Radio(choices=PATHS + [STYLE_PATH] if style else PATHS, value="w" if style else "slerp")


def _endpoint_inputs(tag: str):
    with gr.Column():
        gr.Markdown(f"**Endpoint {tag.upper()}**")
        src = gr.Radio(list(SOURCES), value="Random seed", label="Source", elem_id=f"int-{tag}-source")
        seed = common.seed_input(0 if tag == "a" else 1, elem_id=f"int-{tag}-seed")
        with gr.Accordion("Upload or draw", open=False):
            up = gr.File(label="Upload", file_types=["image"], type="filepath", elem_id=f"int-{tag}-upload")
            pad = gr.Sketchpad(label="Draw", image_mode="L", canvas_size=(280, 280), type="numpy",
                               elem_id=f"int-{tag}-pad")
    up.upload(lambda: "Upload", None, src, api_visibility="private", queue=False)
    return src, seed, up, pad


def render() -> None:
    gr.Markdown("Walk through a model's latent space between two endpoints. Images are encoded to their posterior "
                "means (the end frames are their reconstructions). Slerp follows the Gaussian shell; lerp goes straight; "
                "a StyleGAN walks straight through its style space W.")
    model = common.model_dropdown("Model", capability="decode", elem_id="int-model", prefer=("vae-mnist",))
    with gr.Row():
        a = _endpoint_inputs("a")
        b = _endpoint_inputs("b")
    with gr.Row():
        mode = gr.Radio(PATHS, value="slerp", label="Path", elem_id="int-mode")
        steps = gr.Slider(2, MAX_STEPS, value=12, step=1, label="Steps (frames)", elem_id="int-steps")
        fps = gr.Slider(1, 30, value=8, step=1, label="Frames per second", elem_id="int-fps")
    btn = gr.Button("Interpolate", variant="primary", elem_id="int-btn")
    ex = gr.Examples([[examples.path(x), "Upload", examples.path(y), "Upload"] for x, y in examples.PAIRS],
                     [a[2], a[0], b[2], b[0]], label="Examples: walk from one upload to another",
                     example_labels=[" → ".join(examples.labels(p)) for p in examples.PAIRS], **examples.KW,
                     elem_id="int-examples")
    inputs, boxes = [model, *a, *b, mode, steps, fps], [ex]
    if examples.COLOUR_MODEL in common.model_choices(capability="decode"):  # 😀 → 😡 with the colour VAE
        boxes.append(gr.Examples([[examples.COLOUR_MODEL, examples.path(x), "Upload", examples.path(y), "Upload"]
                           for x, y in examples.COLOUR_PAIRS], [model, a[2], a[0], b[2], b[0]],
                          label=f"Colour: walk from one emoji to another with {examples.COLOUR_MODEL}",
                          example_labels=[" → ".join(examples.labels(p)) for p in examples.COLOUR_PAIRS],
                          **examples.KW, elem_id="int-colour-examples"))
    strip = common.image_output("Frames", elem_id="int-strip")
    with gr.Row():
        video = gr.Video(label="MP4", elem_id="int-mp4", interactive=False)
        gif = gr.Image(label="Animated GIF", type="filepath", elem_id="int-gif", interactive=False,
                       buttons=["download", "fullscreen"])  # a file path is served as is: the GIF plays in the page
        mmap = common.image_output("Latent manifold (2-D models)", elem_id="int-map")
    info = gr.Markdown(elem_id="int-info")
    scrub, scrub_panel = interpolate_scrub.attach()  # the scrub slider decodes in the page
    outs = [strip, gif, video, mmap, info, scrub]
    model.change(path_choices, model, mode, api_visibility="private", queue=False)
    ev = [btn.click(walk_and_scrub, inputs, outs, api_name="interpolate")]
    ev += [box.load_input_event.then(walk_and_scrub, inputs, outs, api_visibility="private") for box in boxes]
    for e in ev:
        e.then(interpolate_scrub.package_json, scrub, scrub_panel, api_visibility="private", show_progress="hidden")
    return common.named(locals())
