"""Train tab: train a GAN or VAE live — fixed-seed sample grids, loss curves and per-epoch metrics stream back;
Stop keeps the model, Resume continues it, and the result joins this visitor's model lists. The work runs in the
job service (:mod:`imggen.jobs`): a worker process per run, one job per visitor, a bounded queue. This file lays
the tab out and wires it; ``train_run`` turns its settings into runs, ``train_jobs`` follows them."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from .. import families, storage
from ..data import default_mnist_root
from . import common
from .train_jobs import arm, service, stop_training, stream, workspace  # noqa: F401 (the tab's API)
from .train_run import (CONTINUE, CUSTOM, DATA_5K, DATA_EMOJI, DATA_FULL, DATA_ZIP, MAX_DEPTH,  # noqa: F401
                        MAX_EPOCHS, MAX_PRIOR_COMPONENTS, MAX_UPLOAD_MB, NEW, PRIOR_COMPONENTS, QUALITY, QUICK,
                        check_settings, data_format, family_data, family_labels, fit_run_prior, init_settings,
                        make_config, model_overrides, preset_values, publish_model, resume_training, run_data,
                        start_training)

TITLE = "Train"
ID = "train"
PREVIEW = Path(__file__).resolve().parents[2] / "assets" / "train-preview"  # .gif + .json: scripts/make_train_preview.py


# ---- layout -------------------------------------------------------------------------------------------------
def _epochs_info(family_label: str) -> str:
    fam = family_labels().get(family_label)
    return families.FAMILIES[fam].epochs_info if fam else families.Family.epochs_info


def _data_format(source: str):
    """A built-in data source sets the image size and colour it is made of; an upload leaves them."""
    fmt = data_format(source)
    return (gr.skip(), gr.skip()) if fmt is None else fmt


def _apply_preset(family, preset):
    if preset == CUSTOM:  # the fields stay; only the epochs note follows the family
        return (gr.Slider(info=_epochs_info(family)),) + (gr.skip(),) * (len(_PRESET_KEYS) - 1)
    v = preset_values(family, preset)
    return (gr.Slider(value=v["epochs"], info=_epochs_info(family)),) + tuple(v[k] for k in _PRESET_KEYS[1:])


def preview_line(facts: dict) -> str:
    """What the shipped preview GIF is: the run behind it, from its .json (scripts/make_train_preview.py)."""
    def took(s: float) -> str:
        return f"{s // 60:.0f} min {s % 60:02.0f} s" if s >= 60 else f"{s:.0f} s"

    wall = f" ({took(facts['wall_seconds'])} of wall time on a busy shared machine)" if "wall_seconds" in facts else ""
    end = (f"; at the end: classifier FD {facts['fd']:g}, {facts['coverage']} of 10 digit classes"
           if facts.get("fd") is not None else "")
    return (f"**Preview**: a real run of the default settings — {facts['family']}, {facts['epochs']} epochs of "
            f"{facts['data']} ({facts['images']:,} images, batch {facts['batch_size']}) = {facts['steps']} steps, "
            f"seed {facts['seed']}: {took(facts['seconds'])} of one CPU core{wall}{end}. **Start** trains yours "
            "and shows it live here.")


def _preview() -> tuple[str | None, str]:
    """(the preview GIF's path, its caption), or (None, "") when the assets are missing."""
    gif, meta = PREVIEW.with_suffix(".gif"), PREVIEW.with_suffix(".json")
    if not (gif.exists() and meta.exists()):
        return None, ""
    return str(gif), preview_line(json.loads(meta.read_text()))


def _run_view():
    """Start / Resume / Fit: the run's own grid takes the preview's place."""
    return gr.Column(visible=False), gr.Image(visible=True)


_PRESET_KEYS = ("epochs", "batch_size", "lr", "lr_d", "latent_dim", "width", "loss", "spectral_norm", "ema",
                "augment", "d_steps", "beta", "max_images", "grid_every", "depth")


def render() -> None:
    first = next(iter(family_labels()))  # the table's first trainable family (DCGAN) opens the tab
    v = preset_values(first, QUICK)
    gr.Markdown("Train a generator and watch it learn: the grid shows the **same fixed latents** after every "
                "epoch, so noise visibly turns into digits. Trainings run one at a time beside the other tabs; "
                "yours waits its turn (one per visitor). Stop keeps the model; a finished or stopped run joins "
                f"**your** model lists in every tab for {storage.WORKSPACE_TTL_S / 3600:g} h — nobody else sees "
                "it unless you publish it.")
    with gr.Row():
        with gr.Column(scale=2):
            family = gr.Dropdown(list(family_labels()), value=first, label="Model family", elem_id="train-family")
            preset = gr.Radio([QUICK, QUALITY, CUSTOM], value=QUICK, label="Preset", elem_id="train-preset")
            sources = [DATA_5K] + ([DATA_FULL] if default_mnist_root() else []) + [*DATA_EMOJI, DATA_ZIP]
            source = gr.Radio(sources, value=DATA_5K, label="Data", elem_id="train-data")
            zip_file = gr.File(label=f"Your images (.zip, ≤ {MAX_UPLOAD_MB} MB; subfolders = classes)",
                               file_types=[".zip"], type="filepath", visible=False, elem_id="train-zip")
            with gr.Row():
                image_size = gr.Radio([28, 32, 64], value=28, label="Image size (px)", elem_id="train-size")
                color = gr.Radio(["grayscale", "RGB"], value="grayscale", label="Colour", elem_id="train-color")
            with gr.Accordion("Settings (filled by the preset; edit for a custom run)", open=False):
                with gr.Row():
                    epochs = gr.Slider(1, MAX_EPOCHS, value=v["epochs"], step=1, label="Epochs", elem_id="train-epochs",
                                       info=_epochs_info(first))
                    max_images = gr.Number(value=v["max_images"], precision=0, label="Max images",
                                           elem_id="train-max-images")
                    batch_size = gr.Dropdown([8, 16, 32, 64, 128, 256], value=v["batch_size"], label="Batch",
                                             elem_id="train-batch")
                with gr.Row():
                    lr = gr.Number(value=v["lr"], label="Learning rate (G / model)", elem_id="train-lr")
                    lr_d = gr.Number(value=v["lr_d"], label="Learning rate (D)", elem_id="train-lr-d")
                    latent_dim = gr.Number(value=v["latent_dim"], precision=0, label="Latent size",
                                           elem_id="train-latent")
                    width = gr.Number(value=v["width"], precision=0, label="Width (channels)", elem_id="train-width")
                with gr.Row():
                    loss = gr.Radio(["hinge", "bce"], value=v["loss"], label="GAN loss", elem_id="train-loss")
                    d_steps = gr.Slider(1, 5, value=1, step=1, label="D steps per G step", elem_id="train-dsteps")
                    beta = gr.Number(value=1.0, label="KL weight β (VAEs)", elem_id="train-beta")
                    depth = gr.Slider(0, MAX_DEPTH, value=v["depth"], step=1, elem_id="train-depth",
                                      label="Extra 3×3 convs per resolution (GANs)",
                                      info="0 = classic DCGAN depth. 1 costs ~2× per CPU step but learns much "
                                           "faster per step (see the dcgan-mnist card).")
                with gr.Row():
                    spectral_norm = gr.Checkbox(value=True, label="Spectral norm (D)", elem_id="train-sn")
                    ema = gr.Checkbox(value=v["ema"], label="EMA of G", elem_id="train-ema")
                    augment = gr.Checkbox(value=False, label="Augmentation (DiffAugment)", elem_id="train-augment")
                with gr.Row():
                    seed = common.seed_input(0, elem_id="train-seed")
                    grid_every = gr.Number(value=0, precision=0, label="Grid every N steps (0 = auto)",
                                           elem_id="train-grid-every")
            start_from = gr.Radio([NEW, CONTINUE], value=NEW, label="Start from", elem_id="train-start-from",
                                  info="Fine-tuning keeps a model's architecture and goes on from its weights, on "
                                       "this data; the copy is saved under the new name and its card lists every "
                                       "phase.")
            with gr.Column(visible=False) as init_box:
                init_model = common.model_dropdown("Model to continue", family=tuple(family_labels().values()),
                                                   elem_id="train-init", prefer=("cgan-mnist",))
            name = gr.Textbox(value="my-model", label="Save as (model name)", elem_id="train-name")
            with gr.Row():
                start_btn = gr.Button("Start", variant="primary", elem_id="train-start")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
                resume_btn = gr.Button("Resume", elem_id="train-resume")
            stop_info = gr.Markdown(elem_id="train-stop-info")  # not the status box: the run's last word wins there
            with gr.Accordion("Share a model you trained with every visitor", open=False):
                with gr.Row():
                    pub_model = common.model_dropdown("Your model", elem_id="train-publish-model", owned=True)
                    pub_name = gr.Textbox(label="Publish as (a name nobody has taken)", elem_id="train-publish-name")
                    pub_btn = gr.Button("Publish", elem_id="train-publish")
                pub_info = gr.Markdown(elem_id="train-publish-info")
            with gr.Accordion("After training a DCGAN: fit a latent mixture prior", open=False):
                gr.Markdown("Replaces the N(0, I) noise by a mixture of Gaussians fitted to the trained generator "
                            "(its own samples clustered by the discriminator's features; no labels): fewer "
                            "ambiguous in-between digits, a little less variety. The table shows both priors "
                            "measured on the same seeds.")
                with gr.Row():
                    prior_k = gr.Slider(2, MAX_PRIOR_COMPONENTS, value=PRIOR_COMPONENTS, step=1,
                                        label="Mixture components", elem_id="train-prior-k",
                                        info="30 did best in dcgan-mnist's quick fits (its card); more follow G "
                                             "more closely and draw more latents (8 × latent size × components)")
                    prior_btn = gr.Button("Fit latent prior", elem_id="train-prior")
        with gr.Column(scale=3):
            gif, caption = _preview()
            with gr.Column(visible=gif is not None, elem_id="train-preview") as preview:
                gr.Image(gif, label="What a run looks like (fixed-seed samples as it learns)", type="filepath",
                         interactive=False, height=420, buttons=["fullscreen"], elem_id="train-preview-gif")
                gr.Markdown(caption, elem_id="train-preview-info")
            grid_img = common.image_output("Samples from fixed seeds", elem_id="train-grid", height=420,
                                           visible=gif is None)
            status = gr.Textbox(label="Status", lines=2, interactive=False, elem_id="train-status")
            notes = gr.Markdown(elem_id="train-warning")
            with gr.Row():
                # labels name each panel before the first data arrive (a title shows only with data)
                loss_plot = gr.LinePlot(x="step", y="value", color="series", title="losses", height=240,
                                        label="Losses per step", elem_id="train-losses")
                aux_plot = gr.LinePlot(x="step", y="value", color="series", title="D(x) and D(G(z))", height=240,
                                       label="Discriminator / KL terms per step", elem_id="train-aux")
            with gr.Row():
                metric_plot = gr.LinePlot(x="epoch", y="value", color="metric", height=240,
                                          title="per-epoch metric (lower is better)", label="Metric per epoch",
                                          elem_id="train-metrics")
                coverage = gr.BarPlot(x="digit", y="samples", title="digit classes in the metric samples",
                                      height=240, label="Digit classes of the samples", elem_id="train-coverage")
            files = gr.File(label="Download: weights (.safetensors) and progress GIF", file_count="multiple",
                            interactive=False, elem_id="train-files")

    settings = [epochs, batch_size, lr, lr_d, latent_dim, width, loss, spectral_norm, ema, augment, d_steps, beta,
                max_images, grid_every, depth]
    for trigger in (family.input, preset.input):  # user edits only: a programmatic update never resets settings
        trigger(_apply_preset, [family, preset], settings, api_visibility="private", queue=False)
    family.input(family_data, family, [source, image_size, color], api_visibility="private", queue=False)
    source.change(lambda s: gr.File(visible=s == DATA_ZIP), source, zip_file, api_visibility="private", queue=False)
    source.input(_data_format, source, [image_size, color], api_visibility="private", queue=False)
    start_from.change(lambda s: gr.Column(visible=s == CONTINUE), start_from, init_box, api_visibility="private",
                      queue=False)
    shown = [family, image_size, color, latent_dim, width, depth, spectral_norm, lr, lr_d, loss]
    for trigger in (start_from.input, init_model.change):
        trigger(init_settings, [start_from, init_model], shown, api_visibility="private", queue=False)
    outputs = [grid_img, status, loss_plot, aux_plot, metric_plot, coverage, notes, files]
    inputs = [family, source, zip_file, image_size, color, max_images, epochs, batch_size, lr, lr_d, latent_dim,
              width, loss, spectral_norm, ema, augment, d_steps, beta, seed, grid_every, name, depth, start_from,
              init_model]
    # the job service bounds and queues trainings itself: their streams never wait in (or fill) Gradio's queue
    job = dict(concurrency_limit=None, show_progress="full")
    for btn in (start_btn, resume_btn, prior_btn):
        btn.click(_run_view, None, [preview, grid_img], api_visibility="private", queue=False)
    start_btn.click(arm, None, stop_info, api_visibility="private", queue=False).then(
        start_training, inputs, outputs, api_name="train", **job)
    resume_btn.click(arm, None, stop_info, api_visibility="private", queue=False).then(
        resume_training, [epochs, name], outputs, api_name="resume", **job)
    stop_btn.click(stop_training, None, stop_info, api_name="stop", queue=False)
    prior_btn.click(fit_run_prior, prior_k, [grid_img, status, notes, files], api_name="fit_prior", **job)
    pub_btn.click(publish_model, [pub_model, pub_name], pub_info, api_name="publish", concurrency_limit=None)
