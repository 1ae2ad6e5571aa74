"""Complete tab: fill the missing part of an uploaded, drawn or sampled image with a VAE, GAN inversion or a
classical inpainting baseline, and show what the digit classifier reads in each completion."""
from __future__ import annotations

import functools
import uuid

import gradio as gr
import numpy as np
import torch

from .. import registry
from ..complete import MASK_PRESETS, METHODS, auto_method, card_settings, mask_preset, run_completion
from ..convert import from01, pack_tensor, to_uint8
from ..preprocess import ImageInputError, model_input
from ..text2image import is_text_model
from . import common, examples
from .text2image import check_prompt

TITLE = "Complete"
ID = "complete"

SOURCES = ("Drawing", "Upload", "Model sample")
NO_PRESET = "none (brush only)"
CANVAS = 280
MAX_N = 8
METHOD_KW: dict[str, dict] = {}  # per-method overrides (e.g. fewer optimisation steps), tests make them tiny


def _model(name):
    with common.user_errors():
        return registry.load(common.require_model(name))


def source_image(model, source: str, drawing, upload, sample_seed) -> torch.Tensor:
    """(C, H, W) in [0, 1] at the model's size (imggen.preprocess.model_input)."""
    cfg = model.config
    if source == "Model sample":  # drawn as the Sample tab starts it: with the card's recommended settings
        return model.sample(1, seed=common.to_seed(sample_seed), **(model.card.get("sampling") or {}))[0]
    if source == "Upload":
        if not upload:
            raise ImageInputError("No file uploaded: choose an image file first (or switch the input to Drawing).")
        src = upload
    else:
        if not drawing or drawing.get("composite") is None:
            raise ImageInputError("The canvas is empty: draw a digit first (or switch the input to Upload).")
        src = drawing["composite"]
    return model_input(src, cfg.channels, cfg.image_size)


def editor_mask(editor) -> np.ndarray | None:
    """(H, W) float mask from the ImageEditor: painted pixels (alpha > 0) of any layer; None when unpainted."""
    if not editor:
        return None
    masks = []
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        a = np.asarray(layer)
        if a.ndim == 3 and a.shape[2] == 4:
            masks.append(a[..., 3] > 0)
        elif a.ndim >= 2:
            masks.append((a if a.ndim == 2 else a.max(2)) > 0)
    if not masks or not any(m.any() for m in masks):
        return None
    return np.logical_or.reduce(masks).astype(np.float32)


def stroke_mask(editor, size: int) -> torch.Tensor:
    """The brush strokes resized to the image: (size, size), 1 = painted."""
    drawn = editor_mask(editor)
    if drawn is None:
        return torch.zeros(size, size)
    t = torch.from_numpy(drawn)[None, None]
    return (torch.nn.functional.interpolate(t, size=(size, size), mode="area")[0, 0] > 0.3).float()


def stroke_layer(strokes: torch.Tensor, canvas: int) -> np.ndarray:
    """(canvas, canvas, 4) RGBA layer painting ``strokes`` (size, size) in the brush colour (a restored mask)."""
    big = np.kron(strokes.numpy() > 0, np.ones((canvas // strokes.shape[-1],) * 2, dtype=bool))
    layer = np.zeros((*big.shape, 4), dtype=np.uint8)
    layer[big] = (255, 51, 102, 255)
    return layer


def combined_mask(editor, preset: str, preset_seed, size: int) -> torch.Tensor:
    """Brush strokes (resized to the image) OR the preset; (size, size), 1 = missing."""
    m = stroke_mask(editor, size)
    if preset and preset != NO_PRESET:
        if preset not in MASK_PRESETS:
            raise gr.Error(f"Unknown mask preset {preset!r}.")
        m = torch.maximum(m, mask_preset(preset, size, seed=common.to_seed(preset_seed))[0, 0])
    return m


def prepare_input(model_name, source, drawing, upload, sample_seed):
    """Show the prepared input in the mask editor (as its background) so the missing part can be painted."""
    model = _model(model_name)
    with common.user_errors():
        x = source_image(model, source, drawing, upload, sample_seed)
    scale = max(1, CANVAS // x.shape[-1])
    big = np.kron(to_uint8(x), np.ones((scale, scale) + ((1,) if x.shape[0] == 3 else ()), dtype=np.uint8))
    return {"background": big, "layers": [], "composite": big}


def _readings(images: torch.Tensor) -> list[str]:
    """What a classifier reads in each image: the digit classifier on 28-px grey, the emoji net's category on 32-px
    colour ("–" for other shapes)."""
    if images.shape[1] == 3 and images.shape[-1] == 32:
        from ..data import builtin_classes
        from ..metrics import EMOJINET_PATH, emoji_features

        names = builtin_classes("emoji32")
        if not EMOJINET_PATH.exists() or not names:
            return ["–"] * len(images)
        p, c = emoji_features(from01(images))[1].max(1)
        return [f"{names[ci]} ({pi:.0%})" for ci, pi in zip(c.tolist(), p.tolist())]
    if images.shape[1] != 1 or images.shape[-1] != 28:
        return ["–"] * len(images)
    from ..metrics import classify

    probs = classify(from01(images))[1]
    p, c = probs.max(1)
    return [f"{int(ci)} ({pi:.0%})" for ci, pi in zip(c.tolist(), p.tolist())]


def complete(model_name, source, drawing, upload, sample_seed, editor, preset, preset_seed, method, n, seed,
             prompt="", progress=gr.Progress()):
    """-> (masked input PNG, completions PNG, markdown: method, note, classifier readings); ``prompt`` guides a text
    model's token in-painting (other models ignore it)."""
    model = _model(model_name)
    prompt = check_prompt(prompt) if is_text_model(model) else ""
    if method not in METHODS:
        raise gr.Error(f"Unknown method {method!r}; pick one of {', '.join(METHODS)}.")
    n = common.whole_number(n, "The number of completions", 1, MAX_N)
    seed, preset_seed = common.to_seed(seed), common.to_seed(preset_seed)
    progress(0, desc=f"Completing with {method}")
    with common.user_errors():
        x = source_image(model, source, drawing, upload, sample_seed)
        mask = combined_mask(editor, preset, preset_seed, x.shape[-1])
        method = auto_method(model.net, model.family) if method == "auto" else method
        prompt = prompt if method == "tokens" else ""  # only token in-painting reads a prompt
        kw = {**card_settings(model.card, method), **METHOD_KW.get(method, {})}
        kw.update({"prompt": prompt} if prompt else {})
        res = run_completion(model, x, mask, method, n=n, seed=seed, **kw)
    strokes = stroke_mask(editor, x.shape[-1])
    recipe = {"tab": "complete", "model": model_name, "source": source, "preset": preset,
              "preset_seed": preset_seed, "method": res.method, "n": n, "seed": seed,
              "sample_seed": sample_seed if source == "Model sample" else None, "input": pack_tensor(x),
              "strokes": pack_tensor(strokes) if strokes.any() else None}
    if prompt:
        recipe["prompt"] = prompt
    masked = common.png_output(res.masked[0], {**recipe, "image": "masked input"}, scale=8)
    outs = common.png_output(res.images, recipe, scale=4, nrow=min(n, 4))
    reads = _readings(torch.cat([x[None], res.images]))
    md = (f"**Method:** {res.method}" + (f" · prompt “{prompt}”" if prompt else "")
          + f" · {res.seconds:.2f} s · seed {seed} · {int(res.mask.sum())} of "
          f"{res.mask.numel()} pixels missing\n\n" + (f"> {res.note}\n\n" if res.note else "")
          + "| image | classifier reads |\n|---|---|\n| input (before masking) | " + reads[0] + " |\n"
          + "\n".join(f"| completion {i + 1} | {r} |" for i, r in enumerate(reads[1:])))
    return masked, outs, md


def show_and_complete(model_name, source, drawing, upload, sample_seed, preset, preset_seed, method, n, seed,
                      progress=gr.Progress()):
    """A new input (an example clicked, the page opened): -> (mask editor showing it, masked input PNG, completions
    PNG, markdown), completed with the preset alone."""
    editor = prepare_input(model_name, source, drawing, upload, sample_seed)
    return (editor, *complete(model_name, source, drawing, upload, sample_seed, None, preset, preset_seed, method,
                              n, seed, progress=progress))


@functools.lru_cache(maxsize=8)
def _opening(key: tuple, *args) -> tuple:
    return show_and_complete(*args, progress=lambda *a, **k: None)


def opened(model_name, source, drawing, upload, sample_seed, preset, preset_seed, method, n, seed):
    """The page-open view: the default model sample, masked and completed; the same for every visitor, computed
    once per checkpoint version (``key``) and start values (a VAE's completion takes ~1-2 s on a busy CPU)."""
    if source != "Model sample":
        return show_and_complete(model_name, source, drawing, upload, sample_seed, preset, preset_seed, method, n,
                                 seed, progress=lambda *a, **k: None)
    with common.user_errors():
        key = registry.file_key(registry.resolve(common.require_model(model_name)))
    editor, masked, outs, md = _opening(key, model_name, source, None, None, sample_seed, preset, preset_seed,
                                        method, n, seed)
    return editor, _fresh(masked), _fresh(outs), md


def _fresh(im):
    """A copy of a remembered output PNG with a new request id: unique bytes per response (see to_pil)."""
    out = im.copy()
    out.info = {**im.info, "request": uuid.uuid4().hex}
    return out


def _text_model(name) -> bool:
    """Whether the picked model takes a prompt (a text -> image model: its prompt box shows)."""
    return bool(name) and name in common.model_choices(capability="tokenize_prompt")


def render() -> None:
    gr.Markdown("Hide part of an image and let a model fill it in. ① Pick the input and press **Show input**; "
                "② paint the missing region with the brush (or pick a preset); ③ **Complete**. Learned methods "
                "(VAE, GAN inversion, the random forest's exact conditional sampling) give several different "
                "completions; a text → image model redraws the image codes under the mask, guided by a prompt if "
                "you give one; Telea and biharmonic are classical baselines.")
    with gr.Row():
        with gr.Column():
            model = common.model_dropdown("Model", capability="decode|complete", elem_id="cmp-model",
                                          prefer=("vae-mnist",))
            source = gr.Radio(list(SOURCES), value="Model sample", label="Input", elem_id="cmp-source")
            sample_seed = gr.Number(value=0, precision=0, minimum=0, label="Sample seed (Model sample)",
                                    elem_id="cmp-sample-seed")
            drawing = gr.Sketchpad(label="Draw a digit", image_mode="L", canvas_size=(CANVAS, CANVAS), type="numpy",
                                   elem_id="cmp-pad")
            upload = gr.File(label="…or upload an image", file_types=["image"], type="filepath",
                             elem_id="cmp-upload")
            ex = gr.Examples([[examples.path(f), "Upload"] for f in examples.UPLOADS], [upload, source],
                             example_labels=examples.labels(examples.UPLOADS), **examples.KW, elem_id="cmp-examples")
            show = gr.Button("① Show input", elem_id="cmp-show")
        with gr.Column():
            editor = gr.ImageEditor(label="② Paint the missing region", image_mode="RGBA", type="numpy",
                                    canvas_size=(CANVAS, CANVAS), fixed_canvas=True, sources=(), transforms=(),
                                    brush=gr.Brush(colors=["#ff3366"], color_mode="fixed", default_size=24),
                                    layers=gr.LayerOptions(allow_additional_layers=False), elem_id="cmp-editor")
            with gr.Row():
                preset = gr.Dropdown([NO_PRESET, *MASK_PRESETS], value="bottom", label="Mask preset",
                                     elem_id="cmp-preset")
                preset_seed = gr.Number(value=0, precision=0, minimum=0, label="Strokes seed", elem_id="cmp-pseed")
            with gr.Row():
                method = gr.Dropdown(list(METHODS), value="auto", label="Method", elem_id="cmp-method")
                n = gr.Slider(1, MAX_N, value=4, step=1, label="Completions", elem_id="cmp-n")
            prompt = gr.Textbox("", label="Prompt (text → image models: what the redrawn region should show)",
                                placeholder="a red heart", elem_id="cmp-prompt", visible=_text_model(model.value))
            seed = common.seed_input(0, elem_id="cmp-seed")
            go = gr.Button("③ Complete", variant="primary", elem_id="cmp-go")
        with gr.Column():
            masked = common.image_output("Masked input", elem_id="cmp-masked")
            outs = common.image_output("Completions", elem_id="cmp-out")
            info = gr.Markdown(elem_id="cmp-info")
    upload.upload(lambda: "Upload", None, source, api_visibility="private", queue=False)
    show.click(prepare_input, [model, source, drawing, upload, sample_seed], editor, api_name="complete_input")
    model.change(lambda name: gr.Textbox(visible=_text_model(name)), model, prompt, api_visibility="private",
                 queue=False)  # the prompt box shows for text models
    go.click(complete, [model, source, drawing, upload, sample_seed, editor, preset, preset_seed, method, n, seed,
                        prompt], [masked, outs, info], api_name="complete")
    fresh = [model, source, drawing, upload, sample_seed, preset, preset_seed, method, n, seed]
    ex.load_input_event.then(show_and_complete, fresh, [editor, masked, outs, info], api_visibility="private")
    common.on_load(opened, fresh, [editor, masked, outs, info])  # start values: the dropdown opens on its model
    return common.named(locals())
