"""Image completion (inpainting): VAE encode -> decode iteration with the known pixels clamped, then latent
optimisation under the prior; GAN inversion for semantic inpainting (Yeh et al. 2017: context loss on known
pixels + discriminator prior loss, several restarts) with Poisson blending of the seam (Pérez et al. 2003);
classical baselines OpenCV Telea (Telea 2004) and scikit-image biharmonic (Damelin & Hoang 2018).

Core functions take images in [-1, 1] and masks (B, 1, H, W) with 1 where pixels are missing.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .convert import from01, from_uint8, to01

METHODS = ("auto", "vae", "gan", "arf", "gpt", "tokens", "telea", "biharmonic")
LEARNED = {  # learned method -> (what the model needs for it, in words)
    "vae": ("encode", "an encoder (AE/VAE/CVAE/VAE-GAN)"), "gan": ("decode", "a generator or decoder"),
    "arf": ("complete", "exact conditional sampling (the random forest)"),
    "gpt": ("complete", "conditional sampling token by token (the pixel GPT)"),
    "tokens": ("tokenize_prompt", "token in-painting of image codes (a text -> image model)")}
# Best method per family, from bench/complete.py (classifier accuracy of completions on half masks, see
# bench/results/complete.md): on vae-mnist, encode/decode + latent optimisation 89.2 % vs GAN-style inversion
# 88.2 % (bottom half, 200 test digits), so encoder families use "vae"; GANs have only "gan".
# The random forest (arf) samples the missing pixels exactly from its leaves' posterior given the known ones; the
# pixel GPT samples them token by token with the known ones forced, re-weighted by how well it predicts them.
# A text -> image model (dalle) redraws the image codes that touch a missing pixel, the others forced ("tokens"),
# optionally guided by a prompt.
# Each family's "auto" method is its ``completion`` in imggen/families.py.
SAMPLING_METHODS = ("arf", "gpt", "tokens")  # a family's own conditional sampler (that family's only)
MASK_PRESETS = ("left", "right", "top", "bottom", "centre", "strokes")


# ---- masks (pure tensor functions; 1 = missing) ---------------------------------------------------------
def mask_preset(name: str, size: int = 28, *, seed: int = 0) -> torch.Tensor:
    """(1, 1, size, size) float mask: "left"/"right"/"top"/"bottom" half, "centre" box (half the side),
    or "strokes" (random brush strokes from ``seed``)."""
    m = torch.zeros(1, 1, size, size)
    h = size // 2
    if name == "left":
        m[..., :, :h] = 1
    elif name == "right":
        m[..., :, h:] = 1
    elif name == "top":
        m[..., :h, :] = 1
    elif name == "bottom":
        m[..., h:, :] = 1
    elif name in ("centre", "center"):
        a = size // 4
        m[..., a:a + h, a:a + h] = 1
    elif name == "strokes":
        m = random_strokes(size, seed=seed)
    else:
        raise ValueError(f"unknown mask preset {name!r}; known: {', '.join(MASK_PRESETS)}")
    return m


def random_strokes(size: int = 28, *, num_strokes: int = 3, seed: int = 0) -> torch.Tensor:
    """(1, 1, size, size) mask of ``num_strokes`` random thick polylines (disc brush), from ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    m = torch.zeros(size, size)
    for _ in range(num_strokes):
        p = torch.rand(2, generator=g) * size
        radius = size * (0.05 + 0.05 * float(torch.rand(1, generator=g)))
        for _ in range(4):
            q = (p + (torch.rand(2, generator=g) - 0.5) * size * 0.6).clamp(0, size - 1)
            for t in torch.linspace(0, 1, 12):
                c = p + t * (q - p)
                m = torch.maximum(m, (((yy - c[0]) ** 2 + (xx - c[1]) ** 2) <= radius ** 2).float())
            p = q
    return m[None, None]


# ---- input normalisation -------------------------------------------------------------------------------
def _fit(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Centre-crop (B, C, H, W) to a square, then resize to ``size`` (the upload pipeline's geometry)."""
    H, W = x.shape[-2:]
    s = min(H, W)
    x = x[..., (H - s) // 2:(H - s) // 2 + s, (W - s) // 2:(W - s) // 2 + s]
    if s == size:
        return x
    if mode == "mask":
        return F.interpolate(x, size=(size, size), mode="area" if s > size else "nearest")
    return F.interpolate(x, size=(size, size), mode="area" if s > size else "bilinear", align_corners=None)


def _as_image01(image, channels: int | None) -> torch.Tensor:
    """Tensor in [0, 1] ((C, H, W), (1, C, H, W) or (H, W)) or anything the upload pipeline opens ->
    (1, C, H, W) in [0, 1] at native size."""
    if torch.is_tensor(image):
        x = image.detach().float().cpu()
        x = x[None, None] if x.ndim == 2 else x[None] if x.ndim == 3 else x
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"complete() takes one image, got a tensor of shape {tuple(image.shape)}")
    else:
        from .preprocess import open_image, to_mode

        im = open_image(image)
        grey = im.getbands() in (("L",), ("L", "A"), ("1",), ("I",), ("F",)) or im.mode.startswith("I;")
        im = to_mode(im, channels or (1 if grey else 3))
        a = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()) / 255.0
        x = a[None, None] if a.ndim == 2 else a.permute(2, 0, 1)[None]
    if channels and x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x[:, :1].expand(-1, channels, -1, -1)
    return x.clamp(0, 1)


def _as_mask(mask, shape) -> torch.Tensor:
    """Tensor/array/PIL (1 or 255 = missing) -> (1, 1, H, W) float with the image's native ``shape``."""
    if mask is None:
        raise ValueError("No mask given: draw the missing region or pick a preset.")
    if not torch.is_tensor(mask):
        a = np.asarray(mask.convert("L") if hasattr(mask, "convert") else mask, dtype=np.float32)
        m = torch.from_numpy(a.copy())
        m = m / 255.0 if m.max() > 1 else m
    else:
        m = mask.detach().float().cpu()
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim == 3:  # (C, H, W) or (H, W, C): any channel marks a pixel missing
        m = m.amax(0) if m.shape[0] <= 4 else m.amax(-1)
    if m.ndim != 2:
        raise ValueError(f"mask must be a 2-D array (H, W), got shape {tuple(mask.shape)}")
    m = m[None, None]
    if tuple(m.shape[-2:]) != tuple(shape):  # resize to the image first, then both get the same geometry
        m = F.interpolate(m, size=tuple(shape), mode="bilinear", align_corners=False)
    return m


def prepare(image, mask, size: int | None = None, channels: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Image and mask (any sizes/modes) -> x (1, C, S, S) in [-1, 1] and binary mask (1, 1, S, S), both
    centre-cropped and resized the same way (S = ``size`` or the image's short side)."""
    x01 = _as_image01(image, channels)
    m = _as_mask(mask, x01.shape[-2:])
    size = size or min(x01.shape[-2:])
    x01, m = _fit(x01, size, "image"), _fit(m, size, "mask")
    return from01(x01), (m > 0.3).float()


# ---- blending ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _poisson_system(mask_bytes: bytes, H: int, W: int):
    """Sparse system for Poisson blending on the missing pixels of one mask (LU-factorised once)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    miss = np.frombuffer(mask_bytes, dtype=bool).reshape(H, W)
    ys, xs = np.nonzero(miss)
    K = len(ys)
    idx = -np.ones((H, W), dtype=np.int64)
    idx[ys, xs] = np.arange(K)
    rows_a, cols_a, vals_a, rows_b, cols_b, rows_g, cols_g, vals_g = [], [], [], [], [], [], [], []
    deg = np.zeros(K)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        qy, qx = ys + dy, xs + dx
        ok = (qy >= 0) & (qy < H) & (qx >= 0) & (qx < W)  # Neumann boundary at the image border
        p, qy, qx = np.arange(K)[ok], qy[ok], qx[ok]
        deg[p] += 1
        q_miss = miss[qy, qx]
        rows_a += [p[q_miss]]; cols_a += [idx[qy[q_miss], qx[q_miss]]]; vals_a += [-np.ones(q_miss.sum())]
        rows_b += [p[~q_miss]]; cols_b += [qy[~q_miss] * W + qx[~q_miss]]
        rows_g += [p, p]; cols_g += [ys[ok] * W + xs[ok], qy * W + qx]; vals_g += [np.ones(len(p)), -np.ones(len(p))]
    A = sp.csc_matrix((np.concatenate(vals_a + [deg]), (np.concatenate(rows_a + [np.arange(K)]),
                                                         np.concatenate(cols_a + [np.arange(K)]))), shape=(K, K))
    Bk = sp.csr_matrix((np.ones(sum(len(r) for r in rows_b)), (np.concatenate(rows_b), np.concatenate(cols_b))),
                       shape=(K, H * W))
    G = sp.csr_matrix((np.concatenate(vals_g), (np.concatenate(rows_g), np.concatenate(cols_g))), shape=(K, H * W))
    return splu(A), Bk, G, ys, xs


def poisson_blend(gen: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Known pixels kept exactly; inside the hole, the gradients of ``gen`` with the known pixels as boundary
    values, so the seam disappears. All (N, C, H, W) / mask (N, 1, H, W); same device/dtype as ``known``."""
    N, C, H, W = gen.shape
    out = torch.where(mask.bool(), gen, known).detach().cpu().double().clone()
    g_np, k_np = gen.detach().cpu().double().numpy(), known.detach().cpu().double().numpy()
    masks = mask.detach().cpu().bool().numpy()[:, 0]
    groups: dict[bytes, list[int]] = {}
    for i in range(N):
        if masks[i].any() and not masks[i].all():
            groups.setdefault(masks[i].tobytes(), []).append(i)
    for key, members in groups.items():
        lu, Bk, G, ys, xs = _poisson_system(key, H, W)
        gf = g_np[members].reshape(len(members) * C, H * W).T  # (HW, M*C)
        kf = k_np[members].reshape(len(members) * C, H * W).T
        sol = lu.solve(np.asarray(G @ gf + Bk @ kf))  # (K, M*C)
        sol = torch.from_numpy(sol.T.reshape(len(members), C, -1))
        for j, i in enumerate(members):
            out[i][:, ys, xs] = sol[j]
    return out.to(known.dtype).to(known.device).clamp(-1, 1)


# ---- learned methods -----------------------------------------------------------------------------------
def _num_classes(net: nn.Module) -> int:
    return int(getattr(net.config, "num_classes", 0) or 0)


def _context_weights(m: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Yeh et al.'s importance weighting: known pixels near the hole count more (1 + missing share nearby)."""
    near = F.avg_pool2d(m, window, stride=1, padding=window // 2, count_include_pad=False)
    return (1 - m) * (1 + near)


def _candidates(net: nn.Module, x: torch.Tensor, m: torch.Tensor, per_image: int):
    """Repeat each image for its candidates; conditional models spread them over every class."""
    C = _num_classes(net)
    R = C * -(-per_image // C) if C else per_image  # ceil to a multiple of the number of classes
    labels = torch.arange(C).repeat(x.shape[0] * (R // C)) if C else None
    return x.repeat_interleave(R, 0), m.repeat_interleave(R, 0), labels, R


def optimise_latents(net, z, labels, xr, mr, *, steps: int, lr: float, prior_w: float, disc_w: float,
                     on_step=None):
    """Adam on z for weighted-L1 context loss on the known pixels (mask ``mr`` 0) + Gaussian prior (+ discriminator
    prior); -> (z, loss (N,)). The generator inversion of completion, and of imggen.invert with nothing masked.
    ``on_step(i, steps)`` is called after each step (progress)."""
    from .latent import latent_prior

    mean, std = (t.to(z.device) for t in latent_prior(net))
    W = _context_weights(mr)
    use_d = disc_w > 0 and hasattr(net, "discriminate")
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps + 1):
        with torch.enable_grad():
            img = net.decode(z, labels)
            ctx = (W * (img - xr).abs()).flatten(1).sum(1)
            loss = ctx + prior_w * 0.5 * ((z - mean) / std).pow(2).sum(1)
            if use_d:
                logits = net.discriminate(img) if labels is None else net.discriminate(img, labels)
                loss = loss + disc_w * F.softplus(-logits)
            if _ == steps:
                break
            (grad,) = torch.autograd.grad(loss.sum(), z)  # gradients for z only, model weights untouched
        z.grad = grad
        opt.step()
        if on_step is not None:
            on_step(_ + 1, steps)
    return z.detach(), loss.detach()


def _pick(out: torch.Tensor, loss: torch.Tensor, B: int, R: int, n: int) -> torch.Tensor:
    """Keep the n lowest-loss candidates of each image -> (B, n, C, H, W)."""
    out, loss = out.view(B, R, *out.shape[1:]), loss.view(B, R)
    best = loss.argsort(1)[:, :n]
    return out[torch.arange(B)[:, None], best]


@torch.no_grad()
def complete_vae(net, x, m, n: int = 4, *, generator: torch.Generator | None = None, iters: int = 10,
                 steps: int = 100, lr: float = 0.05, candidates: int = 2) -> torch.Tensor:
    """Encode -> sample -> decode with known pixels clamped (``iters`` times), then optimise each latent on the
    known pixels under the prior; Poisson-blended. x (B, C, H, W) in [-1, 1], m (B, 1, H, W) -> (B, n, C, H, W)."""
    if not hasattr(net, "encode"):
        raise ValueError("the 'vae' method needs a model with an encoder (AE/VAE/CVAE/VAE-GAN); use 'gan'")
    dev = next(net.parameters()).device
    B = x.shape[0]
    xr, mr, labels, R = _candidates(net, x.to(dev), m.to(dev), n * candidates)
    labels = None if labels is None else labels.to(dev)
    noise = torch.rand(xr.shape, generator=generator).to(dev) * 2 - 1
    cur = torch.where(mr.bool(), noise, xr)
    for _ in range(iters):
        mu, logvar = net.encode(cur, labels)  # a CVAE encodes q(z | x, y) for each candidate's class
        eps = torch.randn(mu.shape, generator=generator).to(dev)
        z = mu + torch.nan_to_num((0.5 * logvar).exp()) * eps
        cur = torch.where(mr.bool(), net.decode(z, labels), xr)
    z, loss = optimise_latents(net, z, labels, xr, mr, steps=steps, lr=lr, prior_w=1.0, disc_w=0.0)
    out = poisson_blend(net.decode(z, labels), xr, mr)
    return _pick(out, loss, B, R, n)


@torch.no_grad()
def complete_gan(net, x, m, n: int = 4, *, generator: torch.Generator | None = None, steps: int = 200,
                 lr: float = 0.05, candidates: int = 2, prior_w: float = 0.05, disc_w: float = 0.1) -> torch.Tensor:
    """Semantic inpainting by generator inversion (Yeh et al. 2017): random restarts optimised for context +
    prior loss, best ``n`` kept, Poisson-blended. Works for any decoder; uses ``discriminate`` when present."""
    from .latent import prior_latents

    dev = next(net.parameters()).device
    B = x.shape[0]
    xr, mr, labels, R = _candidates(net, x.to(dev), m.to(dev), n * candidates)
    labels = None if labels is None else labels.to(dev)
    z0 = prior_latents(net, len(xr), generator if generator is not None else torch.Generator().manual_seed(0))
    z, loss = optimise_latents(net, z0.to(dev), labels, xr, mr, steps=steps, lr=lr, prior_w=prior_w, disc_w=disc_w)
    out = poisson_blend(net.decode(z, labels), xr, mr)
    return _pick(out, loss, B, R, n)


# ---- classical baselines -------------------------------------------------------------------------------
TELEA_MISSING = ("Telea needs opencv-python-headless (pip install opencv-python-headless); biharmonic works "
                 "without it.")


def _u8(x01: np.ndarray) -> np.ndarray:
    return (np.clip(x01, 0, 1) * 255).round().astype(np.uint8)


def complete_telea(x: torch.Tensor, m: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """OpenCV fast-marching inpainting. x (B, C, H, W) in [-1, 1] -> (B, C, H, W)."""
    try:
        import cv2  # an optional extra (imggen[extras]), ~170 MB for this one baseline
    except ImportError:
        raise ValueError(TELEA_MISSING) from None

    outs = []
    for xi, mi in zip(x.cpu(), m.cpu()):
        img = _u8(to01(xi).permute(1, 2, 0).numpy())
        res = cv2.inpaint(img if img.shape[2] == 3 else img[..., 0], _u8(mi[0].numpy()), radius, cv2.INPAINT_TELEA)
        res = from_uint8(res)
        outs.append(res[None] if res.ndim == 2 else res.permute(2, 0, 1))
    return torch.where(m.cpu().bool(), torch.stack(outs), x.cpu())


def complete_biharmonic(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """scikit-image biharmonic inpainting. x (B, C, H, W) in [-1, 1] -> (B, C, H, W)."""
    from skimage.restoration import inpaint_biharmonic

    outs = []
    for xi, mi in zip(x.cpu(), m.cpu()):
        img = to01(xi).permute(1, 2, 0).double().numpy()
        res = inpaint_biharmonic(img, mi[0].bool().numpy(), channel_axis=-1)
        outs.append(from01(torch.from_numpy(res).permute(2, 0, 1)))
    return torch.where(m.cpu().bool(), torch.stack(outs).clamp(-1, 1), x.cpu())


def complete_batch(net, x: torch.Tensor, m: torch.Tensor, method: str, n: int = 4, *,
                   generator: torch.Generator | None = None, **kw) -> torch.Tensor:
    """Batched core: x (B, C, H, W) in [-1, 1], m (B, 1, H, W) -> (B, n, C, H, W) in [-1, 1] on the CPU."""
    if method == "vae":
        return complete_vae(net, x, m, n, generator=generator, **kw).cpu()
    if method == "gan":
        return complete_gan(net, x, m, n, generator=generator, **kw).cpu()
    if method in SAMPLING_METHODS:
        return net.complete(x, m, n, generator=generator, **kw).cpu()
    if method == "telea":
        return complete_telea(x, m)[:, None].expand(-1, n, -1, -1, -1)
    if method == "biharmonic":
        return complete_biharmonic(x, m)[:, None].expand(-1, n, -1, -1, -1)
    raise ValueError(f"unknown completion method {method!r}; known: {', '.join(METHODS)}")


# ---- public API ----------------------------------------------------------------------------------------
@dataclass
class Completion:
    images: torch.Tensor  # (n, C, H, W) in [0, 1]
    masked: torch.Tensor  # (1, C, H, W) in [0, 1]: the input with the missing region greyed out
    mask: torch.Tensor  # (1, 1, H, W), 1 = missing
    method: str  # the method that ran ("auto" resolved)
    note: str = ""  # shown to the user (empty/full mask, resizing)
    seconds: float = 0.0


def _resolve(model):
    """None | name | path | LoadedModel | nn.Module -> (net or None, family or None)."""
    from . import registry

    if model is None:
        return None, None
    if isinstance(model, str):
        model = registry.load(model)
    if isinstance(model, registry.LoadedModel):
        return model.net, model.family
    from . import families

    entry = families.of_model(model)
    return model, entry.name if entry else None


def card_settings(card: dict, method: str) -> dict:
    """Settings a completion method takes from the model's card: the random forest and the pixel GPT complete at
    the truncation they sample with (``card["sampling"]``); other methods take none."""
    t = (card.get("sampling") or {}).get("truncation")
    return {"truncation": t} if method in ("arf", "gpt") and t is not None else {}


def auto_method(net, family: str | None) -> str:
    """The benchmark's best method for the family; otherwise by capability."""
    if net is None:
        return "biharmonic"
    from . import families

    method = families.FAMILIES[family].completion if family in families.FAMILIES else None
    if method:
        return method
    return "vae" if hasattr(net, "encode") else "gan"


def run_completion(model, image, mask, method: str = "auto", n: int = 4, seed: int = 0, **kw) -> Completion:
    """:func:`complete` with the resolved method, the masked input and a note for the user."""
    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"unknown completion method {method!r}; known: {', '.join(METHODS)}")
    if not 1 <= int(n) <= 16:
        raise ValueError(f"n must be between 1 and 16, got {n}")
    net, family = _resolve(model)
    if net is None and method in LEARNED:
        raise ValueError(f"the {method!r} method needs a model")
    cfg = getattr(net, "config", None)
    x, m = prepare(image, mask, cfg.image_size if cfg else None, cfg.channels if cfg else None)
    method = auto_method(net, family) if method == "auto" else method
    if method in LEARNED and not hasattr(net, LEARNED[method][0]) or \
            method in SAMPLING_METHODS and family and auto_method(net, family) != method:
        raise ValueError(f"the {method!r} method needs a model with {LEARNED[method][1]}; a {family or 'this'} "
                         f"model completes with {auto_method(net, family)!r} (or auto)")
    g = torch.Generator().manual_seed(int(seed))
    masked = to01(torch.where(m.bool(), torch.zeros_like(x), x))
    note = ""
    if not m.any():
        out, note = x.expand(n, -1, -1, -1), "The mask is empty: nothing is missing, so the image comes back unchanged."
    elif m.all():
        if net is None:
            raise ValueError("The mask covers the whole image: there is nothing to complete from. Pick a model "
                             "to draw plain samples, or mask less.")
        from .latent import decode, prior_latents

        C = _num_classes(net)
        labels = torch.randint(0, C, (n,), generator=g) if C else None
        prompt = {"prompt": kw["prompt"]} if kw.get("prompt") else {}  # a text model draws the prompt
        out = decode(net.eval(), prior_latents(net, n, g), labels) if hasattr(net, "decode") else \
            net.eval().sample(n, generator=g, **prompt).cpu()
        note = "The mask covers the whole image: these are plain samples from the model (nothing was known)."
    else:
        if net is not None:
            net.eval()
        out = complete_batch(net, x, m, method, int(n), generator=g, **kw)[0]
    return Completion(to01(out), masked, m, method, note, time.perf_counter() - t0)


def complete(model, image, mask, method: str = "auto", n: int = 4, seed: int = 0, **kw) -> torch.Tensor:
    """Fill the missing pixels of ``image`` (1 in ``mask``) with ``n`` completions.

    Args:
        model: registered name, checkpoint path, ``imggen.load(...)`` result or core module; may be None
            for "telea"/"biharmonic".
        image: (C, H, W) / (1, C, H, W) / (H, W) tensor in [0, 1], or a path/PIL/numpy image.
        mask: (H, W)-shaped tensor/array/PIL, 1 (or 255) where pixels are missing; other sizes are resized to
            the image, then both are centre-cropped and resized to the model's size the same way.
        method: "auto" (best per family, as benchmarked) | "vae" | "gan" | "telea" | "biharmonic".
        n: number of completions; seed: makes them reproducible.
    Returns:
        (n, C, H, W) float tensor in [0, 1]; known pixels are kept. An empty mask returns the image, a full
        mask plain samples (with a warning).
    """
    res = run_completion(model, image, mask, method, n, seed, **kw)
    if res.note:
        warnings.warn(res.note, stacklevel=2)
    return res.images
