"""Explore tab: sliders along discovered latent directions (GANSpace, SeFa, InterFaceGAN), labelled by the
measured attribute each changes most; live updates, a sweep grid and a shareable recipe. The sliders start from a
seed, or from the visitor's own digit inverted into the model's latent space (imggen.invert)."""
from __future__ import annotations

import gradio as gr
import torch

from .. import invert, latent, registry
from ..convert import to01
from . import browser_decode, common, examples, reconstruct

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


def _image(ex: latent.Explorer, name: str, start, values: list[float], label):
    """``start``: a seed, or a (1, D) latent (an inverted digit): then the recipe carries the latent itself."""
    z = start if torch.is_tensor(start) else None
    seed, vals = (start if z is None else None), values[:ex.num_sliders]
    img = ex.render(start, values, label)
    recipe = latent.make_recipe(name, seed, vals, label, latent=z)
    png = common.png_output(img[0], {"tab": "explore", "recipe": recipe, "model": name, "seed": seed, "class": label,
                                     "values": vals, "latent": None if z is None else latent.latent_text(z)}, scale=8)
    return png, recipe


def _start(name, seed, inv):
    """What the sliders move from: the visitor's inverted digit when it was inverted for this model, else the seed."""
    return inv["z"] if inv and inv.get("model") == name else common.to_seed(seed)


def edit(name, seed, label, inv, *values):
    """One decoder pass from the inverted digit (``inv``, the visitor's gr.State) or the seed: (PNG, recipe)."""
    ex = _explorer(name)
    with common.user_errors():
        return _image(ex, name, _start(name, seed, inv), _values(values), _label(ex, label))


def update(name, seed, label, *values):
    """One decoder pass from the seed: (PNG with recipe, recipe text)."""
    return edit(name, seed, label, None, *values)


def back_to_seed(name, seed, label, *values):
    """Seed mode again (the seed box or the Back to seed button): image, recipe, no inversion, no note."""
    return (*update(name, seed, label, *values), None, "")


def describe(ex: latent.Explorer) -> str:
    return ex.describe()


def load_model(name, seed, label, inv, *values, progress=gr.Progress()):
    """Model picked: compute/load its directions, relabel the sliders, render; a digit inverted for another model is
    inverted again for this one (when it takes the same image size), else dropped with a note."""
    progress(0, desc="Finding latent directions (once per model, cached next to the checkpoint)")
    ex = _explorer(name)
    labels = ex.dirs.slider_labels()
    sliders = [gr.update(label=labels[k] if k < len(labels) else f"slider {k + 1}", visible=k < len(labels))
               for k in range(NUM)]
    K = ex.num_classes
    label = _label(ex, label) if K else None
    if label is not None and not 0 <= label < K:
        label = 0
    which = gr.update(choices=[(f"{k + 1}: {lab}", k) for k, lab in enumerate(labels)], value=0)
    names = ex.class_names()
    klass = gr.update(choices=["auto", *[(n, str(k)) for k, n in enumerate(names)]], value="auto", visible=bool(K))
    compare, note = gr.update(), gr.update()
    if inv and inv["model"] != name:
        target = inv.get("target")
        if target is not None and tuple(target.shape) == _shape(ex):
            compare, note, inv, label = _invert(ex, name, target, None, progress)[:4]
        else:
            inv, note = None, (f"Your digit was inverted for {inv['model']}; {name} takes other images, so the sliders "
                               "start from the seed again. Press **Invert** to invert a digit for it.")
    png, recipe = _image(ex, name, _start(name, seed, inv), _values(values), label)
    cls = gr.update(visible=bool(K), maximum=max(K - 1, 0), **({"value": label} if K else {}),
                    info=", ".join(f"{k}: {n}" for k, n in enumerate(names)) if K and names[0] != "0" else None)
    return (*sliders, cls, which, describe(ex), png, recipe, inv, compare, note, klass)


def reset(name, seed, label, inv=None):
    """All sliders back to 0 (and the image for them)."""
    png, recipe = edit(name, seed, label, inv, *[0.0] * NUM)
    return (*[0.0] * NUM, png, recipe)


def sweep(name, seed, label, index, *values):
    """A grid sweeping one slider over its range, the others as set (from the seed)."""
    return sweep_from(name, seed, label, None, index, *values)


def sweep_from(name, seed, label, inv, index, *values):
    """:func:`sweep` from the inverted digit when there is one for this model."""
    ex = _explorer(name)
    vals = _values(values)
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise gr.Error("Pick a slider to sweep.") from None
    start, label = _start(name, seed, inv), _label(ex, label)
    with common.user_errors():
        imgs = ex.sweep(start, vals, index, steps=9, label=label)
    z = start if torch.is_tensor(start) else None
    recipe = latent.make_recipe(name, None if z is not None else start, vals[:ex.num_sliders], label, latent=z)
    return common.png_output(imgs, {"tab": "explore", "sweep": index, "recipe": recipe}, scale=4, nrow=len(imgs))


def apply_recipe(text):
    """Recipe text -> model, seed, class, slider values, the exact image it describes, and the inverted digit (a
    recipe that carries a latent) or None."""
    with common.user_errors():
        r = latent.parse_recipe(text)
    ex = _explorer(r["model"])
    if len(r["values"]) > ex.num_sliders:
        raise gr.Error(f"This recipe has {len(r['values'])} values; {r['model']} has {ex.num_sliders} sliders.")
    vals = _values(r["values"]) + [0.0] * (NUM - len(r["values"]))
    label = r["label"] if ex.num_classes else None
    z = r["latent"]
    start = r["seed"] if z is None else z
    with common.user_errors():
        png, recipe = _image(ex, r["model"], start, vals, _label(ex, label))
    inv = None if z is None else {"model": r["model"], "z": z, "label": label, "target": None}
    note = "" if z is None else "Editing the digit stored in the recipe (an inverted image's latent)."
    return (r["model"], gr.update() if z is not None else r["seed"], label or 0, *vals, png, recipe, inv, note)


# ---- start from your digit: invert it, then edit it with the sliders --------------------------------------------
def _shape(ex: latent.Explorer) -> tuple[int, int, int, int]:
    c = ex.net.config
    return 1, c.channels, c.image_size, c.image_size


def _inv_class(ex: latent.Explorer, klass) -> int | None:
    if not ex.num_classes or klass in (None, "", "auto"):
        return None
    return common.whole_number(klass, "The class of your digit", 0, ex.num_classes - 1)


def _invert(ex: latent.Explorer, name: str, x, label, progress):
    """-> (comparison PNG, note, state, label, image PNG, recipe) for image x (1, C, H, W) in [0, 1]."""
    def step(i, n):
        if i % 10 == 0:
            progress(i / n, desc=f"Inverting into {name}'s latent space (latent optimisation)")

    with common.user_errors():
        inv = invert.invert(ex.net, x, label=label, on_step=step)
        png, recipe = _image(ex, name, inv.z, [0.0] * NUM, inv.label)
    compare = common.png_output(torch.cat([inv.target, inv.recon]), {
        "tab": "explore", "inversion": True, "model": name, "class": inv.label, "latent": latent.latent_text(inv.z),
        "mse": inv.mse, "psnr": inv.psnr}, scale=8, nrow=2)
    how = "the encoder's posterior mean" if inv.method == "encoder" else \
        f"latent optimisation ({invert.GAN_RESTARTS} seeded starts × {invert.GAN_STEPS} steps)"
    cls = "" if inv.label is None else f" as a **{inv.label}**"
    note = (f"Inverted{cls} with {how} in {inv.seconds:.1f} s. Left: your digit as the model sees it; right: its "
            f"reconstruction — **MSE {inv.mse:.4f}, PSNR {inv.psnr:.1f} dB**. Move the sliders to edit it; the "
            "recipe and the PNG reproduce the edit. **Back to seed** (or a new seed) returns to seeds.")
    state = {"model": name, "z": inv.z, "label": inv.label, "target": inv.target}
    return compare, note, state, inv.label, png, recipe


def invert_digit(name, source, drawing, upload, klass, progress=gr.Progress()):
    """Your drawing or upload -> its latent: comparison PNG, note, state, class, image, recipe, sliders at 0."""
    ex = _explorer(name)
    with common.user_errors():
        x = reconstruct.model_input(reconstruct.input_source(source, drawing, upload), ex.net.config)
    compare, note, state, label, png, recipe = _invert(ex, name, x, _inv_class(ex, klass), progress)
    cls = gr.update(value=label) if label is not None else gr.update()
    return (compare, note, state, cls, png, recipe, *[0.0] * NUM)


# ---- style mixing (style-based GANs) -------------------------------------------------------------------------
MAX_MIX_SEEDS = 8


def _seeds(text, what: str) -> list[int]:
    parts = str(text or "").replace(",", " ").split()
    if not 1 <= len(parts) <= MAX_MIX_SEEDS:
        raise gr.Error(f"{what}: 1 to {MAX_MIX_SEEDS} seeds separated by commas, e.g. 1, 2, 3.")
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise gr.Error(f"{what}: {bad[0]!r} is not a seed (a whole number from 0).")
    return [common.to_seed(p) for p in parts]


def _layer_choices(name) -> list[tuple[str, int]]:
    net = registry.load(common.require_model(name)).net
    kinds = ("coarse", "middle", "fine")
    res = sorted(set(net.layer_resolutions))
    return [(f"{r}×{r} ({kinds[min(2, i * 3 // len(res))]})", r) for i, r in enumerate(res)]


ALL_STYLE_RES = (4, 7, 8, 14, 16, 28, 32, 64)


def mixing_layers(name):
    """Model picked: its layer resolutions as choices, the coarsest one ticked (the classic 'coarse styles')."""
    if not name:
        return gr.CheckboxGroup(choices=[], value=[])
    with common.user_errors():
        choices = _layer_choices(name)
    return gr.CheckboxGroup(choices=choices, value=[choices[0][1]])


def style_mix(name, row_seeds, col_seeds, layers, truncation):
    """(R + 1) x (C + 1) grid PNG: column seeds on top, row seeds on the left, mixes inside; and a caption."""
    name = common.require_model(name)
    rows, cols = _seeds(row_seeds, "Row seeds"), _seeds(col_seeds, "Column seeds")
    if not layers:
        raise gr.Error("Tick at least one layer resolution to take from the column seeds.")
    psi = common.number(truncation, "Truncation", 0.1, 2.0)
    net = registry.load(name).net
    have = sorted(set(net.layer_resolutions))
    if any(int(r) not in have for r in layers):
        raise gr.Error(f"{name} has style layers at {', '.join(map(str, have))} px; tick those.")
    with common.user_errors():
        z_rows, z_cols = (torch.cat([latent.seed_latent(net, s) for s in seeds]) for seeds in (rows, cols))
        grid = net.mixing_grid(z_rows, z_cols, layers, psi)
    recipe = {"tab": "explore", "style_mixing": True, "model": name, "row_seeds": rows, "column_seeds": cols,
              "layers_from_columns": sorted(int(r) for r in layers), "truncation": psi}
    png = common.png_output(to01(grid), recipe, scale=3, nrow=len(cols) + 1)
    res = ", ".join(f"{int(r)}×{int(r)}" for r in sorted(layers))
    return png, (f"Rows: seeds {', '.join(map(str, rows))} · columns: seeds {', '.join(map(str, cols))} · each inner "
                 f"image takes its {res} styles from its column's seed and the rest from its row's · truncation "
                 f"{psi:g}")


def render() -> None:
    gr.Markdown("Move through a generator's latent space along directions found automatically and labelled by "
                "what they change (digits: stroke thickness, slant, width, height, ink, digit class; colour models: "
                "hue, saturation, brightness, size, roundness, emoji category). The image updates "
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
            with gr.Accordion("Start from your digit: draw or upload one, invert it, then edit it with the sliders",
                              open=False, elem_id="exp-digit-section") as digit_section:
                inv_source = gr.Radio(list(reconstruct.SOURCES), value="Drawing", label="Input", elem_id="exp-source")
                pad = gr.Sketchpad(label="Draw a digit", image_mode="L", canvas_size=(280, 280), type="numpy",
                                   elem_id="exp-pad")
                upload = gr.File(label="…or upload an image", file_types=["image"], type="filepath",
                                 elem_id="exp-upload")
                exs = gr.Examples([[examples.path(f), "Upload"] for f in examples.UPLOADS], [upload, inv_source],
                                  example_labels=examples.labels(examples.UPLOADS), **examples.KW,
                                  elem_id="exp-examples")
                inv_class = gr.Dropdown(["auto"], value="auto", label="Class of your digit (auto: as the classifier "
                                        "reads it)", visible=False, elem_id="exp-inv-class")
                with gr.Row():
                    inv_btn = gr.Button("Invert", variant="primary", elem_id="exp-invert")
                    back_btn = gr.Button("Back to seed", elem_id="exp-back")
                inv_compare = common.image_output("Your digit | its reconstruction", elem_id="exp-compare", height=200)
                inv_note = gr.Markdown(elem_id="exp-inv-note")
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
    with gr.Accordion("Style mixing (style-based GANs)", open=False, elem_id="mixing-section") as mixing_section:
        gr.Markdown("A style-based generator gives every layer its own copy of the style, so two seeds can be mixed: "
                    "the ticked resolutions take their styles from the column's seed, the others from the row's. "
                    "On stylegan-mnist the coarse layers reshape the digit most and the finest change it least "
                    "(bench/results/stylegan.md).")
        with gr.Row():
            with gr.Column(scale=1):
                mix_model = common.model_dropdown("Style-based model", capability="mix", elem_id="mix-model")
                row_seeds = gr.Textbox(value="1, 2, 3, 4", label="Row seeds (up to 8)", elem_id="mix-rows")
                col_seeds = gr.Textbox(value="10, 11, 12, 13, 14", label="Column seeds (up to 8)", elem_id="mix-cols")
                # every resolution a 28/32/64-px style model can have, so API callers can pass them; the page
                # shows the picked model's own (mixing_layers) and style_mix checks them against it
                layers = gr.CheckboxGroup([(f"{r}×{r}", r) for r in ALL_STYLE_RES], value=[7],
                                          label="Layers taken from the column seed", elem_id="mix-layers")
                psi = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Truncation (ψ)", elem_id="mix-psi",
                                info="styles pulled toward the average style: lower = cleaner, less varied")
                mix_btn = gr.Button("Mix styles", elem_id="mix-go")
            with gr.Column(scale=2):
                mix_img = common.image_output("Style mixing (PNG with its recipe)", elem_id="mix-image")
                mix_info = gr.Markdown(elem_id="mix-info")
    mix_model.change(mixing_layers, mix_model, layers, api_visibility="private", queue=False)
    common.on_load(mixing_layers, [mix_model], [layers])
    mix_btn.click(style_mix, [mix_model, row_seeds, col_seeds, layers, psi], [mix_img, mix_info],
                  api_name="style_mix")
    inverted = gr.State(None)  # this visitor's inverted digit: {"model", "z", "label", "target"}, None = seed mode
    keys = [model, seed, cls]
    loaded = [*sliders, cls, which, info, image, recipe, inverted, inv_compare, inv_note, inv_class]
    model.change(load_model, [*keys, inverted, *sliders], loaded, api_name="explore_load")
    common.on_load(load_model, [*keys, inverted, *sliders], loaded)
    live = browser_decode.attach(model, seed, cls, inverted, sliders, image)  # drags decode in the page
    gr.on([live.submit, cls.change], edit, [*keys, inverted, *sliders], [image, recipe],
          trigger_mode="always_last", show_progress="hidden", api_name="explore_update")
    gr.on([seed.change, back_btn.click], back_to_seed, [*keys, *sliders], [image, recipe, inverted, inv_note],
          trigger_mode="always_last", show_progress="hidden", api_name="explore_seed")
    reset_btn.click(reset, [*keys, inverted], [*sliders, image, recipe], api_name="explore_reset")
    sweep_btn.click(sweep_from, [*keys, inverted, which, *sliders], grid, api_name="explore_sweep")
    applied = [model, seed, cls, *sliders, image, recipe, inverted, inv_note]
    apply_btn.click(apply_recipe, recipe, applied, api_name="explore_recipe")
    recipe.submit(apply_recipe, recipe, applied, api_visibility="private")
    upload.upload(lambda: "Upload", None, inv_source, api_visibility="private", queue=False)
    inverting = ([model, inv_source, pad, upload, inv_class], [inv_compare, inv_note, inverted, cls, image, recipe,
                                                               *sliders])
    inv_btn.click(invert_digit, *inverting, api_name="explore_invert", concurrency_limit=2)
    exs.load_input_event.then(invert_digit, *inverting, api_visibility="private", concurrency_limit=2)
    return common.named(locals())
