"""The Train tab's settings turned into runs: presets, checks with a clear message per setting, the data a run
loads, and the Start / Resume / Fit prior / Publish callbacks that hand jobs to the service (``train_jobs``)."""
from __future__ import annotations

import functools
import os
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from .. import checkpoint, families, jobs, registry, storage
from ..data import EMOJI_DATASETS, EMOJI_PATH, IMAGE_EXTS, MAX_FOLDER_IMAGES, default_mnist_root
from ..text2image import is_text_model
from ..train import TrainConfig, steps_per_epoch
from ..training import recipes
from . import common, train_jobs
from .train_jobs import service, stream, submit, workspace

DATA_5K, DATA_FULL, DATA_ZIP = "MNIST 5k (built in)", "MNIST 60k", "my images (.zip)"
DATA_EMOJI = {"Emoji 32 px (built in, colour)": "emoji32", "Emoji 64 px (built in, colour)": "emoji64"}
QUICK = "quick look (a few hundred steps, 1-5 min on CPU)"  # measured on 2 shared, saturated cores
QUALITY, CUSTOM = "quality (20 epochs, 15+ min on CPU)", "custom"
PRESET_KINDS = {QUICK: "quick", QUALITY: "quality"}
NEW, CONTINUE = "a new model", "a trained model's weights (fine-tune)"

MAX_EPOCHS = 50
MAX_DEPTH = 3  # extra conv layers per resolution (GAN `blocks`)
MAX_UPLOAD_MB = 10  # the app also refuses larger uploads (launch max_file_size)
MAX_DATA_MB = 256  # training images held in memory by one run (float32)
MIN_IMAGES = 8
TIME_LIMIT_S = float(os.environ.get("IMGGEN_TRAIN_TIME_LIMIT", 3600))  # wall-clock cap per job
EVAL_SAMPLES = 500  # samples for the per-epoch metrics
MAX_GRID_EVERY = 100_000
MAX_BETA = 100.0
PRIOR_COMPONENTS, MAX_PRIOR_COMPONENTS = 30, 300  # latent mixture of a DCGAN run (bench/results/prior-fits.md)
PRIOR_SAMPLES, MAX_PRIOR_SAMPLES = 20_000, 200_000  # latents drawn per fit


# ---- families and presets -----------------------------------------------------------------------------------
def family_labels() -> dict[str, str]:
    """The Train tab's family list: label -> family (every trainable entry of imggen/families.py)."""
    return {label: f.name for label, f in families.trainable().items()}


def family_of(label_or_name: str) -> str | None:
    labels = family_labels()
    return labels.get(label_or_name) or (label_or_name if label_or_name in labels.values() else None)


def _label(family: str) -> str:
    return next((k for k, v in family_labels().items() if v == family), family)


def preset_values(family_label: str, preset: str) -> dict:
    """Hyperparameters a preset puts in the settings panel (the user may then edit them)."""
    family = family_of(family_label) or next(iter(family_labels().values()))  # unknown: the tab's first family
    v = families.preset_settings(family, PRESET_KINDS.get(preset, "quick"))
    return {**v, "augment": False, "d_steps": 1, "beta": 1.0, "max_images": 4500, "grid_every": 0, "depth": 0}


def family_data(family_label: str) -> tuple:
    """A text -> image family learns from captions: picking it selects the captioned emoji (32 px, colour)."""
    fam = family_of(family_label)
    if fam is None or not is_text_model(families.get(fam).model):
        return gr.skip(), gr.skip(), gr.skip()
    source = next(iter(DATA_EMOJI))
    return (source, *data_format(source))


def data_format(source: str) -> tuple[int, str] | None:
    """(image size, colour) a built-in data source is made of; None for an upload (any size)."""
    if source in DATA_EMOJI:
        return EMOJI_DATASETS[DATA_EMOJI[source]], "RGB"
    return None if source == DATA_ZIP else (28, "grayscale")


def model_overrides(family: str, latent_dim: int, width: int, spectral_norm: bool, depth: int = 0) -> dict:
    """UI settings -> the family config's fields (only those the family has), checked by the config itself."""
    over = recipes.model_overrides(family, latent_dim, width, spectral_norm, depth)
    try:
        families.get(family).config(**over)  # the family's own checks (the pixel GPT's heads), up front
    except ValueError as e:
        raise gr.Error(f"Model settings: {e}") from e
    return over


def init_settings(start_from: str, init_model: str | None):
    """Picking a trained model to continue: the family, image format and architecture fields show its own
    settings, and the learning rates the rate it last trained at (unchanged while starting a new model)."""
    if start_from != CONTINUE or not init_model or init_model not in registry.model_paths():
        return (gr.skip(),) * 10
    meta = checkpoint.read_metadata(registry.model_paths()[init_model])
    c, rec = meta["config"], meta["recipe"]
    width = next((c[k] for k in ("g_width", "hidden", "n_embd") if k in c), None)
    lr = rec.get("lr")  # of its last phase
    return (_label(meta["family"]), c.get("image_size", gr.skip()), "RGB" if c.get("channels") == 3 else "grayscale",
            c.get("latent_dim", gr.skip()), gr.skip() if width is None else width, c.get("blocks", gr.skip()),
            c.get("use_spectral_norm", gr.skip()), lr or gr.skip(), rec.get("lr_d") or lr or gr.skip(),
            rec["loss"] if _is_gan(meta["family"]) and rec.get("loss") in ("hinge", "bce") else gr.skip())


def warm_start_run(init_model: str | None, family: str, image_size: int, channels: int) -> tuple[str, str]:
    """(name, checkpoint path) of the model a run continues (the worker loads its weights); gr.Error unless the
    family and image format match."""
    init = common.require_model(init_model)
    path = registry.model_paths()[init]
    meta = checkpoint.read_metadata(path)
    if meta["family"] != family:
        raise gr.Error(f"'{init}' is a {_label(meta['family'])} model: pick that family to continue it (or start "
                       "a new model).")
    c = meta["config"]
    if (c.get("image_size"), c.get("channels")) != (image_size, channels):
        raise gr.Error(f"'{init}' makes {c.get('image_size')} px {'RGB' if c.get('channels') == 3 else 'grayscale'} "
                       "images: train it on data of that size and colour.")
    return init, str(path)


def check_name(name: str, family: str) -> str:
    name = (name or "").strip() or f"{family}-{time.strftime('%H%M%S')}"
    try:
        return registry.check_name(name)
    except ValueError as e:
        raise gr.Error(f"Model name: {e}.") from e


def _count_zip_images(path: str) -> int:
    if os.path.getsize(path) > MAX_UPLOAD_MB * 2**20:
        raise gr.Error(f"The upload is {os.path.getsize(path) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
    if not zipfile.is_zipfile(path):
        raise gr.Error("The upload is not a .zip archive; zip a folder of images (PNG, JPEG, ...) and upload that.")
    with zipfile.ZipFile(path) as zf:
        entries = [i for i in zf.infolist() if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_EXTS]
    if any(i.flag_bits & 0x1 for i in entries):
        raise gr.Error("The zip is encrypted (password-protected); zip your images without a password.")
    n = len(entries)
    if n == 0:
        raise gr.Error("The zip contains no images (looked for " + ", ".join(sorted(IMAGE_EXTS)) + ").")
    if n > 2 * MAX_FOLDER_IMAGES:
        raise gr.Error(f"The zip holds {n} images; the limit is {2 * MAX_FOLDER_IMAGES}.")
    return n


def run_data(source: str, zip_path: str | None, image_size: int, color: str, max_images: int) -> tuple[dict, int]:
    """(what the worker loads, about how many training images) for the chosen data source, with the server's
    limits checked here; the images themselves are decoded in the worker, within its budgets."""
    size, channels = int(image_size), 3 if color == "RGB" else 1
    cap = min(MAX_FOLDER_IMAGES, MAX_DATA_MB * 2**20 // (4 * channels * size * size))
    max_images = common.whole_number(max_images, f"Max images (at {size} px {color.lower()})", MIN_IMAGES, cap)
    kw = dict(split="train", image_size=size, channels=channels, limit=max_images)
    if source == DATA_ZIP:
        if not zip_path:
            raise gr.Error("Upload a .zip of images first (or pick MNIST as the data).")
        try:
            n = _count_zip_images(zip_path)
        except (zipfile.BadZipFile, ValueError, OSError, RuntimeError) as e:
            raise gr.Error(f"Could not read the zip: {e}") from e
        return dict(name=str(zip_path), **kw), min(n, max_images)
    if source in DATA_EMOJI:
        return dict(name=DATA_EMOJI[source], **kw), min(max_images, _emoji_train_images())
    if source == DATA_FULL:
        if default_mnist_root() is None:
            raise gr.Error("Full MNIST is not installed on this server (set IMGGEN_MNIST_ROOT); use MNIST 5k.")
        return dict(name="mnist", **kw), max_images
    return dict(name="mnist5k", **kw), min(max_images, 4500)


def _is_gan(family: str) -> bool:
    return family in families.FAMILIES and families.FAMILIES[family].gan


@functools.cache
def _emoji_train_images() -> int:
    """Images in the emoji train split (one small array of the data file, read once)."""
    with np.load(EMOJI_PATH) as z:
        return int((z["split"] == 0).sum())


def check_settings(epochs, batch_size, lr, lr_d, latent_dim, width, d_steps, depth=0, grid_every=0, beta=1.0) -> None:
    """Each setting in its range, else a gr.Error naming it (non-numbers included)."""
    common.whole_number(epochs, "Epochs", 1, MAX_EPOCHS)
    common.whole_number(batch_size, "Batch size", 2, 512)
    common.number(lr, "Learning rate (G / model)", 0, 0.1, open_low=True)
    common.number(lr_d, "Learning rate (D)", 0, 0.1, open_low=True)
    common.whole_number(latent_dim, "Latent size", 2, 512)
    common.whole_number(width, "Width", 8, 256)
    common.whole_number(d_steps, "D steps per G step", 1, 5)
    common.whole_number(depth, "Extra conv layers per resolution", 0, MAX_DEPTH)
    common.whole_number(grid_every, "Grid every N steps", 0, MAX_GRID_EVERY)
    common.number(beta, "KL weight β", 0, MAX_BETA)


def make_config(epochs, batch_size, lr, lr_d, loss, ema, augment, d_steps, beta, seed, grid_every, family,
                num_images) -> TrainConfig:
    spe = steps_per_epoch(family, int(batch_size), num_images)
    auto_grid = spe // 4 if spe > 60 else 0  # long epochs: 4 grids per epoch
    return TrainConfig(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr), lr_d=float(lr_d),
                       betas=(0.5, 0.999) if _is_gan(family) else (0.9, 0.999), loss=loss, d_steps=int(d_steps),
                       use_ema=bool(ema), use_augment=bool(augment), beta=float(beta), seed=common.to_seed(seed),
                       sample_every=int(grid_every or 0) or auto_grid, log_every=1, num_grid=64,
                       eval_samples=EVAL_SAMPLES, time_limit_s=TIME_LIMIT_S)


def start_training(family, data_source, zip_file, image_size, color, max_images, epochs, batch_size, lr, lr_d,
                   latent_dim, width, loss, spectral_norm, ema, augment, d_steps, beta, seed, grid_every, name,
                   depth=0, start_from=NEW, init_model=None, request: gr.Request = None, progress=gr.Progress()):
    fam = family_of(family)
    if fam is None:
        raise gr.Error(f"Unknown model family {family!r}; pick one of {', '.join(family_labels())}.")
    check_settings(epochs, batch_size, lr, lr_d, latent_dim, width, d_steps, depth, grid_every, beta)
    if is_text_model(families.get(fam).model) and data_source not in DATA_EMOJI:
        raise gr.Error(f"{family} learns from captions: pick the emoji data ({', '.join(DATA_EMOJI)}); MNIST and "
                       "uploaded images have none.")
    name = check_name(name, fam)
    init, init_path = "", None
    if start_from == CONTINUE:
        init, init_path = warm_start_run(init_model, fam, int(image_size), 3 if color == "RGB" else 1)
    data, num_images = run_data(data_source, zip_file, image_size, color, max_images)
    cfg = make_config(epochs, batch_size, lr, lr_d, loss, ema, augment, d_steps, beta, seed, grid_every, fam,
                      num_images)
    over = {} if init else model_overrides(fam, int(latent_dim), int(width), bool(spectral_norm), int(depth))
    owner = common.visitor(request)[1]
    out = workspace(owner) / f"{name}.safetensors"
    if data_source == DATA_ZIP:  # the upload is Gradio's to delete; the run (and its Resume) keeps its own copy
        data["name"] = storage.keep_copy(data["name"], workspace(owner))
    job = submit(owner, jobs.JobSpec("train", fam, data, cfg, name, str(out), over, init_path, init))
    yield from stream(job, progress)


def resume_training(epochs, name, request: gr.Request = None, progress=gr.Progress()):
    owner = common.visitor(request)[1]
    run = service().run_of(owner)
    if run is None or not run.ckpt_path:
        raise gr.Error("Nothing to resume in this session: press Start first (a session's runs are kept for "
                       f"{storage.WORKSPACE_TTL_S / 3600:g} h).")
    epochs = common.whole_number(epochs, "Epochs", 1, MAX_EPOCHS)
    new_name = check_name(name or run.spec.name, run.spec.family)
    cfg = replace(run.spec.cfg, epochs=epochs, time_limit_s=run.seconds + TIME_LIMIT_S)
    out = str(workspace(owner) / f"{new_name}.safetensors")
    job = submit(owner, replace(run.spec, kind="resume", cfg=cfg, name=new_name, out=out))
    yield from stream(job, progress)


def _metric_rows(before: dict, after: dict) -> str:
    """Before / after a fit, side by side: digit metrics where the classifier applies, else sliced Wasserstein."""
    keys = [("fd", "classifier FD ↓", "{:.2f}"), ("coverage", "classes covered", "{}/10"),
            ("confident_fraction", "confidently classified", "{:.1%}"), ("precision", "precision", "{:.3f}"),
            ("recall", "recall", "{:.3f}"), ("swd", "sliced Wasserstein ↓", "{:.4f}")]
    rows = [f"| {label} | {fmt.format(before[k])} | {fmt.format(after[k])} |"
            for k, label, fmt in keys if k in before and k in after]
    return "\n".join(["| metric | N(0, I) | mixture |", "|---|---|---|", *rows])


def fit_run_prior(components, request: gr.Request = None, progress=gr.Progress()):
    """Fit a latent mixture prior to this session's DCGAN run (:func:`imggen.registry.fit_prior`) in its worker,
    measure sampling before and after on the run's data, and show the fixed-seed grid drawn from the mixture.
    A generator, so that a visitor who leaves (or cancels) stops the fit."""
    owner = common.visitor(request)[1]
    run = service().run_of(owner)
    if run is None or not run.ckpt_path or not Path(run.ckpt_path).exists():
        raise gr.Error("Nothing to fit in this session: train a DCGAN first (Start); the mixture is fitted to "
                       "this session's last run.")
    if not families.get(run.spec.family).fits_prior:
        raise gr.Error(f"This session's run is a {run.spec.family} model; a fitted latent mixture is for DCGANs "
                       "(unconditional GANs).")
    k = common.whole_number(components, "Mixture components", 2, MAX_PRIOR_COMPONENTS)
    d = checkpoint.read_metadata(run.ckpt_path)["config"]["latent_dim"]
    samples = min(MAX_PRIOR_SAMPLES, max(PRIOR_SAMPLES, 8 * d * k))  # ~4x the 2d latents each Gaussian needs
    n, seed, t, name = EVAL_SAMPLES, run.spec.cfg.seed, time.time(), run.spec.name
    job = submit(owner, replace(run.spec, kind="fit_prior", out=run.ckpt_path,
                                 prior=dict(components=k, samples=samples, eval_samples=n)))
    progress(0, desc="fitting the latent mixture")
    done = False
    try:
        for item in job.follow():
            if item and item[0] == "end":
                break
            yield (gr.skip(),) * 4  # a heartbeat (see _stream)
        done = True
    finally:
        if not done:
            service().stop(owner, job.id)
    if job.state != "finished":
        raise gr.Error(f"Fitting the mixture failed: {job.message or job.state}")
    res = job.result
    registry.register(name, res["ckpt_path"], owner=owner)
    model = registry.load(name, owner=owner)
    grid_img = common.png_output(model.sample(run.spec.cfg.num_grid, seed=seed + 777),  # training's grid seeds
                                 {"model": name, "family": run.spec.family, "seed": seed,
                                  "prior_components": res["info"]["components"]}, scale=2)
    status = (f"fitted a {res['info']['components']}-component latent mixture to '{name}' ({samples:,} "
              f"latents, {time.time() - t:.0f}s with the measurements); every tab now samples it from the mixture. "
              "Training again (Resume) changes G, so the run returns to N(0, I) until you fit again.")
    note = (f"**Latent mixture prior** ({res['info']['components']} Gaussians fitted to G's own samples clustered by "
            f"D's features; {n} samples from each prior vs the training images, seed {seed}):\n\n"
            + _metric_rows(res["before"], res["after"]))
    gif = Path(res["ckpt_path"]).with_name(f"{name}-progress.gif")
    yield grid_img, status, note, storage.offer([res["ckpt_path"], *([gif] if gif.exists() else [])])


def publish_model(name, public_name, request: gr.Request = None) -> str:
    """Share one of this visitor's models with every visitor under a name nobody has taken."""
    owner = common.visitor(request)[1]
    public_name = (public_name or "").strip() or (name or "").strip()
    try:
        got = registry.publish((name or "").strip(), public_name, train_jobs.RUNS_DIR / "public", owner=owner)
    except ValueError as e:
        raise gr.Error(f"Publish: {e}.") from e
    return (f"Published '{got}': every visitor can now pick it (it stays {storage.PUBLIC_TTL_S / 3600:g} h after "
            "publishing).")
