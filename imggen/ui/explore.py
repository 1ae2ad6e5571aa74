"""Explore tab: sliders along discovered latent directions (GANSpace, SeFa, InterFaceGAN), labelled by the
measured attribute each changes most; live updates, a sweep grid and a shareable recipe."""
from __future__ import annotations

import gradio as gr
import torch

from .. import latent
from . import common

TITLE = "Explore"
ID = "explore"

NUM = latent.NUM_SLIDERS
SPAN = latent.SLIDER_SPAN
STEP = 10 ** -latent.ROUND  # sliders move in the steps a recipe can write exactly


def _values(values) -> list[float]:
    out = []
    for v in values:
        try:
            out.append(float(v or 0.0))
        except (TypeError, ValueError):
            raise gr.Error(f"Slider values must be numbers, not {v!r}.") from None
    if any(abs(v) > SPAN for v in out):
        raise gr.Error(f"Slider values must be between {-SPAN:g} and {SPAN:g}.")
    return out


def _label(ex: latent.Explorer, label):
    if not ex.num_classes:
        return None
    try:
        return int(label or 0)
    except (TypeError, ValueError):
        raise gr.Error(f"The class must be a whole number, not {label!r}.") from None


def _explorer(name) -> latent.Explorer:
    with common.user_errors():
        return latent.explorer(common.require_model(name))


def _image(ex: latent.Explorer, name: str, seed: int, values: list[float], label):
    img = ex.render(seed, values, label)
    recipe = latent.make_recipe(name, seed, values[:ex.num_sliders], label)
    png = common.png_output(img[0], {"tab": "explore", "recipe": recipe, "model": name, "seed": seed,
                                     "class": label, "values": values[:ex.num_sliders]}, scale=8)
    return png, recipe


def update(name, seed, label, *values):
    """One decoder pass: (PNG with recipe, recipe text)."""
    ex = _explorer(name)
    with common.user_errors():
        return _image(ex, name, common.to_seed(seed), _values(values), _label(ex, label))


def describe(ex: latent.Explorer) -> str:
    d = ex.dirs
    rows = "\n".join(f"| {k + 1} | {d.label(i)} | {d.names[i]} | {d.effect[i]:.2f} |" for k, i in enumerate(d.sliders))
    return ("Directions found once per model (GANSpace = PCA of early features, SeFa = first-layer weights, "
            "boundary = InterFaceGAN for a measured attribute); each is labelled by the attribute it changes most "
            "over a sweep, *r* = correlation with the step, *effect* = change per slider unit in spreads of that "
            "attribute over samples.\n\n| slider | label | found by | effect |\n|---|---|---|---|\n" + rows)


def load_model(name, seed, label, *values, progress=gr.Progress()):
    """Model picked: compute/load its directions, relabel the sliders, render."""
    progress(0, desc="Finding latent directions (once per model, cached next to the checkpoint)")
    ex = _explorer(name)
    labels = ex.dirs.slider_labels()
    sliders = [gr.update(label=labels[k] if k < len(labels) else f"slider {k + 1}", visible=k < len(labels))
               for k in range(NUM)]
    cls = gr.update(visible=bool(ex.num_classes), maximum=max(ex.num_classes - 1, 0))
    label = _label(ex, label) if ex.num_classes else None
    if label is not None and not 0 <= label < ex.num_classes:
        label = 0
    png, recipe = _image(ex, name, common.to_seed(seed), _values(values), label)
    which = gr.update(choices=[(f"{k + 1}: {lab}", k) for k, lab in enumerate(labels)], value=0)
    return (*sliders, cls, which, describe(ex), png, recipe)


def reset(name, seed, label):
    """All sliders back to 0 (and the image for them)."""
    png, recipe = update(name, seed, label, *[0.0] * NUM)
    return (*[0.0] * NUM, png, recipe)


def sweep(name, seed, label, index, *values):
    """A grid sweeping one slider over its range, the others as set."""
    ex = _explorer(name)
    vals = _values(values)
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise gr.Error("Pick a slider to sweep.") from None
    seed = common.to_seed(seed)
    with common.user_errors():
        imgs = ex.sweep(seed, vals, index, steps=9, label=_label(ex, label))
    recipe = latent.make_recipe(name, seed, vals[:ex.num_sliders], _label(ex, label))
    return common.png_output(imgs, {"tab": "explore", "sweep": index, "recipe": recipe}, scale=4, nrow=len(imgs))


def apply_recipe(text):
    """Recipe text -> model, seed, class, slider values and the exact image it describes."""
    with common.user_errors():
        r = latent.parse_recipe(text)
    ex = _explorer(r["model"])
    if len(r["values"]) > ex.num_sliders:
        raise gr.Error(f"This recipe has {len(r['values'])} values; {r['model']} has {ex.num_sliders} sliders.")
    vals = _values(r["values"]) + [0.0] * (NUM - len(r["values"]))
    label = r["label"] if ex.num_classes else None
    png, recipe = _image(ex, r["model"], r["seed"], vals, label)
    return (r["model"], r["seed"], label or 0, *vals, png, recipe)


def render() -> None:
    gr.Markdown("Move through a generator's latent space along directions found automatically and labelled by "
                "what they change (stroke thickness, slant, width, height, ink, digit class). The image updates "
                "while you drag; the recipe below reproduces it exactly.")
    with gr.Row():
        with gr.Column(scale=1):
            model = common.model_dropdown("Model", capability="decode", elem_id="exp-model",
                                          prefer=("dcgan-mnist", "vae-mnist"))
            seed = common.seed_input(0, elem_id="exp-seed")
            cls = gr.Number(value=0, precision=0, minimum=0, maximum=9, label="Class (conditional models)",
                            visible=False, elem_id="exp-class")
            sliders = [gr.Slider(-SPAN, SPAN, value=0.0, step=STEP, label=f"slider {k + 1}", elem_id=f"exp-s{k}")
                       for k in range(NUM)]
            reset_btn = gr.Button("Reset sliders", elem_id="exp-reset")
        with gr.Column(scale=1):
            image = common.image_output("Image (PNG with its recipe)", elem_id="exp-image", height=320)
            with gr.Row(equal_height=True):
                recipe = gr.Textbox(label="Recipe (copy to share, paste to reproduce)", elem_id="exp-recipe",
                                    scale=4, max_lines=1)
                apply_btn = gr.Button("Apply recipe", elem_id="exp-apply", scale=1)
            with gr.Row(equal_height=True):
                which = gr.Dropdown(choices=[(f"slider {k + 1}", k) for k in range(NUM)], value=0,
                                    label="Sweep slider", elem_id="exp-which", scale=3)
                sweep_btn = gr.Button("Sweep", elem_id="exp-sweep-btn", scale=1)
            grid = common.image_output("Sweep (-3 … +3)", elem_id="exp-grid")
            info = gr.Markdown(elem_id="exp-info")
    keys = [model, seed, cls]
    model.change(load_model, [*keys, *sliders], [*sliders, cls, which, info, image, recipe], api_name="explore_load")
    common.on_load(load_model, [*keys, *sliders], [*sliders, cls, which, info, image, recipe])
    gr.on([s.change for s in sliders] + [seed.change, cls.change], update, [*keys, *sliders], [image, recipe],
          trigger_mode="always_last", show_progress="hidden", api_name="explore_update")
    reset_btn.click(reset, keys, [*sliders, image, recipe], api_name="explore_reset")
    sweep_btn.click(sweep, [*keys, which, *sliders], grid, api_name="explore_sweep")
    apply_btn.click(apply_recipe, recipe, [model, seed, cls, *sliders, image, recipe], api_name="explore_recipe")
    recipe.submit(apply_recipe, recipe, [model, seed, cls, *sliders, image, recipe], api_visibility="private")
