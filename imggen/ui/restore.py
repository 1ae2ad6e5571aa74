"""Drop any PNG the studio made: the tab that made it opens with the same model, seed, sliders, mask and settings,
and its image is made again (the status says whether the pixels are identical)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from .. import registry, storage
from ..convert import png_bytes, read_recipe, to_pil, unpack_tensor
from . import common

MAX_BYTES = 20_000_000  # a recipe PNG is a few KB to a few MB


def read(path) -> tuple[dict, Image.Image]:
    """(recipe, image) of a dropped file; ValueError with a clear text for anything that is not an imggen PNG."""
    if not path:
        raise ValueError("No file dropped: drop a PNG the studio made (any image it shows can be downloaded).")
    p = Path(path)
    if p.stat().st_size > MAX_BYTES:
        raise ValueError(f"That file is over {MAX_BYTES // 1_000_000} MB; imggen PNGs are far smaller.")
    try:
        with Image.open(p) as im:
            if im.format != "PNG":
                raise ValueError(f"That is a {im.format or 'non-image'} file; only PNGs carry a recipe.")
            im.load()
            recipe, pixels = read_recipe(im), im.copy()
    except (OSError, SyntaxError, Image.DecompressionBombError):
        raise ValueError("That file is not a readable PNG.") from None
    except ValueError as e:
        if "recipe" in str(e) or "PNG" in str(e) or "file" in str(e):
            raise
        raise ValueError("This PNG's recipe is damaged (it is not valid JSON).") from None
    if not isinstance(recipe, dict) or not recipe:
        raise ValueError("This PNG has no imggen recipe: only images made by this studio (and downloaded as PNG "
                         "with their metadata) can be restored.")
    return recipe, pixels


def _model_available(recipe: dict) -> str:
    name = recipe.get("model")
    if not isinstance(name, str) or not name:
        raise ValueError("This recipe names no model.")
    if name not in registry.model_paths():
        raise ValueError(f"This image was made by the model {name!r}, which is not available here (a visitor's "
                         "model is kept 2 h, a published one 24 h; shipped models are always here).")
    return name


def _same_pixels(dropped: Image.Image, values) -> bool:
    """Whether any image among the restored outputs has exactly the dropped image's pixels."""
    want = np.asarray(dropped.convert("RGB"))
    for v in values:
        ims = [v] if isinstance(v, Image.Image) else [x[0] if isinstance(x, tuple) else x for x in v] \
            if isinstance(v, list) else []
        for im in ims:
            if isinstance(im, Image.Image) and im.size == dropped.size and \
                    np.array_equal(np.asarray(im.convert("RGB")), want):
                return True
    return False


def _check_input(recipe: dict, name: str, what: str) -> tuple[int, int, int]:
    """The model's input shape, once the recipe's exact input is there and fits it (ValueError otherwise)."""
    cfg = registry.load(name).config
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    if "input" not in recipe:
        raise ValueError(f"This {what} predates exact inputs in recipes; upload the original image again.")
    unpack_tensor(recipe["input"], shape=shape)
    return shape


def _input_file(packed, shape) -> str:
    """A PNG carrying an exact model input (what an upload box needs to give that input back)."""
    x = unpack_tensor(packed, shape=shape)
    path = storage.output_file(".png", prefix="imggen-restored-")
    Path(path).write_bytes(png_bytes(to_pil(x, scale=8, recipe={"input": packed})))
    return path


# ---- one handler per tab: recipe (+ dropped file) -> {component name: value}, the tab to show ----------------
def _sample(io, recipe, path):
    from . import sample

    name = _model_available(recipe)
    out = sample.sample(name, recipe.get("n"), recipe.get("seed"), recipe.get("class"), recipe.get("truncation"),
                        recipe.get("refine_steps", 0), recipe.get("keep", 1.0), recipe.get("candidates", 1))
    made = out[3]  # the recipe the tab keeps: checked settings
    cls_choices, *_ = sample._options(name)
    ups = {"model": name, "count": made["n"], "seed": made["seed"],
           "classes": gr.Dropdown(choices=cls_choices, value=made["class"]),
           "grid_img": out[0], "gallery": out[1], "info": out[2], "recipe": {**made, "restored": True}}
    for key, comp in (("truncation", "truncation"), ("keep", "keep"), ("refine_steps", "refine"),
                      ("candidates", "candidates")):  # a setting the PNG did not use goes back to plain
        ups[comp] = made.get(key, sample.SAMPLER_DEFAULTS[key])
    if "index" in recipe:
        ups["zoom"] = sample.enlarge(made, recipe["index"])
    return ups, sample.ID


def _arena(io, recipe, path):
    """One model's tile of the arena: the arena with that model on the same seed (the others can be added back)."""
    from . import arena

    name = _model_available(recipe)
    *_, (gallery, table, info) = arena.run_arena([name], recipe.get("n"), recipe.get("seed"))
    return {"models": [name], "count": recipe.get("n"), "seed": recipe.get("seed"), "gallery": gallery,
            "table": table, "info": info}, arena.ID


def _prompt(io, recipe, path):
    from . import sample

    name = _model_available(recipe)
    img, md = sample.from_prompt(name, recipe.get("prompt", ""), recipe.get("n"), recipe.get("seed"))
    return {"pmodel": name, "ptext": recipe.get("prompt", ""), "pcount": recipe.get("n"), "pseed": recipe.get("seed"),
            "pimg": img, "pinfo": md, "prompt_section": gr.Accordion(open=True)}, sample.ID


def _text2image(io, recipe, path):
    from . import text2image as t2i

    name = _model_available(recipe)
    args = {k: recipe.get(k, d) for k, d in (("prompt", ""), ("n", 16), ("seed", 0), ("temperature", 1.0),
                                              ("top_k", 0), ("guidance", 3.0), ("candidates", 1),
                                              ("expand", False))}  # PNGs from before prompt expansion: off
    grid_img, gallery, info = t2i.generate(name, *args.values())
    return {"model": name, **args, "grid_img": grid_img, "gallery": gallery, "info": info}, t2i.ID


def _detect(io, recipe, path):
    from . import sample

    name = _model_available(recipe)
    _check_input(recipe, name, "detection image")
    prev, plot, md = sample.detect(name, path)
    return {"dmodel": name, "upload": path, "dprev": prev, "dplot": plot, "dmd": md,
            "detect_section": gr.Accordion(open=True)}, sample.ID


def _explore(io, recipe, path):
    from . import explore

    if recipe.get("style_mixing"):
        name = _model_available(recipe)
        seeds = (", ".join(map(str, recipe.get(k) or [])) for k in ("row_seeds", "column_seeds"))
        rows, cols = seeds
        layers = recipe.get("layers_from_columns") or []
        png, md = explore.style_mix(name, rows, cols, layers, recipe.get("truncation", 1.0))
        return {"mix_model": name, "row_seeds": rows, "col_seeds": cols, "psi": recipe.get("truncation", 1.0),
                "layers": gr.CheckboxGroup(choices=explore._layer_choices(name), value=layers),
                "mix_img": png, "mix_info": md, "mixing_section": gr.Accordion(open=True)}, explore.ID
    text = recipe.get("recipe")
    if not isinstance(text, str) and recipe.get("inversion"):
        raise ValueError("This is an inversion's comparison (your digit beside its reconstruction); drop the edited "
                         "image (Explore's large image) to get the digit and its sliders back.")
    if not isinstance(text, str):
        raise ValueError("This Explore image's recipe has no slider recipe.")
    _model_available({"model": text.split(":")[0]})
    names = ["model", "seed", "cls", *(f"sliders{k}" for k in range(explore.NUM)), "image", "recipe", "inverted",
             "inv_note"]  # inverted: the edited digit's latent when the recipe carries one (None = seed mode)
    ups = dict(zip(names, explore.apply_recipe(text)))
    if "sweep" in recipe:
        values = [ups[f"sliders{k}"] for k in range(explore.NUM)]
        ups["which"] = int(recipe["sweep"])
        ups["grid"] = explore.sweep_from(ups["model"], ups["seed"], ups["cls"], ups["inverted"], ups["which"], *values)
    return ups, explore.ID


def _complete(io, recipe, path):
    from . import complete

    name = _model_available(recipe)
    cfg = registry.load(name).config
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    source = recipe.get("source")
    if source != "Model sample":  # a drawing or an upload: its exact input travels in the dropped PNG
        _check_input(recipe, name, "completion")
        source = "Upload"
    editor = complete.prepare_input(name, source, None, path, recipe.get("sample_seed"))
    if recipe.get("strokes") is not None:
        strokes = unpack_tensor(recipe["strokes"], shape=shape[1:])
        editor["layers"] = [complete.stroke_layer(strokes, editor["background"].shape[0])]
    preset = recipe.get("preset") or complete.NO_PRESET
    masked, outs, md = complete.complete(name, source, None, path, recipe.get("sample_seed"), editor, preset,
                                         recipe.get("preset_seed", 0), recipe.get("method", "auto"), recipe.get("n"),
                                         recipe.get("seed"), recipe.get("prompt", ""))
    return {"model": name, "source": source, "upload": path if source == "Upload" else gr.skip(),
            "sample_seed": recipe.get("sample_seed") if source == "Model sample" else gr.skip(),
            "editor": editor, "preset": preset, "preset_seed": recipe.get("preset_seed", 0),
            "method": recipe.get("method", "auto"), "n": recipe.get("n"), "seed": recipe.get("seed"),
            "masked": masked, "outs": outs, "info": md,
            "prompt": gr.Textbox(value=recipe.get("prompt", ""), visible=complete._text_model(name))}, complete.ID


def _reconstruct(io, recipe, path):
    from . import reconstruct

    models = [m for m in recipe.get("models") or [] if isinstance(m, str)]
    for name in models:
        _model_available({"model": name})
    if not models:
        raise ValueError("This reconstruction's recipe names no models.")
    _check_input(recipe, models[0], "reconstruction")
    am = recipe.get("typicality_model")
    if am:
        _model_available({"model": am})
    pre, strip, md, pct = reconstruct.reconstruct("Upload", None, path, models, am)
    return {"source": "Upload", "upload": path, "models": models, "am": am, "pre": pre, "out": strip, "info": md,
            "pct": gr.Number(value=pct, visible=pct is not None)}, reconstruct.ID


def _interpolate(io, recipe, path):
    from . import interpolate

    name = _model_available(recipe)
    m = registry.load(name)
    shape = (m.config.channels, m.config.image_size, m.config.image_size)
    ups, args = {}, []
    for tag in ("a", "b"):
        end = recipe.get(tag)
        if isinstance(end, dict) and "seed" in end:
            src, seed, up = "Random seed", end["seed"], None
        elif isinstance(end, dict) and "input" in end:
            src, seed, up = "Upload", 0, _input_file(end["input"], shape)
        else:
            raise ValueError("This walk predates exact inputs in recipes; upload its endpoint images again.")
        ups.update({f"{tag}0": src, f"{tag}1": seed, f"{tag}2": up if up else gr.skip()})
        args += [src, seed, up, None]
    strip, gif, mp4, mmap, info = interpolate.walk(name, *args, recipe.get("mode", "slerp"), recipe.get("steps"),
                                                   recipe.get("fps", 8))
    ups.update({"model": name, "mode": recipe.get("mode", "slerp"), "steps": recipe.get("steps"),
                "fps": recipe.get("fps", 8), "strip": strip, "gif": gif, "video": mp4, "mmap": mmap, "info": info})
    return ups, interpolate.ID


def _train(io, recipe, path):
    raise ValueError(f"This is a training snapshot of {recipe.get('model')!r} at step {recipe.get('step')}: the "
                     "weights of that moment are not kept, so it cannot be made again. Open the finished model in "
                     "Sample (or its card in Models) instead.")


HANDLERS = {"sample": _sample, "arena": _arena, "sample/prompt": _prompt, "sample/detect": _detect,
            "text2image": _text2image,
            "explore": _explore, "complete": _complete, "reconstruct": _reconstruct, "interpolate": _interpolate,
            "train": _train}


def restore(io: dict[str, dict], path) -> tuple[dict, str, str]:
    """-> ({component: value} for the tab that made the dropped PNG, its tab ID, status markdown); ValueError for
    bad files and unavailable models."""
    recipe, pixels = read(path)
    tab = recipe.get("tab", "train" if "step" in recipe else None)
    if tab not in HANDLERS:
        raise ValueError(f"This PNG's recipe is from an unknown part of the studio ({tab!r}).")
    ups, tab_id = HANDLERS[tab](io, recipe, str(path))
    comps = io[tab_id]
    missing = [k for k in ups if k not in comps]
    if missing:  # a renamed component: a programming error, caught by the tests
        raise KeyError(f"restore: {tab_id} has no component(s) {missing}")
    same = _same_pixels(pixels, [v for v in ups.values()])
    status = (f"Restored **{tab_id.title()}** from `{Path(path).name}`: " + ", ".join(
        f"{k} {recipe[k]}" for k in ("model", "seed") if recipe.get(k) is not None) + " — made again: "
              + ("**identical pixels** ✓" if same else "**the pixels differ** (the model may have been retrained "
                                                     "under the same name since)"))
    return {comps[k]: v for k, v in ups.items()}, tab_id, status


def render() -> tuple[gr.File, gr.Markdown]:
    """The drop box (under the header, on every tab)."""
    with gr.Accordion("↩ Restore from a PNG — drop any image the studio made to get its tab back", open=False,
                      elem_id="restore-section"):
        with gr.Row(equal_height=True):
            box = gr.File(label="imggen PNG", file_types=[".png"], type="filepath", elem_id="restore-file", scale=1,
                          height=120)
            status = gr.Markdown(elem_id="restore-status")
    return box, status


def wire(box: gr.File, status: gr.Markdown, tabs: gr.Tabs, io: dict[str, dict]) -> None:
    """Connect the drop box to every tab's components (``io``: tab ID -> {name: component}, from each render())."""
    outputs = list({c: None for c in [tabs, status, *(c for comps in io.values() for c in comps.values())]})

    def run(path):
        with common.user_errors():
            ups, tab_id, md = restore(io, path)
        return {**ups, tabs: gr.Tabs(selected=tab_id), status: md}

    box.upload(run, box, outputs, api_name="restore", concurrency_limit=2) \
        .then(lambda: None, None, box, api_visibility="private", queue=False)  # empty again: ready for the next drop
