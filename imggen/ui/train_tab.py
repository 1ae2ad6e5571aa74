"""Train tab: train a GAN or VAE live — fixed-seed sample grids, loss curves and per-epoch metrics stream back;
Stop keeps the model, Resume continues it, and the result is registered for every other tab."""
from __future__ import annotations

import contextlib
import copy
import functools
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import gradio as gr
import pandas as pd
import torch

from .. import checkpoint, registry
from ..data import IMAGE_EXTS, MAX_FOLDER_IMAGES, ImageData, default_mnist_root, load_data
from ..train import TrainConfig, TrainEvent, TrainState, evaluate, steps_per_epoch, train
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
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_JOB_LOCK = threading.Lock()  # one training job per server, even while a cancelled one finishes its step
_STOPS: dict[str, threading.Event] = {}  # session -> stop flag of its queued/running job
_RUNS: dict[str, "Run"] = {}  # session -> its last run (kept in memory for Resume)
MAX_KEPT_RUNS = 4
PRIOR_COMPONENTS, MAX_PRIOR_COMPONENTS = 30, 300  # latent mixture of a DCGAN run (bench/results/prior-fits.md)
PRIOR_SAMPLES = 20_000  # latents drawn per fit at least


@dataclass
class Run:
    family: str
    data: ImageData
    cfg: TrainConfig
    model_config: dict
    name: str
    state: TrainState = field(default_factory=TrainState)
    frames: list = field(default_factory=list)  # streamed grids (PIL) for the progress GIF
    losses: list = field(default_factory=list)  # rows {step, value, series}
    epoch_metrics: list = field(default_factory=list)  # rows {epoch, value, metric}
    best_coverage: int = 0
    notes: list = field(default_factory=list)  # warnings shown under the grid
    init: str = ""  # the registered model whose weights the run started from ("" = a new model)
    init_model: torch.nn.Module | None = None  # ... those weights, until the run starts
    before: dict | None = None  # ... and its recipe, whose phases the run's card keeps


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


def warm_start_run(init_model: str | None, family: str, image_size: int, channels: int) -> tuple:
    """(name, module with its weights, its recipe) of the registered model a run continues; gr.Error unless the
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
    return init, registry.from_checkpoint(path, meta), meta["recipe"]


def check_name(name: str, family: str) -> str:
    name = (name or "").strip() or f"{family}-{time.strftime('%H%M%S')}"
    if not NAME_RE.match(name):
        raise gr.Error("Model name: letters, digits, '-', '_' and '.' only (at most 64), e.g. my-dcgan.")
    if (registry.CHECKPOINT_DIR / f"{name}.safetensors").exists():
        raise gr.Error(f"'{name}' is the name of a shipped model; pick another name.")
    return name


def _count_zip_images(path: str) -> int:
    if os.path.getsize(path) > MAX_UPLOAD_MB * 2**20:
        raise gr.Error(f"The upload is {os.path.getsize(path) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
    if not zipfile.is_zipfile(path):
        raise gr.Error("The upload is not a .zip archive; zip a folder of images (PNG, JPEG, ...) and upload that.")
    with zipfile.ZipFile(path) as zf:
        n = sum(1 for i in zf.infolist() if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_EXTS)
    if n == 0:
        raise gr.Error("The zip contains no images (looked for " + ", ".join(sorted(IMAGE_EXTS)) + ").")
    if n > 2 * MAX_FOLDER_IMAGES:
        raise gr.Error(f"The zip holds {n} images; the limit is {2 * MAX_FOLDER_IMAGES}.")
    return n


@functools.lru_cache(maxsize=4)
def _builtin(name: str, size: int, channels: int, limit: int) -> ImageData:
    return load_data(name, split="train", image_size=size, channels=channels, limit=limit)  # read-only use


def load_run_data(source: str, zip_path: str | None, image_size: int, color: str, max_images: int) -> ImageData:
    """The training images for the chosen data source, with the server's limits enforced."""
    size, channels = int(image_size), 3 if color == "RGB" else 1
    cap = min(MAX_FOLDER_IMAGES, MAX_DATA_MB * 2**20 // (4 * channels * size * size))
    max_images = common.whole_number(max_images, f"Max images (at {size} px {color.lower()})", MIN_IMAGES, cap)
    kw = dict(split="train", image_size=size, channels=channels, limit=max_images)
    try:
        if source == DATA_ZIP:
            if not zip_path:
                raise gr.Error("Upload a .zip of images first (or pick MNIST as the data).")
            _count_zip_images(zip_path)
            data = load_data(zip_path, **kw)
        elif source == DATA_FULL:
            if default_mnist_root() is None:
                raise gr.Error("Full MNIST is not installed on this server (set IMGGEN_MNIST_ROOT); use MNIST 5k.")
            data = _builtin("mnist", size, channels, max_images)
        else:
            data = _builtin("mnist5k", size, channels, max_images)
    except ValueError as e:
        raise gr.Error(f"Could not read the training images: {e}") from e
    if len(data) < MIN_IMAGES:
        raise gr.Error(f"Only {len(data)} readable training images; at least {MIN_IMAGES} are needed.")
    return data


def check_settings(epochs, batch_size, lr, lr_d, latent_dim, width, d_steps, depth=0) -> None:
    """Each setting in its range, else a gr.Error naming it (non-numbers included)."""
    common.whole_number(epochs, "Epochs", 1, MAX_EPOCHS)
    common.whole_number(batch_size, "Batch size", 2, 512)
    common.number(lr, "Learning rate (G / model)", 0, 0.1, open_low=True)
    common.number(lr_d, "Learning rate (D)", 0, 0.1, open_low=True)
    common.whole_number(latent_dim, "Latent size", 2, 512)
    common.whole_number(width, "Width", 8, 256)
    common.whole_number(d_steps, "D steps per G step", 1, 5)
    common.whole_number(depth, "Extra conv layers per resolution", 0, MAX_DEPTH)


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


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def _steps_per_epoch(run: Run) -> int:
    return steps_per_epoch(run.family, run.cfg.batch_size, len(run.data))


def _total_steps(run: Run, step0: int) -> int:
    total = run.cfg.epochs * _steps_per_epoch(run)
    return total if step0 < total else step0 + total  # same rule as train(): a finished run trains that much again


@contextlib.contextmanager
def _threads(n: int):
    """``n`` torch threads in the worker thread that runs the block (the setting is per thread), the pool thread
    left as it was afterwards so other tabs keep their cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _with_threads(events, n: int):
    """Advance ``events`` under :func:`_threads` (whichever worker thread runs each step)."""
    while True:
        with _threads(n):
            try:
                ev = next(events)
            except StopIteration:
                return
        yield ev


def _job_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)  # one core left for the other tabs


def _record(run: Run, ev: TrainEvent, every: int) -> None:
    if ev.kind in ("step", "epoch") and (ev.step % every == 0 or ev.kind == "epoch"):
        run.losses += [{"step": ev.step, "value": float(v), "series": k} for k, v in ev.losses.items()]
    if ev.samples is not None:
        run.frames.append(common.png_output(ev.samples, {}, scale=1))
    m = ev.metrics if ev.kind == "epoch" else {}
    for key, label in (("fd", "classifier FD"), ("swd", "sliced Wasserstein (x1e3)")):
        if key in m:
            run.epoch_metrics.append({"epoch": round(ev.epoch, 2), "value": float(m[key]), "metric": label})
    if "coverage" in m:
        cov = int(m["coverage"])
        if cov <= run.best_coverage - 2:
            run.notes.append(f"⚠️ **Possible mode collapse** at epoch {ev.epoch:.1f}: only {cov} of 10 digit "
                             f"classes appear in the samples (best so far: {run.best_coverage}).")
        run.best_coverage = max(run.best_coverage, cov)


def _frame(rows: list, x: str) -> pd.DataFrame:
    return pd.DataFrame(rows).astype({x: "float64", "value": "float64"})


def _plots(run: Run):
    """Loss curves, the second plot and the per-epoch metric. Empty data is never sent: the browser keeps the
    axis types of the first data it gets (an empty frame leaves the lines invisible)."""
    first, second, title2 = PLOTS[run.family]
    df = _frame(run.losses, "step") if run.losses else None
    loss = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(first)], title="losses")
    if not second:
        aux = gr.update(visible=False)
    else:
        aux = gr.skip() if df is None else gr.LinePlot(df[df.series.isin(second)], title=title2, visible=True)
    met = _frame(run.epoch_metrics, "epoch") if run.epoch_metrics else gr.skip()
    return loss, aux, met


def _coverage(metrics: dict):
    hist = metrics.get("class_histogram")
    if not hist:
        return gr.skip()
    return pd.DataFrame({"digit": [str(i) for i in range(len(hist))], "samples": hist})


def _finish(run: Run) -> list[str]:
    """Register the saved checkpoint, write the progress GIF; paths offered for download."""
    path = run.state.ckpt_path
    if not path or not Path(path).exists():
        return []
    if run.before is not None:  # a continued model: its card keeps the earlier phases and totals over all
        registry.record_phases(path, run.before, run.init)
    registry.register(run.name, path)
    files = [path]
    if run.frames:
        gif = RUNS_DIR / f"{run.name}-progress.gif"
        frames = run.frames[:: max(1, len(run.frames) // 120)] + run.frames[-1:]
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=350, loop=0)
        files.append(str(gif))
    tmp = Path(tempfile.mkdtemp(prefix="imggen-train-"))  # gradio serves files from the temp dir
    return [str(shutil.copy(f, tmp / Path(f).name)) for f in files]


def _stream(run: Run, session: str, progress):
    stop = _STOPS.setdefault(session, threading.Event())
    if stop.is_set():
        _STOPS.pop(session, None)
        yield (gr.skip(),) + ("Stopped before it started.",) + (gr.skip(),) * 6
        return
    if not _JOB_LOCK.acquire(timeout=120):
        raise gr.Error("Another training job is still finishing; try again in a minute.")
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    step0, run.notes = run.state.step, []
    verb = "Resuming" if step0 else f"Continuing '{run.init}' as" if run.init else "Starting"
    total = _total_steps(run, step0)
    every = max(1, (total - step0) // 300)  # at most ~300 points per loss curve and run
    src = f"{run.data.name} ({len(run.data)} images" + (f", {run.data.skipped} unreadable files skipped)"
                                                           if run.data.skipped else ")")
    if run.data.skipped:
        run.notes.append(f"ℹ️ Skipped {run.data.skipped} unreadable files in the zip; training on "
                         f"{len(run.data)} images.")
    events = train(run.family, run.data, run.cfg, model_config=run.model_config, model=run.init_model,
                   name=run.name, out=RUNS_DIR / f"{run.name}.safetensors", should_stop=stop.is_set, state=run.state)
    run.init_model = None  # the run's state holds the weights from here on
    last_yield, last_plot, done = 0.0, 0.0, False
    try:
        yield (gr.skip(), f"{verb} {run.family} on {src}…", *_plots(run),
               gr.skip(), "\n\n".join(run.notes), gr.skip())
        for ev in _with_threads(events, _job_threads()):
            _record(run, ev, every)
            if ev.kind == "step" and ev.samples is None and time.time() - last_yield < YIELD_EVERY_S:
                continue
            last_yield = time.time()
            epochs = total / _steps_per_epoch(run)
            progress(ev.step / max(total, 1), desc=f"epoch {min(int(ev.epoch) + 1, int(epochs))}/{epochs:g}")
            status = (f"{run.family} on {src} · epoch {ev.epoch:.2f}/{epochs:g} · step {ev.step}/{total} · "
                      f"{ev.steps_per_s:.1f} steps/s · ~{ev.eta_s:.0f}s left")
            files = gr.skip()
            if ev.kind in ("end", "error"):
                done, files = True, _finish(run)
                status = (f"{ev.message} · {run.family} on {src} · saved as '{run.name}' "
                          "(now in every tab's model list)")
                if ev.kind == "error":
                    run.notes.append(f"❌ **Training diverged**: {ev.message}. Saved as '{run.name}'.")
            grid_img = gr.skip() if ev.samples is None else common.png_output(
                ev.samples, {"model": run.name, "family": run.family, "step": ev.step, "seed": run.cfg.seed}, scale=2)
            plots = (gr.skip(),) * 3
            if ev.kind != "step" or time.time() - last_plot >= PLOT_EVERY_S:
                plots, last_plot = _plots(run), time.time()
            yield (grid_img, status, *plots, _coverage(ev.metrics) if ev.kind == "epoch" else gr.skip(),
                   "\n\n".join(run.notes), files)
    except (RuntimeError, ValueError) as e:
        raise gr.Error(f"Training failed: {e}") from e
    finally:
        events.close()  # cancelled or disconnected: the loop saves the model on close
        if not done:
            _finish(run)
        if _STOPS.get(session) is stop:
            _STOPS.pop(session, None)
        _JOB_LOCK.release()


# ---- callbacks ----------------------------------------------------------------------------------------------
def start_training(family, data_source, zip_file, image_size, color, max_images, epochs, batch_size, lr, lr_d,
                   latent_dim, width, loss, spectral_norm, ema, augment, d_steps, beta, seed, grid_every, name,
                   depth=0, start_from=NEW, init_model=None, request: gr.Request = None, progress=gr.Progress()):
    fam = FAMILIES.get(family) or (family if family in FAMILIES.values() else None)
    if fam is None:
        raise gr.Error(f"Unknown model family {family!r}; pick one of {', '.join(FAMILIES)}.")
    check_settings(epochs, batch_size, lr, lr_d, latent_dim, width, d_steps, depth)
    name = check_name(name, fam)
    init, weights, before = "", None, None
    if start_from == CONTINUE:
        init, weights, before = warm_start_run(init_model, fam, int(image_size), 3 if color == "RGB" else 1)
    data = load_run_data(data_source, zip_file, image_size, color, max_images)
    cfg = make_config(epochs, batch_size, lr, lr_d, loss, ema, augment, d_steps, beta, seed, grid_every, fam,
                      len(data))
    over = {} if init else model_overrides(fam, int(latent_dim), int(width), bool(spectral_norm), int(depth))
    run = Run(fam, data, cfg, over, name, init=init, init_model=weights, before=before)
    session = _session(request)
    _RUNS.pop(session, None)
    while len(_RUNS) >= MAX_KEPT_RUNS:  # bound the memory that resumable runs hold
        _RUNS.pop(next(iter(_RUNS)))
    _RUNS[session] = run
    yield from _stream(run, session, progress)


def resume_training(epochs, name, request: gr.Request = None, progress=gr.Progress()):
    run = _RUNS.get(_session(request))
    if run is None or run.state.model is None:
        raise gr.Error("Nothing to resume in this session: press Start first (runs are kept in memory until the "
                       "server restarts).")
    if not 1 <= int(epochs) <= MAX_EPOCHS:
        raise gr.Error(f"Epochs must be between 1 and {MAX_EPOCHS}.")
    run.cfg = replace(run.cfg, epochs=int(epochs), time_limit_s=run.state.seconds + TIME_LIMIT_S)
    run.name = check_name(name or run.name, run.family)
    yield from _stream(run, _session(request), progress)


def _metric_rows(before: dict, after: dict) -> str:
    """Before / after a fit, side by side: digit metrics where the classifier applies, else sliced Wasserstein."""
    keys = [("fd", "classifier FD ↓", "{:.2f}"), ("coverage", "classes covered", "{}/10"),
            ("confident_fraction", "confidently classified", "{:.1%}"), ("precision", "precision", "{:.3f}"),
            ("recall", "recall", "{:.3f}"), ("swd", "sliced Wasserstein ↓", "{:.4f}")]
    rows = [f"| {label} | {fmt.format(before[k])} | {fmt.format(after[k])} |"
            for k, label, fmt in keys if k in before and k in after]
    return "\n".join(["| metric | N(0, I) | mixture |", "|---|---|---|", *rows])


def fit_run_prior(components, request: gr.Request = None, progress=gr.Progress()):
    """Fit a latent mixture prior to this session's DCGAN run (:func:`imggen.registry.fit_prior`), measure
    sampling before and after on the run's data, and show the fixed-seed grid drawn from the mixture."""
    run = _RUNS.get(_session(request))
    if run is None or not run.state.ckpt_path or not Path(run.state.ckpt_path).exists():
        raise gr.Error("Nothing to fit in this session: train a DCGAN first (Start); the mixture is fitted to "
                       "this session's last run.")
    if run.family != "dcgan":
        raise gr.Error(f"This session's run is a {run.family} model; a fitted latent mixture is for DCGANs "
                       "(unconditional GANs).")
    k = common.whole_number(components, "Mixture components", 2, MAX_PRIOR_COMPONENTS)
    d = registry.load(run.state.ckpt_path).config.latent_dim
    samples = max(PRIOR_SAMPLES, 8 * d * k)  # ~4x the 2d latents each Gaussian needs, on average
    seed, n = run.cfg.seed, EVAL_SAMPLES
    if not _JOB_LOCK.acquire(timeout=120):
        raise gr.Error("A training job is still finishing; try again in a minute.")
    try:
        with _threads(_job_threads()):
            t = time.time()
            plain = copy.deepcopy(registry.load(run.state.ckpt_path).net)
            plain.clear_prior()  # "before" is always N(0, I), also when the run was fitted already
            before = evaluate(plain, run.data, n, seed)
            progress(0, desc="fitting the latent mixture")
            path, info = registry.fit_prior(run.state.ckpt_path, k, samples, seed=seed, progress=lambda i, m: progress(
                i / m, desc=f"fitting the latent mixture: {i:,}/{m:,} latents"), measure=lambda net: evaluate(
                net, run.data, n, seed))
            registry.register(run.name, path)
            model = registry.load(str(path))
            after = model.card["metrics"]
            grid_img = common.png_output(model.sample(run.cfg.num_grid, seed=seed + 777),  # training's grid seeds
                                         {"model": run.name, "family": run.family, "seed": seed,
                                          "prior_components": info["components"]}, scale=2)
    except (RuntimeError, ValueError) as e:
        raise gr.Error(f"Fitting the mixture failed: {e}") from e
    finally:
        _JOB_LOCK.release()
    status = (f"fitted a {info['components']}-component latent mixture to '{run.name}' ({samples:,} latents, "
              f"{time.time() - t:.0f}s with the measurements); every tab now samples it from the mixture. Training "
              "again (Resume) changes G, so the run returns to N(0, I) until you fit again.")
    note = (f"**Latent mixture prior** ({info['components']} Gaussians fitted to G's own samples clustered by D's "
            f"features; {n} samples from each prior vs the training images, seed {seed}):\n\n"
            + _metric_rows(before, after))
    tmp = Path(tempfile.mkdtemp(prefix="imggen-train-"))  # the new weights, and the run's progress GIF again
    keep = [path, *[g for g in [RUNS_DIR / f"{run.name}-progress.gif"] if g.exists()]]
    return grid_img, status, note, [str(shutil.copy(f, tmp / Path(f).name)) for f in keep]


def arm(request: gr.Request = None) -> str:
    """Runs (unqueued) when Start/Resume is clicked, so Stop also works while the job waits in the queue."""
    _STOPS[_session(request)] = threading.Event()
    return ""  # clears the Stop note


def stop_training(request: gr.Request = None) -> str:
    ev = _STOPS.get(_session(request))
    if ev is None:
        return "Nothing is training in this session."
    ev.set()
    return "Stopping at the next step; the model is kept and can be resumed."


# ---- layout -------------------------------------------------------------------------------------------------
def _epochs_info(family_label: str) -> str:
    return ("one adversarial round over all the images each" if FAMILIES.get(family_label) == "arf"
            else "passes over the training images")


def _apply_preset(family, preset):
    if preset == CUSTOM:  # the fields stay; only the epochs note follows the family
        return (gr.Slider(info=_epochs_info(family)),) + (gr.skip(),) * (len(_PRESET_KEYS) - 1)
    v = preset_values(family, preset)
    return (gr.Slider(value=v["epochs"], info=_epochs_info(family)),) + tuple(v[k] for k in _PRESET_KEYS[1:])


_PRESET_KEYS = ("epochs", "batch_size", "lr", "lr_d", "latent_dim", "width", "loss", "spectral_norm", "ema",
                "augment", "d_steps", "beta", "max_images", "grid_every", "depth")


def render() -> None:
    v = preset_values("DCGAN", QUICK)
    gr.Markdown("Train a generator and watch it learn: the grid shows the **same fixed latents** after every "
                "epoch, so noise visibly turns into digits. One job runs at a time on this server; others wait "
                "in the queue. Stop keeps the model; a finished or stopped run joins every tab's model list.")
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
            grid_img = common.image_output("Samples from fixed seeds", elem_id="train-grid", height=420)
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
    job = dict(concurrency_limit=1, concurrency_id="train", show_progress="full")
    start_btn.click(arm, None, stop_info, api_visibility="private", queue=False).then(
        start_training, inputs, outputs, api_name="train", **job)
    resume_btn.click(arm, None, stop_info, api_visibility="private", queue=False).then(
        resume_training, [epochs, name], outputs, api_name="resume", **job)
    stop_btn.click(stop_training, None, stop_info, api_name="stop", queue=False)
    prior_btn.click(fit_run_prior, prior_k, [grid_img, status, notes, files], api_name="fit_prior", **job)
