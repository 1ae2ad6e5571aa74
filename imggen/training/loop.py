"""The one training loop (EDM training_loop / improved-diffusion TrainLoop): every family, CLI and UI stream
its TrainEvents. The family's trainer (imggen/training/trainers.py) does the optimisation steps; the loop owns
data, device and mixed precision, events, callbacks, the NaN guard, phase history and saving.

Callbacks are called as ``callback(event, snapshot)`` before each event is yielded; the :class:`Snapshot` hands
out the current inference weights and writes a checkpoint with the run's own metadata, so scripts and
benchmarks keep intermediate samples or weights without reaching into the loop.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from .. import checkpoint, distributed
from ..convert import grid, to01
from ..data import DIGIT_CLASSES, ImageData
from ..device import describe, pick_device
from .history import WarmStart, with_history
from .precision import Precision


@dataclass
class TrainConfig:
    epochs: int = 5  # passes over the training data
    batch_size: int = 64
    lr: float = 2e-4  # generator / model learning rate
    lr_d: float | None = None  # discriminator learning rate (GANs); None = lr
    betas: tuple = (0.5, 0.999)  # Adam betas
    loss: str = "hinge"  # GAN loss: "hinge" | "bce" (non-saturating)
    d_steps: int = 1  # discriminator steps per generator step
    use_ema: bool = True  # EMA of generator weights (GANs)
    ema_decay: float = 0.999
    use_augment: bool = False  # DiffAugment-style differentiable augmentation (GANs)
    augment: str = ""  # GANs: DiffAugment policy, e.g. "color,translation,cutout" (Zhao et al. 2020; "" = off)
    r1_gamma: float = 0.0  # R1 penalty weight (0 = off)
    g_topk: float = 1.0  # GANs: fraction of each generator batch, most real-looking first, that trains G (top-k, 1 = all)
    class_weight: float = 0.0  # conditional GANs: weight of the class term (D's projection read as a classifier)
    train_prior: bool = False  # DCGAN: keep a fitted latent mixture and train G on latents drawn from it (else N(0, I))
    beta: float = 1.0  # KL weight (VAEs)
    max_steps: int | None = None  # stop after this many steps (overrides epochs)
    time_limit_s: float | None = None  # stop after this much wall time
    sample_every: int = 0  # also emit a sample grid every N steps (0 = only per epoch)
    log_every: int = 0  # also emit a light "step" event (losses, no grid) every N steps (0 = off)
    num_grid: int = 64  # samples in the fixed-seed grid
    eval_samples: int = 1000  # samples for per-epoch metrics (0 = off)
    seed: int = 0
    device: str | None = None
    use_amp: bool = True  # bf16 autocast around each step on GPUs that support it (CPU: always fp32)


CLI_TRAIN_DEFAULTS = {"epochs": 5, "batch_size": 64, "log_every": 1}  # what `imggen train` and scripts start from


@dataclass
class TrainState:
    """Live training state. Pass an empty one to ``train(state=...)``; the loop keeps it current (also on
    stop, NaN or cancellation), and passing the same object again resumes from it (UI Stop / Resume)."""
    model: torch.nn.Module | None = None
    trainer: object = None
    step: int = 0
    seconds: float = 0.0  # training wall time so far
    metrics: dict = field(default_factory=dict)  # last per-epoch metrics
    ckpt_path: str | None = None  # last checkpoint written
    init: WarmStart | None = None  # the checkpoint a warm-started run began from (its phases go in the recipe)


@dataclass
class TrainEvent:
    kind: str  # "step" | "epoch" | "end" | "error"
    step: int
    epoch: float  # fractional epoch
    losses: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    samples: torch.Tensor | None = None  # (C, H, W) grid in [0, 1] from fixed seeds
    steps_per_s: float = 0.0
    eta_s: float = 0.0
    ckpt_path: str | None = None
    message: str = ""

    def summary(self) -> str:
        """One log line: kind, step, epoch, speed, losses, numeric metrics and message."""
        losses = " ".join(f"{k}={v:.4f}" for k, v in self.losses.items())
        mets = " ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if isinstance(v, (int, float)))
        return (f"[{self.kind}] step {self.step} epoch {self.epoch:.2f} {self.steps_per_s:.2f} steps/s "
                f"{losses} {mets} {self.message}")


class Snapshot:
    """What a callback may take from the run at any event: the inference weights (EMA applied, eval mode) and
    a checkpoint of them written with the run's own metadata (recipe, phase history, card)."""

    def __init__(self, state: TrainState, write: Callable[[str | Path, str], str | None]):
        self._state, self._write = state, write

    def model(self) -> torch.nn.Module:
        return self._state.trainer.inference_model()

    def save(self, path: str | Path, status: str = "snapshot") -> str | None:
        """Write the current inference weights to ``path`` (rank 0 only; None elsewhere)."""
        return self._write(path, status)


Callback = Callable[[TrainEvent, Snapshot], None]


def snapshot_every(path: str | Path, every: int) -> Callback:
    """A callback writing the inference weights to ``path`` every ``every`` steps (0: never), so a run cut short
    still leaves a usable checkpoint."""
    t0, last = time.time(), 0

    def snapshot(ev: TrainEvent, snap: Snapshot) -> None:
        nonlocal last
        if every and ev.step - last >= every and ev.kind in ("step", "epoch"):
            last = ev.step
            snap.save(path, f"snapshot at step {ev.step} ({time.time() - t0:.0f}s), training goes on")
            print(f"snapshot step {ev.step} -> {path}", flush=True)

    return snapshot


def evaluate(model: torch.nn.Module, data: ImageData, n: int, seed: int = 0) -> dict:
    """Per-epoch metrics of ``n`` samples against the first ``n`` images of ``data`` (imggen.evaluate.HeldOut:
    classifier metrics for digits, sliced Wasserstein otherwise)."""
    from ..evaluate import HeldOut

    if n <= 0 or not hasattr(model, "sample"):
        return {}
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed + 12345)
    with torch.no_grad():
        fake = model.sample(n, generator=g).float().cpu()
    return HeldOut(data.images[:n], digits=data.is_digits).score(fake)


def train(family: str, data: ImageData, cfg: TrainConfig = TrainConfig(), *, model_config: dict | None = None,
          model: torch.nn.Module | None = None, out: str | Path | None = None, name: str = "",
          eval_data: ImageData | None = None, should_stop: Callable[[], bool] = lambda: False,
          state: TrainState | None = None, init: WarmStart | None = None,
          callbacks: Sequence[Callback] = ()) -> Iterator[TrainEvent]:
    """Train a model of ``family`` on ``data``, yielding TrainEvents; saves to ``out`` at the end (and on stop,
    NaN, or when the consumer closes the generator, e.g. a cancelled UI job).

    Pass ``model`` to fine-tune an existing network, or ``state`` (a TrainState) to keep the live model,
    optimiser and step count: passing the same state again resumes (to ``cfg.epochs``/``max_steps`` counted
    from step 0, or for ``cfg.epochs`` more epochs when that target was already reached).
    """
    from ..registry import build
    from .trainers import make_trainer  # imports every family's module: on first use, like registry.build

    device = pick_device(cfg.device)
    precision = Precision.for_run(device, cfg.use_amp)
    state = state if state is not None else TrainState()
    if init is not None:  # ``model`` holds its weights; every checkpoint this run writes carries its phases
        state.init = init
    if state.model is None:
        torch.manual_seed(cfg.seed)
        if model is None:
            C, H = data.images.shape[1], data.images.shape[-1]
            model_config = dict(model_config or {})
            model_config.setdefault("channels", C)
            model_config.setdefault("image_size", H)
            if "num_classes" in _config_fields(family) and data.num_classes:
                model_config.setdefault("num_classes", data.num_classes)
            model = build(family, **model_config)
        check_labels(model, data)
        state.model = model.to(device)
        state.trainer = make_trainer(state.model, cfg, precision)
    model, trainer, step0 = state.model, state.trainer, state.step
    if getattr(getattr(model, "config", None), "num_classes", 0) == len(DIGIT_CLASSES):
        data = data.by_digit()  # a digit model's class 3 learns from a folder "3", not from the 4th folder
    if hasattr(trainer, "bind_data"):  # text models: the trainer keeps the captions, the labels become indices
        trainer.bind_data(data)
        data = replace(data, labels=torch.arange(len(data)))
    loader = data.loader(batch_for(model, cfg.batch_size, len(data)), seed=cfg.seed + step0 + distributed.rank())
    steps_per_epoch = max(1, len(loader))
    total = planned_steps(cfg, steps_per_epoch, step0)
    g_fixed = torch.Generator(device=device)
    good = copy.deepcopy(model.state_dict())
    t_start, step, seconds0 = time.time(), step0, state.seconds
    last: dict = {}
    eval_data = eval_data or data

    def elapsed() -> float:
        return seconds0 + time.time() - t_start

    def timing() -> dict:
        rate = (step - step0) / max(time.time() - t_start, 1e-9)
        return dict(steps_per_s=rate, eta_s=(total - step) / max(rate, 1e-9))

    def grid_now():
        net = trainer.inference_model()
        g_fixed.manual_seed(cfg.seed + 777)
        draw = getattr(trainer, "grid_samples", None)  # a trainer's own fixed grid (a text model: fixed prompts)
        with torch.no_grad():
            x = draw(cfg.num_grid, g_fixed) if draw else net.sample(cfg.num_grid, generator=g_fixed)
            return grid(to01(x.float().cpu()))

    def write(path: str | Path, msg: str) -> str | None:
        if distributed.rank() != 0:
            return None
        net = state.trainer.inference_model()
        meta = {**{k: v for k, v in asdict(cfg).items() if k != "device"}, "epochs_planned": cfg.epochs,
                "epochs": step / steps_per_epoch, "steps": step, "train_seconds": round(elapsed(), 1),
                "data": data.name, "train_images": len(data)}
        if state.init is not None:
            meta = with_history(meta, state.init)
        card = {"status": msg, "data": data.name, "parameters": sum(p.numel() for p in net.parameters()),
                "train_seconds": round(elapsed(), 1), "hardware": describe(device, cfg.use_amp)}
        if getattr(net.config, "num_classes", 0) and data.classes and data.classes != DIGIT_CLASSES:
            card["classes"] = list(data.classes)  # what the Sample tab's class picker shows (not 0, 1, ...)
        return str(checkpoint.save(net, path, family=family, config=asdict(net.config),
                                   name=name or Path(path).stem, metrics=state.metrics, recipe=meta, card=card))

    def save(msg: str) -> str | None:
        state.step, state.seconds = step, elapsed()
        if out is None or distributed.rank() != 0:
            return None
        state.ckpt_path = write(out, msg)
        return state.ckpt_path

    snapshot = Snapshot(state, write)

    def emit(ev: TrainEvent) -> TrainEvent:
        for cb in callbacks:
            cb(ev, snapshot)
        return ev

    stopped, user_stop, saved = "", False, False
    try:
        while step < total and not stopped:
            for x, y in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with precision.step_ctx():
                    losses = trainer.step(x, y)
                step += 1
                diverged, = distributed.any_rank(not all(math.isfinite(v) for v in losses.values()))
                if diverged:
                    model.load_state_dict(good)
                    trainer = state.trainer = make_trainer(model, cfg, precision)  # optimiser/EMA may hold NaNs
                    path, saved = save(f"stopped at step {step}: non-finite loss; last good weights kept"), True
                    yield emit(TrainEvent("error", step, step / steps_per_epoch, losses, state.metrics, ckpt_path=path,
                                          message=f"loss became NaN/inf at step {step}; stopped and kept the "
                                                  "weights from the last good epoch"))
                    return
                state.step, last = step, losses
                if cfg.sample_every and step % cfg.sample_every == 0 and step % steps_per_epoch:
                    yield emit(TrainEvent("step", step, step / steps_per_epoch, losses, samples=grid_now(), **timing()))
                elif cfg.log_every and step % cfg.log_every == 0 and step % steps_per_epoch:
                    yield emit(TrainEvent("step", step, step / steps_per_epoch, losses, **timing()))
                user_stop, timed_out = distributed.any_rank(
                    should_stop(), cfg.time_limit_s is not None and elapsed() > cfg.time_limit_s)
                if user_stop:
                    stopped = "stopped early by the user"
                elif timed_out:
                    stopped = f"stopped at the time limit of {cfg.time_limit_s:g}s"
                if step >= total or stopped or step % steps_per_epoch == 0:
                    break
            good = copy.deepcopy(model.state_dict())
            if distributed.rank() == 0 and not user_stop:  # a user's stop skips the metrics: it ends promptly
                # measuring must not move the training RNG (the metrics' classifier, built on first use, draws
                # its initial weights from it): otherwise a run's result depends on what ran before in the process
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    state.metrics = evaluate(trainer.inference_model(), eval_data, cfg.eval_samples, cfg.seed)
                yield emit(TrainEvent("epoch", step, step / steps_per_epoch, last, state.metrics, grid_now(),
                                      **timing()))
        path, saved = save(stopped or "finished"), True
        samples = grid_now() if stopped and distributed.rank() == 0 else None
        yield emit(TrainEvent("end", step, step / steps_per_epoch, last, state.metrics, samples, ckpt_path=path,
                              message=f"{stopped or 'finished'} after {step} steps ({elapsed():.0f}s of training)",
                              **timing()))
    except (GeneratorExit, KeyboardInterrupt) as e:  # a closed consumer (cancelled job, gone browser) or Ctrl-C
        if not saved:  # keep the weights of the last finished step
            save("stopped: training was cancelled" if isinstance(e, GeneratorExit)
                 else f"stopped: interrupted at step {step}")
        raise


def planned_steps(cfg: TrainConfig, steps_per_epoch: int, step0: int = 0) -> int:
    """The step a run (resumed at ``step0``) ends at: ``max_steps`` or ``epochs`` counted from step 0, or that
    much more when the target was reached already (resuming a finished run trains that much again)."""
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    return total if step0 < total else step0 + total


def check_labels(model: torch.nn.Module, data: ImageData) -> None:
    """A conditional model trains on labelled images within its classes; ValueError (saying what to do) else."""
    need = getattr(getattr(model, "config", None), "num_classes", 0)
    if not need:
        return
    if not data.num_classes or bool((data.labels < 0).any()):
        raise ValueError(f"a conditional model needs a class for every image, and {data.name} has no classes: "
                         "put each class's images in a subfolder of their own (the subfolder names are the "
                         "classes), or pick an unconditional family")
    if data.num_classes > need:
        raise ValueError(f"{data.name} has {data.num_classes} classes but the model has {need}")


def batch_for(model, batch_size: int, num_images: int) -> int:
    """The batch a model (a module, its class or a family name) trains with: all the images for full-batch
    families (ARF: an epoch is one adversarial round), else ``batch_size`` (at most the data)."""
    if isinstance(model, str):
        from ..registry import family_classes

        model = family_classes(model)[1]
    return num_images if getattr(model, "full_batch", False) else min(batch_size, num_images)


def steps_per_epoch(model, batch_size: int, num_images: int) -> int:
    """Optimisation steps in one epoch (at least one; the loader drops a last partial batch)."""
    return max(1, num_images // batch_for(model, batch_size, num_images))


def _config_fields(family: str) -> set:
    from dataclasses import fields

    from ..registry import family_classes

    return {f.name for f in fields(family_classes(family)[0])}

