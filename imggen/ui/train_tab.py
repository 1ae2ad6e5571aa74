"""Train tab: train a GAN or VAE live — fixed-seed sample grids, loss curves and per-epoch metrics stream back;
Stop keeps the model, Resume continues it, and the result joins this visitor's model lists. The work runs in the
job service (:mod:`imggen.jobs`): a worker process per run, one job per visitor, a bounded queue."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import zipfile
from dataclasses import fields, replace
from pathlib import Path

import gradio as gr
import pandas as pd

from .. import checkpoint, jobs, registry, storage
from ..convert import to_pil
from ..data import IMAGE_EXTS, MAX_FOLDER_IMAGES, default_mnist_root
from ..device import cpu_quota
from ..train import TrainConfig, steps_per_epoch
from . import common

TITLE = "Train"
ID = "train"

FAMILIES = {"DCGAN": "dcgan", "Conditional GAN": "cgan", "Autoencoder": "ae", "VAE": "vae",
            "Conditional VAE": "cvae", "VAE-GAN": "vaegan", "Adversarial random forest": "arf",
            "Pixel GPT (autoregressive)": "pixelgpt", "Style-based GAN (StyleGAN)": "stylegan"}
GANS = {"dcgan", "cgan", "stylegan"}
DATA_5K, DATA_FULL, DATA_ZIP = "MNIST 5k (built in)", "MNIST 60k", "my images (.zip)"
QUICK = "quick look (a few hundred steps, 1-5 min on CPU)"  # measured on 2 shared, saturated cores
QUALITY, CUSTOM = "quality (20 epochs, 15+ min on CPU)", "custom"
NEW, CONTINUE = "a new model", "a trained model's weights (fine-tune)"

MAX_EPOCHS = 50
MAX_DEPTH = 3  # extra conv layers per resolution (GAN `blocks`)
MAX_UPLOAD_MB = 10  # the app also refuses larger uploads (launch max_file_size)
MAX_DATA_MB = 256  # training images held in memory by one run (float32)
MIN_IMAGES = 8
TIME_LIMIT_S = float(os.environ.get("IMGGEN_TRAIN_TIME_LIMIT", 3600))  # wall-clock cap per job
EVAL_SAMPLES = 500  # samples for the per-epoch metrics
YIELD_EVERY_S = 0.5  # stream at least this often: a cancelled/disconnected job is closed at its next yield
PLOT_EVERY_S = 3.0  # redraw the curves between epochs at most this often (they are costly in the browser)
RUNS_DIR = Path(os.environ.get("IMGGEN_RUNS_DIR") or Path(__file__).resolve().parents[2] / "runs")
MAX_GRID_EVERY = 100_000
MAX_BETA = 100.0
PRIOR_COMPONENTS, MAX_PRIOR_COMPONENTS = 30, 300  # latent mixture of a DCGAN run (bench/results/prior-fits.md)
PRIOR_SAMPLES, MAX_PRIOR_SAMPLES = 20_000, 200_000  # latents drawn per fit
MAX_TRAININGS = int(os.environ.get("IMGGEN_MAX_TRAININGS", 1))  # at once; more wait (at most MAX_WAITING)
MAX_WAITING = int(os.environ.get("IMGGEN_MAX_WAITING", 4))
KEPT_WORKERS = int(os.environ.get("IMGGEN_KEPT_RUNS", 3))  # runs whose training state stays in memory (Resume)
PREVIEW = Path(__file__).resolve().parents[2] / "assets" / "train-preview"  # .gif + .json: scripts/make_train_preview.py

_service: jobs.JobService | None = None
_service_lock = threading.Lock()


def service() -> jobs.JobService:
    """The app's job service, made on first use (with the workspace clean-up that goes with it)."""
    global _service
    with _service_lock:
        if _service is None:
            _service = jobs.JobService(max_running=MAX_TRAININGS, max_waiting=MAX_WAITING, max_workers=KEPT_WORKERS,
                                       threads=max(1, cpu_quota() - 1), idle_ttl_s=storage.WORKSPACE_TTL_S)
            storage.start_janitor(RUNS_DIR, _service)
        return _service


# ---- settings -> run ----------------------------------------------------------------------------------------
def preset_values(family_label: str, preset: str) -> dict:
    """Hyperparameters a preset puts in the settings panel (the user may then edit them)."""
    fam = FAMILIES.get(family_label, "dcgan")
    gan = fam in GANS
    v = dict(epochs=2 if gan else 3, batch_size=32, lr=2e-4 if gan else 1e-3, lr_d=2e-4, latent_dim=64 if gan else 32,
             width=32, loss="hinge" if gan else "bce", spectral_norm=True, ema=gan, augment=False, d_steps=1,
             beta=1.0, max_images=4500, grid_every=0, depth=0)
    if fam == "ae":
        v["latent_dim"] = 16
    if fam == "vaegan" and preset == QUICK:  # ~2x a DCGAN step: fewer epochs for the same wall time
        v["epochs"] = 2
    if fam == "dcgan" and preset == QUICK:  # measured: FD 32 / 7 classes after 280 steps (2e-4: FD 257, 1 class)
        v.update(lr=5e-4, lr_d=5e-4)
    if preset == QUALITY:
        v.update(epochs=20 if gan else 20, batch_size=64, width=64)
    if fam == "arf":  # an epoch is one adversarial round over all the images (batch, rates, sizes do not apply)
        v["epochs"] = 3 if preset == QUICK else 6
    if fam == "pixelgpt":  # width = the transformer's embedding size (4 heads)
        v.update(width=64 if preset == QUICK else 128, lr=1e-3)
    return v


def model_overrides(family: str, latent_dim: int, width: int, spectral_norm: bool, depth: int = 0) -> dict:
    """UI settings -> the family config's fields (only those the family has), checked by the config itself."""
    config_cls = registry.family_classes(family)[0]
    known = {f.name for f in fields(config_cls)}
    want = {"latent_dim": latent_dim, "g_width": width, "d_width": width, "hidden": width, "d_hidden": width,
            "use_spectral_norm": spectral_norm, "blocks": depth, "n_embd": width}
    over = {k: v for k, v in want.items() if k in known}
    try:
        config_cls(**over)  # the family's own checks (the pixel GPT's heads), up front
    except ValueError as e:
        raise gr.Error(f"Model settings: {e}") from e
    return over


def _label(family: str) -> str:
    return next((k for k, v in FAMILIES.items() if v == family), family)


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
            rec["loss"] if meta["family"] in GANS and rec.get("loss") in ("hinge", "bce") else gr.skip())


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


def workspace(owner: str | None) -> Path:
    """A visitor's folder under RUNS_DIR (named by a hash of the session, never by what a visitor typed; one
    folder per app process, so two processes sharing RUNS_DIR never touch each other's)."""
    return RUNS_DIR / "ws" / storage.PROCESS_TOKEN / hashlib.sha256(f"owner:{owner!r}".encode()).hexdigest()[:16]


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
    if source == DATA_FULL:
        if default_mnist_root() is None:
            raise gr.Error("Full MNIST is not installed on this server (set IMGGEN_MNIST_ROOT); use MNIST 5k.")
        return dict(name="mnist", **kw), max_images
    return dict(name="mnist5k", **kw), min(max_images, 4500)


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
                       betas=(0.5, 0.999) if family in GANS else (0.9, 0.999), loss=loss, d_steps=int(d_steps),
                       use_ema=bool(ema), use_augment=bool(augment), beta=float(beta), seed=common.to_seed(seed),
                       sample_every=int(grid_every or 0) or auto_grid, log_every=1, num_grid=64,
                       eval_samples=EVAL_SAMPLES, time_limit_s=TIME_LIMIT_S)


# ---- streaming ----------------------------------------------------------------------------------------------
PLOTS = {  # family -> (series in the loss plot, series in the second plot, second plot's title)
    **{gan: (["loss/D", "loss/G"], ["D(x)", "D(G(z))"], "D(x) and D(G(z)) (mean sigmoid)") for gan in GANS},
    "ae": (["loss/recon"], [], "-"),
    "vae": (["loss/recon"], ["loss/kl"], "KL to the prior (nats per image)"),
    "cvae": (["loss/recon"], ["loss/kl"], "KL to the prior (nats per image)"),
    "vaegan": (["loss/recon", "loss/kl"], ["loss/D", "loss/G", "D(x)", "D(G(z))"], "adversarial terms"),
    "arf": (["forest accuracy"], ["leaves"], "leaves in the mixture"),
    "pixelgpt": (["loss/nll"], ["bits_per_dim"], "bits per pixel (training batches)"),
}


def _frame(rows: list, x: str) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({x: "float64", "value": "float64"})


def _plots(progress: jobs.Progress, family: str):
    """Loss curves, the second plot and the per-epoch metric. Empty data is never sent: the browser keeps the
    axis types of the first data it gets (an empty frame leaves the lines invisible)."""
    first, second, title2 = PLOTS[family]
    df = _frame(progress.losses, "step") if progress.losses else None
    loss = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(first)], title="losses")
    if not second:
        aux = gr.update(visible=False)
    else:
        aux = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(second)], title=title2, visible=True)
    met = _frame(progress.epoch_metrics, "epoch") if progress.epoch_metrics else gr.skip()
    return loss, aux, met


def _coverage(metrics: dict):
    hist = metrics.get("class_histogram")
    if not hist:
        return gr.skip()
    return pd.DataFrame({"digit": [str(i) for i in range(len(hist))], "samples": hist})


def _downloads(job: jobs.Job) -> list[str]:
    """Register the saved checkpoint in its owner's workspace, write the progress GIF; paths to download."""
    path = job.result.get("ckpt_path")
    if not path or not Path(path).exists():
        return []
    registry.register(job.spec.name, path, owner=job.owner)
    files = [path]
    frames = job.progress.frames
    if frames:
        gif = Path(path).with_name(f"{job.spec.name}-progress.gif")
        pils = [to_pil(f.float() / 255) for f in frames[:: max(1, len(frames) // 120)] + frames[-1:]]
        pils[0].save(gif, save_all=True, append_images=pils[1:], duration=350, loop=0)
        files.append(str(gif))
    return storage.offer(files)


def _status_line(job: jobs.Job, ev) -> str:
    info, run = job.progress.info, job.spec
    total, spe = info.get("total_steps", 0), max(1, info.get("steps_per_epoch", 1))
    return (f"{run.family} on {_source(info)} · epoch {ev.epoch:.2f}/{total / spe:g} · step {ev.step}/{total} · "
            f"{ev.steps_per_s:.1f} steps/s · ~{ev.eta_s:.0f}s left")


def _source(info: dict) -> str:
    return f"{info.get('data', '?')} ({info.get('images', '?')} images" + (
        f", {info['skipped']} unreadable files skipped)" if info.get("skipped") else ")")


def _stream(job: jobs.Job, progress):
    """Follow ``job`` and turn what it reports into the tab's outputs; a closed stream (Cancel, a browser
    gone) stops the job."""
    spec, last_plot, last_yield, files, ended = job.spec, 0.0, 0.0, gr.skip(), False
    verb = "Resuming" if spec.kind == "resume" else f"Continuing '{spec.init}' as" if spec.init else "Starting"
    try:
        for item in job.follow():
            if item is None:  # a heartbeat: lets Gradio notice a visitor who left, so their job is stopped
                yield (gr.skip(),) * 8
                continue
            kind, payload = item
            if kind == "queued":
                yield (gr.skip(), f"Waiting for the trainer: {payload} training(s) ahead of yours "
                                  f"({job.id}; Stop cancels it).", *(gr.skip(),) * 6)
            elif kind == "starting":
                yield (gr.skip(), f"{verb} {spec.family}: reading the images…", *(gr.skip(),) * 6)
            elif kind == "started":
                if payload.get("skipped"):
                    job.progress.notes.append(f"ℹ️ Skipped {payload['skipped']} unreadable files in the zip; "
                                              f"training on {payload['images']} images.")
                yield (gr.skip(), f"{verb} {spec.family} on {_source(payload)}…", *_plots(job.progress, spec.family),
                       gr.skip(), "\n\n".join(job.progress.notes), gr.skip())
            elif kind == "event":
                ev = payload
                if ev.kind == "step" and ev.samples is None and time.time() - last_yield < YIELD_EVERY_S:
                    continue
                last_yield, info = time.time(), job.progress.info
                epochs = info.get("total_steps", 0) / max(1, info.get("steps_per_epoch", 1))
                progress(ev.step / max(info.get("total_steps", 1), 1),
                         desc=f"epoch {min(int(ev.epoch) + 1, max(1, int(epochs)))}/{epochs:g}")
                status = _status_line(job, ev)
                if ev.kind == "error":
                    job.progress.notes.append(f"❌ **Training diverged**: {ev.message}. Saved as '{spec.name}'.")
                if ev.kind in ("end", "error"):
                    status = f"{ev.message} · {spec.family} on {_source(info)} · saving…"
                grid_img = gr.skip() if ev.samples is None else common.png_output(
                    ev.samples.float() / 255, {"tab": "train", "model": spec.name, "family": spec.family,
                                               "step": ev.step, "seed": spec.cfg.seed},
                    scale=2)
                plots = (gr.skip(),) * 3
                if ev.kind != "step" or time.time() - last_plot >= PLOT_EVERY_S:
                    plots, last_plot = _plots(job.progress, spec.family), time.time()
                yield (grid_img, status, *plots, _coverage(ev.metrics) if ev.kind == "epoch" else gr.skip(),
                       "\n\n".join(job.progress.notes), gr.skip())
            elif kind == "end":
                ended = True
                if job.state == "failed":
                    raise gr.Error(job.message)
                files = _downloads(job) or gr.skip()
                saved = (f" · saved as '{spec.name}' (in your model lists; publish it to share it)"
                         if job.result.get("ckpt_path") else "")
                yield (gr.skip(), f"{job.message or job.state}{saved}", *_plots(job.progress, spec.family), gr.skip(),
                       "\n\n".join(job.progress.notes), files)
    finally:
        if not ended:  # the stream was closed: Cancel, or the visitor left
            service().stop(job.owner, job.id)
            threading.Thread(target=_register_when_done, args=(job,), daemon=True).start()


def _register_when_done(job: jobs.Job, timeout: float = 60.0) -> None:
    """After a cancelled stream: the job saves its model as it stops; register it in its owner's workspace."""
    t0 = time.time()
    while not job.done and time.time() - t0 < timeout:
        time.sleep(0.1)
    if job.done:
        _downloads(job)


# ---- callbacks ----------------------------------------------------------------------------------------------
def _submit(owner, spec: jobs.JobSpec) -> jobs.Job:
    try:
        return service().submit(owner, spec)
    except jobs.JobError as e:
        raise gr.Error(str(e)) from e


def start_training(family, data_source, zip_file, image_size, color, max_images, epochs, batch_size, lr, lr_d,
                   latent_dim, width, loss, spectral_norm, ema, augment, d_steps, beta, seed, grid_every, name,
                   depth=0, start_from=NEW, init_model=None, request: gr.Request = None, progress=gr.Progress()):
    fam = FAMILIES.get(family) or (family if family in FAMILIES.values() else None)
    if fam is None:
        raise gr.Error(f"Unknown model family {family!r}; pick one of {', '.join(FAMILIES)}.")
    check_settings(epochs, batch_size, lr, lr_d, latent_dim, width, d_steps, depth, grid_every, beta)
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
    job = _submit(owner, jobs.JobSpec("train", fam, data, cfg, name, str(out), over, init_path, init))
    yield from _stream(job, progress)


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
    job = _submit(owner, replace(run.spec, kind="resume", cfg=cfg, name=new_name, out=out))
    yield from _stream(job, progress)


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
    if run.spec.family != "dcgan":
        raise gr.Error(f"This session's run is a {run.spec.family} model; a fitted latent mixture is for DCGANs "
                       "(unconditional GANs).")
    k = common.whole_number(components, "Mixture components", 2, MAX_PRIOR_COMPONENTS)
    d = checkpoint.read_metadata(run.ckpt_path)["config"]["latent_dim"]
    samples = min(MAX_PRIOR_SAMPLES, max(PRIOR_SAMPLES, 8 * d * k))  # ~4x the 2d latents each Gaussian needs
    n, seed, t, name = EVAL_SAMPLES, run.spec.cfg.seed, time.time(), run.spec.name
    job = _submit(owner, replace(run.spec, kind="fit_prior", out=run.ckpt_path,
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
                                 {"model": name, "family": "dcgan", "seed": seed,
                                  "prior_components": res["info"]["components"]}, scale=2)
    status = (f"fitted a {res['info']['components']}-component latent mixture to '{name}' ({samples:,} "
              f"latents, {time.time() - t:.0f}s with the measurements); every tab now samples it from the mixture. "
              "Training again (Resume) changes G, so the run returns to N(0, I) until you fit again.")
    note = (f"**Latent mixture prior** ({res['info']['components']} Gaussians fitted to G's own samples clustered by "
            f"D's features; {n} samples from each prior vs the training images, seed {seed}):\n\n"
            + _metric_rows(res["before"], res["after"]))
    gif = Path(res["ckpt_path"]).with_name(f"{name}-progress.gif")
    yield grid_img, status, note, storage.offer([res["ckpt_path"], *([gif] if gif.exists() else [])])


def arm(request: gr.Request = None) -> str:
    """Runs (unqueued) when Start/Resume is clicked, so a Stop pressed before the job exists still cancels it."""
    service().expect(common.visitor(request)[1])
    return ""  # clears the Stop note


def stop_training(request: gr.Request = None) -> str:
    """Stop this visitor's job (waiting or running); never anyone else's."""
    return service().stop(common.visitor(request)[1])


def publish_model(name, public_name, request: gr.Request = None) -> str:
    """Share one of this visitor's models with every visitor under a name nobody has taken."""
    owner = common.visitor(request)[1]
    public_name = (public_name or "").strip() or (name or "").strip()
    try:
        got = registry.publish((name or "").strip(), public_name, RUNS_DIR / "public", owner=owner)
    except ValueError as e:
        raise gr.Error(f"Publish: {e}.") from e
    return (f"Published '{got}': every visitor can now pick it (it stays {storage.PUBLIC_TTL_S / 3600:g} h after "
            "publishing).")


# ---- layout -------------------------------------------------------------------------------------------------
def _epochs_info(family_label: str) -> str:
    return ("one adversarial round over all the images each" if FAMILIES.get(family_label) == "arf"
            else "passes over the training images")


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
    v = preset_values("DCGAN", QUICK)
    gr.Markdown("Train a generator and watch it learn: the grid shows the **same fixed latents** after every "
                "epoch, so noise visibly turns into digits. Trainings run one at a time beside the other tabs; "
                "yours waits its turn (one per visitor). Stop keeps the model; a finished or stopped run joins "
                f"**your** model lists in every tab for {storage.WORKSPACE_TTL_S / 3600:g} h — nobody else sees "
                "it unless you publish it.")
    with gr.Row():
        with gr.Column(scale=2):
            family = gr.Dropdown(list(FAMILIES), value="DCGAN", label="Model family", elem_id="train-family")
            preset = gr.Radio([QUICK, QUALITY, CUSTOM], value=QUICK, label="Preset", elem_id="train-preset")
            sources = [DATA_5K] + ([DATA_FULL] if default_mnist_root() else []) + [DATA_ZIP]
            source = gr.Radio(sources, value=DATA_5K, label="Data", elem_id="train-data")
            zip_file = gr.File(label=f"Your images (.zip, ≤ {MAX_UPLOAD_MB} MB; subfolders = classes)",
                               file_types=[".zip"], type="filepath", visible=False, elem_id="train-zip")
            with gr.Row():
                image_size = gr.Radio([28, 32, 64], value=28, label="Image size (px)", elem_id="train-size")
                color = gr.Radio(["grayscale", "RGB"], value="grayscale", label="Colour", elem_id="train-color")
            with gr.Accordion("Settings (filled by the preset; edit for a custom run)", open=False):
                with gr.Row():
                    epochs = gr.Slider(1, MAX_EPOCHS, value=v["epochs"], step=1, label="Epochs", elem_id="train-epochs",
                                       info=_epochs_info("DCGAN"))
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
                init_model = common.model_dropdown("Model to continue", family=tuple(FAMILIES.values()),
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
    source.change(lambda s: gr.File(visible=s == DATA_ZIP), source, zip_file, api_visibility="private", queue=False)
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
