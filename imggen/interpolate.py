"""Latent interpolation (lerp, and slerp as in White 2016 "Sampling Generative Networks") between two images or
latent codes, the 2-D latent-manifold map of Kingma & Welling 2014 (fig. 4), and GIF/MP4 export of latent walks.

Public functions speak images in [0, 1]; latent codes are plain (D,) or (1, D) tensors.
"""
from __future__ import annotations

import importlib.util
import io
import os
import tempfile

import numpy as np
import torch

from .convert import from01, to01, to_uint8


def _net(model):
    return getattr(model, "net", model)  # a registry LoadedModel or a bare nn.Module


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), (T,) -> (T, D) on the straight line."""
    t = t[:, None]
    return (1 - t) * z0[None] + t * z1[None]


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), (T,) -> (T, D): direction along the great circle, norm interpolated linearly (so equal-norm
    endpoints keep that norm; Gaussian codes stay in the high-density shell instead of crossing its centre)."""
    n0, n1 = z0.norm(), z1.norm()
    u0, u1 = z0 / n0.clamp_min(1e-12), z1 / n1.clamp_min(1e-12)
    omega = torch.arccos((u0 * u1).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    if omega.abs() < 1e-4:  # (nearly) parallel: lerp of directions is exact enough
        d = lerp(u0, u1, t)
    else:
        tt = t[:, None]
        d = (torch.sin((1 - tt) * omega) * u0[None] + torch.sin(tt * omega) * u1[None]) / torch.sin(omega)
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return d * ((1 - t) * n0 + t * n1)[:, None]


def _is_image(x: torch.Tensor) -> bool:
    return x.ndim >= 3


def to_code(model, x: torch.Tensor) -> torch.Tensor:
    """An image (C, H, W) / (1, C, H, W) in [0, 1] -> its posterior mean (D,); a code (D,) / (1, D) -> itself."""
    net = _net(model)
    dev = next(net.parameters()).device
    x = torch.as_tensor(x).float()
    if not _is_image(x):
        z = x.reshape(-1)
        assert z.numel() == net.config.latent_dim, f"latent code must have {net.config.latent_dim} values, got {z.numel()}"
        return z.to(dev)
    assert hasattr(net, "encode"), f"{type(net).__name__} has no encoder; pass latent codes instead of images"
    img = x if x.ndim == 4 else x[None]
    with torch.no_grad():
        return net.encode(from01(img).to(dev))[0][0]


MODES = ("slerp", "lerp", "w")


def has_style_space(model) -> bool:
    """Whether a model maps latents to an intermediate style space W (StyleGAN) that ``mode="w"`` walks in."""
    return hasattr(_net(model), "render_styles")


def latent_path(model, a, b, steps: int = 8, mode: str = "slerp") -> torch.Tensor:
    """The (steps, D) codes from a to b (images or codes), endpoints included; for ``mode="w"`` the (steps,
    w_dim) styles on the straight line between the endpoints' styles (StyleGAN's walks run in W, where the
    mapping network has made the space flatter than z's Gaussian)."""
    if steps < 2:
        raise ValueError("need at least 2 steps (the two endpoints)")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "w" and not has_style_space(model):
        raise ValueError(f"{type(_net(model)).__name__} has no style space W: walk with slerp or lerp")
    z0, z1 = to_code(model, a), to_code(model, b)
    t = torch.linspace(0, 1, steps, device=z0.device)
    if mode == "w":
        with torch.no_grad():
            w = _net(model).styles(torch.stack([z0, z1]))
        return lerp(w[0], w[1], t)
    return (slerp if mode == "slerp" else lerp)(z0, z1, t)


@torch.no_grad()
def interpolate(model, a, b, steps: int = 8, mode: str = "slerp", labels=None) -> torch.Tensor:
    """Decode a latent walk between ``a`` and ``b``.

    Args:
        model: a loaded model (``imggen.load(...)``) or a bare network with ``decode`` (and ``encode`` for images).
        a, b: images (C, H, W) in [0, 1] (encoded to their posterior means, so the end frames equal their
            reconstructions) or latent codes (D,).
        steps: number of frames, endpoints included. mode: "slerp" or "lerp" in z, or "w": a straight line in
            a StyleGAN's style space.
        labels: class for conditional models (int); for a CVAE without labels and image endpoints, each
            endpoint's best-explaining label is used and the one-hot label is interpolated too.
    Returns:
        (steps, C, H, W) frames in [0, 1] on the CPU.
    """
    return latent_walk(model, a, b, steps, mode, labels)[0]


@torch.no_grad()
def latent_walk(model, a, b, steps: int = 8, mode: str = "slerp", labels=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames as :func:`interpolate` returns them, the codes of :func:`latent_path` they decode), the path
    computed once."""
    net = _net(model)
    z = latent_path(model, a, b, steps, mode)
    if mode == "w":
        return to01(net.render_styles(z)).cpu(), z
    K = getattr(net.config, "num_classes", 0)
    if K and labels is None and hasattr(net, "best_labels") and _is_image(torch.as_tensor(a)) \
            and _is_image(torch.as_tensor(b)):
        ya, yb = (net.best_labels(from01(torch.as_tensor(v).reshape(1, *net_shape(net))).to(z.device))[0]
                  for v in (a, b))
        onehot = torch.eye(K, device=z.device)
        t = torch.linspace(0, 1, steps, device=z.device)[:, None]
        labels = (1 - t) * onehot[ya] + t * onehot[yb]  # soft labels (steps, K)
    elif K and labels is not None:
        labels = torch.full((steps,), int(labels), dtype=torch.long, device=z.device)
    return to01(net.decode(z, labels) if K else net.decode(z)).cpu(), z


def net_shape(net) -> tuple[int, int, int]:
    c = net.config
    return c.channels, c.image_size, c.image_size


@torch.no_grad()
def manifold_map(model, n: int = 15, extent: float = 0.95) -> torch.Tensor:
    """Decode an n x n grid of a 2-D latent space at Gaussian quantiles (Kingma & Welling fig. 4):
    (n*n, C, H, W) in [0, 1], row-major with z2 decreasing downwards and z1 increasing rightwards."""
    net = _net(model)
    assert net.config.latent_dim == 2, "the manifold map needs a 2-D latent space"
    q = manifold_coords(n, extent)
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1).to(next(net.parameters()).device)
    return to01(net.decode(z)).cpu()


def manifold_coords(n: int = 15, extent: float = 0.95) -> torch.Tensor:
    """The n latent values per axis of the manifold map: Gaussian quantiles from (1-extent)/2 to (1+extent)/2."""
    p = torch.linspace((1 - extent) / 2, (1 + extent) / 2, n, dtype=torch.float64)
    return (torch.special.ndtri(p)).float()


def _frames_uint8(frames01: torch.Tensor, scale: int) -> list[np.ndarray]:
    out = []
    for f in frames01:
        a = to_uint8(f)
        a = np.repeat(np.repeat(a, scale, 0), scale, 1)
        out.append(np.stack([a] * 3, -1) if a.ndim == 2 else a)
    return out


def to_gif(frames01: torch.Tensor, fps: float = 8, scale: int = 4, boomerang: bool = False) -> bytes:
    """(N, C, H, W) in [0, 1] -> animated GIF bytes (looping; N frames, or 2N-2 with ``boomerang``; the encoder
    merges identical consecutive frames into one with the summed duration)."""
    from PIL import Image

    ims = [Image.fromarray(a) for a in _frames_uint8(frames01, scale)]
    if boomerang and len(ims) > 2:
        ims = ims + ims[-2:0:-1]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=int(round(1000 / fps)), loop=0,
                disposal=2, optimize=False)
    return buf.getvalue()


def mp4_available() -> bool:
    """Whether :func:`to_mp4` can run: it needs the imageio-ffmpeg package (GIF export does not)."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def to_mp4(frames01: torch.Tensor, path: str | os.PathLike | None = None, fps: float = 8, scale: int = 8) -> str:
    """(N, C, H, W) in [0, 1] -> H.264 MP4 file with N frames (imageio-ffmpeg); returns its path.

    Frames are upscaled (nearest) by ``scale`` and padded to a multiple of 16 pixels for the codec."""
    if not mp4_available():
        raise RuntimeError("MP4 export needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                           "GIF export works without it")
    import imageio.v2 as imageio

    if path is None:
        fd, path = tempfile.mkstemp(suffix=".mp4", prefix="imggen-walk-")
        os.close(fd)
    frames = _frames_uint8(frames01, scale)
    H, W = frames[0].shape[:2]
    ph, pw = -H % 16, -W % 16
    frames = [np.pad(f, ((0, ph), (0, pw), (0, 0))) for f in frames]
    with imageio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                            pixelformat="yuv420p", macro_block_size=16) as w:
        for f in frames:
            w.append_data(f)
    return str(path)


def manifold_positions(codes: torch.Tensor, n: int = 15, extent: float = 0.95) -> torch.Tensor:
    """2-D codes (T, 2) -> (T, 2) positions (x, y) on the manifold map in cell units (cell j spans [j, j+1]),
    clamped to the map."""
    p = torch.special.ndtr(codes.double())
    pos = (p - (1 - extent) / 2) / extent * (n - 1)  # fractional grid index of each axis
    x = pos[:, 0] + 0.5
    y = (n - 1 - pos[:, 1]) + 0.5
    return torch.stack([x, y], 1).clamp(0, n).float()
