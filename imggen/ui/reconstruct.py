"""Reconstruct tab: upload or draw a digit -> MNIST-style input, reconstructions by several autoencoders side by
side with their errors, and how typical the drawing is under a likelihood model, a VAE or the random forest
(likelihood percentile among test digits)."""
from __future__ import annotations

import gradio as gr
import torch

from .. import anomaly, registry
from .. import preprocess
from ..convert import pack_tensor
from ..preprocess import ImageInputError
from . import common, examples

TITLE = "Reconstruct"
ID = "reconstruct"

DEFAULT_MODELS = ("ae-mnist", "vae-mnist", "vaegan-mnist")
SOURCES = ("Drawing", "Upload")


def recon_choices() -> list[str]:
    return common.model_choices(capability="reconstruct")


def default_models() -> list[str]:
    choices = recon_choices()
    shipped = [m for m in DEFAULT_MODELS if m in choices]
    return shipped or choices[:3]


def input_source(source: str, drawing, upload):
    """The raw image the user chose: the Sketchpad composite or the uploaded file path."""
    if source == "Upload":
        if not upload:
            raise ImageInputError("No file uploaded: choose an image file first (or switch the source to Drawing).")
        return upload
    if not drawing or drawing.get("composite") is None:
        raise ImageInputError("The canvas is empty: draw a digit first (or switch the source to Upload).")
    return drawing["composite"]


def model_input(src, config) -> torch.Tensor:
    """(1, C, H, W) in [0, 1] (imggen.preprocess.model_input)."""
    return preprocess.model_input(src, config.channels, config.image_size)[None]


def reconstruct(source: str, drawing, upload, models: list[str] | None, anomaly_model: str | None):
    """-> (preprocessed input PNG, reconstructions PNG [input | model 1 | ...], markdown table, typicality %)."""
    models = [m for m in (models or []) if m]
    if not models:
        raise gr.Error("Pick at least one model to reconstruct with.")
    if len(models) > 6:
        raise gr.Error("At most 6 models at a time.")
    with common.user_errors():
        src = input_source(source, drawing, upload)
        nets = [registry.load(common.require_model(m)) for m in models]
        x = model_input(src, nets[0].config)
        recs, rows, inputs = [x], [], {_shape(nets[0].config): x}
        for name, m in zip(models, nets):
            if not hasattr(m.net, "reconstruct"):
                raise ValueError(f"{name} has no encoder and cannot reconstruct images.")
            xm = _input_for(inputs, src, m.config)
            r = m.reconstruct(xm)
            recs.append(r)
            rows.append((name, m.family, (r - xm).pow(2).mean().item(), (r - xm).abs().mean().item()))
        score_md, pct = "", None
        if anomaly_model:
            am = registry.load(common.require_model(anomaly_model))
            if not hasattr(am.net, "log_likelihood"):
                raise ValueError(f"{anomaly_model} has no likelihood; pick a VAE, the random forest or the "
                                 "pixel GPT for the typicality score.")
            xa = _input_for(inputs, src, am.config)
            ll, p = anomaly.typicality(am, xa)
            pct = round(p.item(), 1)
            among = anomaly.population(anomaly.reference(am))  # "held-out test digits", "held-out emoji"
            digits = "digit" in among
            score_md = (f"\n\n**How typical is your drawing?** log-likelihood {ll.item():.1f} nats under "
                        f"`{anomaly_model}` — higher than **{pct:.1f} %** of {among}. "
                        + ("Looks like an ordinary " + ("digit." if digits else "one of them.") if pct >= 5
                           else "Unusual for a handwritten digit (a scribble, a letter, or a digit written very "
                           "differently)." if digits else "Unusual among them."))
    recipe = {"tab": "reconstruct", "source": source, "models": models, "typicality_model": anomaly_model or None,
              "input": pack_tensor(x[0]), "inputs": [pack_tensor(v[0]) for v in list(inputs.values())[1:]]}
    table = "| model | family | MSE | MAE |\n|---|---|---|---|\n" + "\n".join(
        f"| {n} | {f} | {mse:.4f} | {mae:.4f} |" for n, f, mse, mae in rows)
    strip = common.png_output(side_by_side(recs), recipe, scale=4, nrow=len(recs))
    caption = "Left to right: preprocessed input, " + ", ".join(models) + ". Errors on [0, 1] pixels.\n\n"
    return common.png_output(x[0], {**recipe, "image": "preprocessed"}, scale=8), strip, caption + table + score_md, pct


def _input_for(inputs: dict, src, config) -> torch.Tensor:
    """The upload prepared for a model of this shape, once per shape (``inputs``: shape -> (1, C, H, W))."""
    if _shape(config) not in inputs:
        inputs[_shape(config)] = model_input(src, config)
    return inputs[_shape(config)]


def side_by_side(images: list[torch.Tensor]) -> torch.Tensor:
    """(1, C, H, W) images of different models -> one (N, C, H, W) batch: grey ones in colour when any is in colour,
    all at the largest size (a 28-px digit model beside a 32-px colour one)."""
    c = max(x.shape[1] for x in images)
    size = max(x.shape[-1] for x in images)
    out = [x.expand(-1, c, -1, -1) if x.shape[1] != c else x for x in images]
    return torch.cat([x if x.shape[-1] == size else torch.nn.functional.interpolate(x, size=(size, size),
                                                                                     mode="nearest") for x in out])


def _shape(config) -> tuple[int, int, int]:
    return config.channels, config.image_size, config.image_size


def render() -> None:
    gr.Markdown("Draw a digit or upload a photo/scan of one. It is preprocessed the way MNIST was made "
                "(grayscale, ink made white on black, cropped, fitted into 20×20, centred by mass in 28×28), then "
                "reconstructed by each autoencoder. Colour models (e.g. `vae-emoji32`) get the picture itself: "
                "transparency on white, padded to a square, resized to their size. A likelihood model (a VAE's bound, the random forest's exact "
                "value) tells how typical the drawing is.")
    with gr.Row():
        with gr.Column():
            source = gr.Radio(list(SOURCES), value="Drawing", label="Input", elem_id="rec-source")
            drawing = gr.Sketchpad(label="Draw a digit", image_mode="L", canvas_size=(280, 280), type="numpy",
                                   elem_id="rec-pad")
            upload = gr.File(label="…or upload an image (photo, scan, PNG, JPEG, ...)", file_types=["image"],
                             type="filepath", elem_id="rec-upload")
            ex = gr.Examples([[examples.path(f), "Upload"] for f in examples.UPLOADS], [upload, source],
                             example_labels=examples.labels(examples.UPLOADS), **examples.KW, elem_id="rec-examples")
            models = gr.Dropdown(choices=recon_choices(), value=default_models(), multiselect=True,
                                 allow_custom_value=True, label="Autoencoders", elem_id="rec-models")
            colour = examples.COLOUR_MODEL in recon_choices()  # emoji uploads with the shipped colour VAE
            cex = gr.Examples([[examples.path(f), "Upload", [examples.COLOUR_MODEL]] for f in examples.COLOUR],
                              [upload, source, models], label=f"Colour: emoji with {examples.COLOUR_MODEL}",
                              example_labels=examples.labels(examples.COLOUR), **examples.KW,
                              elem_id="rec-colour-examples") if colour else None
            am = common.model_dropdown("Typicality model (VAE / random forest / pixel GPT)",
                                       capability="log_likelihood", elem_id="rec-anomaly-model", prefer=("vae-mnist",))
            btn = gr.Button("Reconstruct", variant="primary", elem_id="rec-btn")
        with gr.Column():
            pre = common.image_output("Preprocessed input (the first model's size)", elem_id="rec-input")
            out = common.image_output("Reconstructions", elem_id="rec-output")
            pct = gr.Number(label="Typicality percentile among held-out images", interactive=False, elem_id="rec-pct",
                            visible=False)  # shown once there is a score (an empty Number reads "0" in the page)
            info = gr.Markdown(elem_id="rec-info")
    upload.upload(lambda: "Upload", None, source, api_visibility="private", queue=False)
    btn.click(reconstruct, [source, drawing, upload, models, am], [pre, out, info, pct], api_name="reconstruct") \
        .success(lambda p: gr.Number(visible=p is not None), pct, pct, api_visibility="private", queue=False)
    ex.load_input_event.then(reconstruct, [source, drawing, upload, models, am], [pre, out, info, pct],
                             api_visibility="private") \
        .success(lambda p: gr.Number(visible=p is not None), pct, pct, api_visibility="private", queue=False)
    if cex is not None:  # no typicality: the likelihood models' reference images are digits
        cex.load_input_event.then(lambda s, d, u, m: reconstruct(s, d, u, m, None), [source, drawing, upload, models],
                                  [pre, out, info, pct], api_visibility="private") \
            .success(lambda p: gr.Number(visible=p is not None), pct, pct, api_visibility="private", queue=False)
    return common.named(locals())
