"""Real-image inversion for latent editing (Zhu et al. 2016, "Generative visual manipulation on the natural image
manifold"): the latent whose decode best matches an image, so the Explore sliders can edit it. Autoencoder families
use the encoder's posterior mean; GANs use seeded restarts of the generator inversion that imggen.complete runs for
inpainting (Yeh et al. 2017: L1 + prior + discriminator loss), here with nothing masked.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .convert import from01, to01
from .latent import decode, is_digit_model, num_classes, prior_latents

GAN_RESTARTS = 4  # random starts per candidate class; the lowest-loss one is kept
GAN_STEPS = 150  # Adam steps: ~3.8 s on 2 threads; test digits ~10 -> 20.7 (dcgan) / 24.7 (cgan) dB (bench/results)
GAN_LR = 0.05
GAN_PRIOR_W, GAN_DISC_W = 0.05, 0.1  # imggen.complete.complete_gan's weights


@dataclass
class Inversion:
    z: torch.Tensor  # (1, D) float32 on the CPU: decode(z, label) is ``recon``
    label: int | None  # the class it was inverted under (conditional models), else None
    target: torch.Tensor  # (1, C, H, W) in [0, 1]: the image inverted
    recon: torch.Tensor  # (1, C, H, W) in [0, 1]
    method: str  # "encoder" | "optimisation"
    mse: float  # on [0, 1] pixels
    psnr: float  # dB
    start_mse: float = math.nan  # optimisation: the best restart's error before any step
    seconds: float = 0.0


def errors(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(MSE, PSNR in dB) between two images in [0, 1]."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return mse, 10 * math.log10(1 / max(mse, 1e-10))


def _net(model) -> nn.Module:
    net = getattr(model, "net", model)  # a registry.LoadedModel or the bare module
    if not hasattr(net, "decode"):
        raise ValueError(f"{getattr(model, 'name', type(net).__name__)} has no decoder: only models with a latent "
                         "space (VAE/AE families and GANs) can invert an image.")
    return net


def _check(net: nn.Module, image: torch.Tensor) -> torch.Tensor:
    c = net.config
    want = (1, c.channels, c.image_size, c.image_size)
    if not torch.is_tensor(image) or tuple(image.shape) != want:
        raise ValueError(f"invert() takes one image of shape {want} in [0, 1], got "
                         f"{tuple(image.shape) if torch.is_tensor(image) else type(image).__name__}")
    x = image.detach().float().cpu()
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("The image's values must be finite and in [0, 1].")
    return x


def candidate_labels(net: nn.Module, x01: torch.Tensor, label: int | None = None) -> list[int] | None:
    """Classes to invert under: the given one, else the class the project's digit classifier reads, else every
    class (the best-fitting one is kept). None for unconditional models."""
    K = num_classes(net)
    if not K:
        return None
    if label is not None:
        if not 0 <= int(label) < K:
            raise ValueError(f"The class must be between 0 and {K - 1}, got {label}.")
        return [int(label)]
    if is_digit_model(net) and K == 10:
        from .metrics import classify

        return [int(classify(from01(x01))[1].argmax(1))]
    return list(range(K))


@torch.no_grad()
def _encoder(net, x, labels):
    """Posterior mean under each candidate class -> (z (1, D), label)."""
    dev = next(net.parameters()).device
    best = None
    for y in labels or [None]:
        lab = None if y is None else torch.tensor([y])
        z = net.encode(from01(x).to(dev), None if lab is None else lab.to(dev))[0].float().cpu()
        err = float(((decode(net, z, lab) + 1) / 2 - x).pow(2).mean())
        if best is None or err < best[0]:
            best = (err, z, y)
    return best[1], best[2]


def _optimisation(net, x, labels, seed: int, restarts: int, steps: int, on_step):
    """Seeded restarts (x each candidate class) of complete's generator inversion -> (z (1, D), label, start MSE)."""
    from .complete import optimise_latents

    dev = next(net.parameters()).device
    ys = labels or [None]
    n = restarts * len(ys)
    z0 = prior_latents(net, n, torch.Generator().manual_seed(int(seed)))
    lab = None if labels is None else torch.tensor(ys).repeat_interleave(restarts)
    target = from01(x).expand(n, -1, -1, -1)
    start = float(((decode(net, z0, lab) + 1) / 2 - x).pow(2).flatten(1).mean(1).min())
    z, loss = optimise_latents(net, z0.to(dev), None if lab is None else lab.to(dev), target.to(dev),
                               torch.zeros(n, 1, *x.shape[-2:], device=dev), steps=steps, lr=GAN_LR,
                               prior_w=GAN_PRIOR_W, disc_w=GAN_DISC_W, on_step=on_step)
    i = int(loss.argmin())
    return z[i:i + 1].float().cpu(), ys[i // restarts], start


@torch.no_grad()
def invert(model, image: torch.Tensor, *, label: int | None = None, seed: int = 0, restarts: int = GAN_RESTARTS,
           steps: int = GAN_STEPS, on_step: Callable[[int, int], None] | None = None) -> Inversion:
    """Find the latent of ``image`` in ``model``'s latent space.

    Args:
        model: ``imggen.load(...)`` result or a core module with ``decode`` (and ``encode`` for autoencoders).
        image: (1, C, H, W) in [0, 1], the model's own size (e.g. ``preprocess.prepare_digit`` for 28-px digits).
        label: class for conditional models (default: what the digit classifier reads, else the best-fitting one).
        seed, restarts, steps: GAN inversion's random starts and Adam steps (deterministic for a given seed).
        on_step: ``on_step(i, steps)`` after each optimisation step (progress).
    Returns:
        :class:`Inversion` with the latent (1, D), its reconstruction and the error (MSE, PSNR).
    """
    t0 = time.perf_counter()
    net = _net(model).eval()
    x = _check(net, image)
    labels = candidate_labels(net, x, label)
    start = math.nan
    if hasattr(net, "encode"):
        z, y, method = *_encoder(net, x, labels), "encoder"
    else:
        if not 1 <= int(restarts) <= 64 or not 0 <= int(steps) <= 2000:
            raise ValueError("restarts must be 1-64 and steps 0-2000")
        z, y, start = _optimisation(net, x, labels, seed, int(restarts), int(steps), on_step)
        method = "optimisation"
    recon = to01(decode(net, z, None if y is None else torch.tensor([y])))
    mse, psnr = errors(recon, x)
    return Inversion(z, y, x, recon, method, mse, psnr, start, time.perf_counter() - t0)
