"""The one training loop (EDM training_loop / improved-diffusion TrainLoop): every family, CLI and UI stream
its TrainEvents. Families supply a trainer object; the loop owns data, devices, events, NaN guard and saving.

A family's model class provides ``make_trainer(train_config, device) -> trainer`` where the trainer has
``step(x, y) -> dict[str, float]`` (one optimisation step, losses named like "loss/D"), and
``inference_model() -> nn.Module`` (e.g. with EMA weights applied) used for sample grids and the checkpoint.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from . import checkpoint, distributed
from .convert import grid, to01
from .data import ImageData
from .device import pick_device


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
    r1_gamma: float = 0.0  # R1 penalty weight (0 = off)
    beta: float = 1.0  # KL weight (VAEs)
    max_steps: int | None = None  # stop after this many steps (overrides epochs)
    time_limit_s: float | None = None  # stop after this much wall time
    sample_every: int = 0  # also emit a sample grid every N steps (0 = only per epoch)
    num_grid: int = 64  # samples in the fixed-seed grid
    eval_samples: int = 1000  # samples for per-epoch metrics (0 = off)
    seed: int = 0
    device: str | None = None


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


def evaluate(model: torch.nn.Module, data: ImageData, n: int, seed: int = 0) -> dict:
    """Per-epoch metrics: classifier metrics for digits, sliced Wasserstein otherwise."""
    from . import metrics

    if n <= 0 or not hasattr(model, "sample"):
        return {}
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed + 12345)
    with torch.no_grad():
        fake = model.sample(n, generator=g).float().cpu()
    real = data.images[:n]
    if data.is_digits and data.images.shape[-1] == 28 and metrics.CLASSIFIER_PATH.exists():
        return metrics.digit_metrics(fake, real)
    return {"swd": metrics.sliced_wasserstein(fake, real)}


def train(family: str, data: ImageData, cfg: TrainConfig = TrainConfig(), *, model_config: dict | None = None,
          model: torch.nn.Module | None = None, out: str | Path | None = None, name: str = "",
          eval_data: ImageData | None = None, should_stop: Callable[[], bool] = lambda: False) -> Iterator[TrainEvent]:
    """Train a model of ``family`` on ``data``, yielding TrainEvents; saves to ``out`` at the end (and on stop/NaN).

    Pass ``model`` to resume training an existing network.
    """
    from .registry import build

    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    C, H = data.images.shape[1], data.images.shape[-1]
    model_config = dict(model_config or {})
    model_config.setdefault("channels", C)
    model_config.setdefault("image_size", H)
    if "num_classes" in _config_fields(family) and data.num_classes:
        model_config.setdefault("num_classes", data.num_classes)
    if model is None:
        model = build(family, **model_config)
    model = model.to(device)
    trainer = model.make_trainer(cfg, device)
    loader = data.loader(cfg.batch_size, seed=cfg.seed + distributed.rank())
    steps_per_epoch = max(1, len(loader))
    total = cfg.max_steps or cfg.epochs * steps_per_epoch
    g_fixed = torch.Generator(device=device)
    good = copy.deepcopy(model.state_dict())
    t0, step, last = time.time(), 0, {}
    eval_data = eval_data or data

    def grid_now():
        net = trainer.inference_model()
        g_fixed.manual_seed(cfg.seed + 777)
        with torch.no_grad():
            return grid(to01(net.sample(cfg.num_grid, generator=g_fixed).float().cpu()))

    def save(msg: str) -> str | None:
        if out is None or distributed.rank() != 0:
            return None
        net = trainer.inference_model()
        meta = {"epochs": step / steps_per_epoch, "steps": step, "train_seconds": round(time.time() - t0, 1),
                "data": data.name, "train_images": len(data), **{k: v for k, v in asdict(cfg).items() if k != "device"}}
        card = {"description": msg, "data": data.name, "parameters": sum(p.numel() for p in net.parameters()),
                "train_seconds": round(time.time() - t0, 1), "hardware": _hardware(device)}
        return str(checkpoint.save(net, out, family=family, config=asdict(net.config), name=name or Path(out).stem,
                                   metrics=last_metrics, recipe=meta, card=card))

    last_metrics: dict = {}
    stopped = False
    while step < total and not stopped:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            losses = trainer.step(x, y)
            step += 1
            if not all(math.isfinite(v) for v in losses.values()):
                model.load_state_dict(good)
                path = save("stopped: non-finite loss; last good weights kept")
                yield TrainEvent("error", step, step / steps_per_epoch, losses, ckpt_path=path,
                                 message=f"loss became NaN/inf at step {step}; stopped and kept the weights from the last good epoch")
                return
            last = losses
            rate = step / max(time.time() - t0, 1e-9)
            ev_kw = dict(steps_per_s=rate, eta_s=(total - step) / rate)
            if cfg.sample_every and step % cfg.sample_every == 0 and step % steps_per_epoch:
                yield TrainEvent("step", step, step / steps_per_epoch, losses, samples=grid_now(), **ev_kw)
            timed_out = cfg.time_limit_s is not None and time.time() - t0 > cfg.time_limit_s
            stopped = should_stop() or timed_out or distributed.should_stop()
            if step >= total or stopped or step % steps_per_epoch == 0:
                break
        good = copy.deepcopy(model.state_dict())
        if distributed.rank() == 0:
            last_metrics = evaluate(trainer.inference_model(), eval_data, cfg.eval_samples, cfg.seed)
            yield TrainEvent("epoch", step, step / steps_per_epoch, last, last_metrics, grid_now(),
                             steps_per_s=step / max(time.time() - t0, 1e-9),
                             eta_s=(total - step) / max(step / max(time.time() - t0, 1e-9), 1e-9))
    path = save("stopped early by the user" if stopped else "finished")
    yield TrainEvent("end", step, step / steps_per_epoch, last, last_metrics, ckpt_path=path,
                     message=("stopped" if stopped else "finished") + f" after {step} steps in {time.time() - t0:.0f}s")


def _config_fields(family: str) -> set:
    from dataclasses import fields

    from .registry import family_classes

    return {f.name for f in fields(family_classes(family)[0])}


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"
