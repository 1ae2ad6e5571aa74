"""Sample-quality metrics: classifier-feature Fréchet distance, class coverage, confident fraction,
k-NN precision/recall (Kynkäänniemi et al. 2019), and Laplacian-pyramid sliced Wasserstein distance
(Karras et al. 2018, ProGAN) for data without a classifier; emoji_metrics for colour (the emoji feature net)."""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from . import checkpoint
from .models.classifier import ClassifierConfig, DigitClassifier

CLASSIFIER_PATH = Path(__file__).resolve().parents[1] / "checkpoints" / "classifier-mnist.safetensors"
CONFIDENT = 0.8  # max softmax probability that counts as "confidently classified" (classifier trained with label smoothing 0.05)


@functools.lru_cache(maxsize=1)
def classifier() -> DigitClassifier:
    """The shipped MNIST classifier (eval mode, CPU)."""
    return _shipped_net(CLASSIFIER_PATH, ClassifierConfig, DigitClassifier, "scripts/train_classifier.py")


def _shipped_net(path: Path, config_cls, model_cls, script: str) -> torch.nn.Module:
    """A shipped metrics network (config from its metadata, weights loaded, eval mode)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; train it with python {script}")
    model = model_cls(config_cls(**checkpoint.read_metadata(path)["config"]))
    checkpoint.load_weights(model, path)
    return model.eval()


@torch.no_grad()
def classify(x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] -> (features (N, D), probabilities (N, 10))."""
    net = classifier()
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        f = net.features(x[i:i + batch_size].float().cpu())
        feats.append(f)
        probs.append(F.softmax(net.head(f), 1))
    return torch.cat(feats), torch.cat(probs)


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D)."""
    a, b = f1.double().numpy(), f2.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)  # newer scipy has no disp=; the array is returned either way
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def class_stats(probs: torch.Tensor, min_share: float = 0.2) -> dict:
    """Coverage (classes getting at least ``min_share`` of a uniform share), class entropy (bits, max log2 10),
    confident fraction, and the histogram of predicted classes."""
    n, k = probs.shape
    pred = probs.argmax(1)
    hist = torch.bincount(pred, minlength=k).float()
    share = hist / n
    ent = -(share[share > 0] * share[share > 0].log2()).sum().item()
    return {"coverage": int((share >= min_share / k).sum().item()), "class_entropy": ent,
            "confident_fraction": (probs.max(1).values >= CONFIDENT).float().mean().item(),
            "class_histogram": hist.long().tolist()}


def _kth_radius(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values  # +1: distance to itself is 0


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall: fraction of fakes inside the real manifold, and of reals inside the fake one."""
    real, fake = real.float(), fake.float()
    r_real, r_fake = _kth_radius(real, k), _kth_radius(fake, k)
    d = torch.cdist(fake, real)  # (Nf, Nr)
    precision = (d <= r_real[None]).any(1).float().mean().item()
    recall = (d.T <= r_fake[None]).any(1).float().mean().item()
    return precision, recall


def digit_metrics(samples: torch.Tensor, real: torch.Tensor, reference: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None) -> dict:
    """All digit metrics for ``samples`` vs ``real`` (both [-1, 1]). ``reference`` (disjoint real images of the
    same count) gives the real-vs-real FD floor; ``labels`` (requested classes) gives label accuracy.
    (imggen.evaluate.HeldOut scores against a fixed set, its classifier features computed once.)"""
    fr, pr = classify(real)
    floor = None if reference is None else frechet_distance(classify(reference)[0], fr)
    return digit_scores(classify(samples), (fr, pr), floor, labels)


def digit_scores(sample_cls: tuple[torch.Tensor, torch.Tensor], real_cls: tuple[torch.Tensor, torch.Tensor],
                 floor: float | None = None, labels: torch.Tensor | None = None) -> dict:
    """:func:`digit_metrics` from already classified images: ``classify(samples)``, ``classify(real)`` and the
    real-vs-real FD floor (None: no floor)."""
    (fs, ps), (fr, pr) = sample_cls, real_cls
    out = {"fd": frechet_distance(fs, fr), **class_stats(ps)}
    out["real_confident_fraction"] = class_stats(pr)["confident_fraction"]  # what real digits reach
    out["precision"], out["recall"] = precision_recall(fr, fs)
    if floor is not None:
        out["fd_floor"] = floor
        out["fd_ratio"] = out["fd"] / max(out["fd_floor"], 1e-8)
    if labels is not None:
        out["label_accuracy"] = (ps.argmax(1) == labels.cpu()).float().mean().item()
    return out


def _laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    k = torch.tensor([1, 4, 6, 4, 1], dtype=x.dtype)
    k = (k[:, None] * k[None]) / 256
    k = k.expand(x.shape[1], 1, 5, 5)
    pyr, cur = [], x
    for _ in range(levels - 1):
        down = F.conv2d(F.pad(cur, (2, 2, 2, 2), mode="reflect"), k, groups=x.shape[1])[..., ::2, ::2]
        up = F.interpolate(down, size=cur.shape[-2:], mode="bilinear", align_corners=False)
        pyr.append(cur - up)
        cur = down
    pyr.append(cur)
    return pyr


def _patches(x: torch.Tensor, n_per_image: int, size: int, g: torch.Generator) -> torch.Tensor:
    B, C, H, W = x.shape
    ys = torch.randint(0, H - size + 1, (B, n_per_image), generator=g)
    xs = torch.randint(0, W - size + 1, (B, n_per_image), generator=g)
    p = x.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, H', W', s, s)
    p = p[torch.arange(B)[:, None], :, ys, xs]  # (B, n, C, s, s)
    p = p.reshape(B * n_per_image, -1)
    return (p - p.mean(0)) / (p.std(0) + 1e-8)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, *, levels: int = 3, patch: int = 7,
                       per_image: int = 64, projections: int = 256, seed: int = 0) -> float:
    """Mean SWD over Laplacian-pyramid levels between two image sets in [-1, 1] (x1e3, lower is better)."""
    g = torch.Generator().manual_seed(seed)
    n = min(len(a), len(b))
    levels = max(1, min(levels, int(np.log2(min(a.shape[-1], b.shape[-1]) / patch)) + 1))
    total = []
    for la, lb in zip(_laplacian_pyramid(a[:n].float().cpu(), levels), _laplacian_pyramid(b[:n].float().cpu(), levels)):
        if la.shape[-1] < patch:
            continue
        pa, pb = _patches(la, per_image, patch, g), _patches(lb, per_image, patch, g)
        dirs = torch.randn(pa.shape[1], projections, generator=g)
        dirs /= dirs.norm(dim=0, keepdim=True)
        projA, projB = (pa @ dirs).sort(0).values, (pb @ dirs).sort(0).values
        total.append((projA - projB).abs().mean().item())
    return float(np.mean(total)) * 1e3


EMOJINET_PATH = Path(__file__).resolve().parents[1] / "checkpoints" / "metrics" / "emojinet-emoji.safetensors"


@functools.lru_cache(maxsize=1)
def emoji_net():
    """The shipped emoji feature network (eval mode, CPU): category + subcategory CNN on 32-px RGB."""
    from .models.emojinet import EmojiNet, EmojiNetConfig

    return _shipped_net(EMOJINET_PATH, EmojiNetConfig, EmojiNet, "scripts/train_emojinet.py")


@torch.no_grad()
def emoji_features(x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1|3, H, W) in [-1, 1] -> (the emoji net's block features (N, 224), category probabilities (N,
    categories)). The block features (each conv block's mean activation per channel, standardised by the train
    split) see blur and colour; its penultimate features, which the category head reads, barely do (5x5 binomial
    blur: 1.5x the real-vs-real FD on those, 4.9x on the block features; bench/results/emoji.md)."""
    net = emoji_net()
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].float().cpu()
        feats.append(net.block_features(xb))
        probs.append(F.softmax(net.head(net.features(xb)), 1))
    return torch.cat(feats), torch.cat(probs)


def _same_grid(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets in RGB at the smaller of their two sizes (area mean / antialiased resize), for the SWD."""
    a, b = a.float().cpu(), b.float().cpu()
    a, b = (a.expand(-1, 3, -1, -1) if a.shape[1] == 1 else a), (b.expand(-1, 3, -1, -1) if b.shape[1] == 1 else b)
    s = min(a.shape[-1], b.shape[-1])
    fit = lambda x: x if x.shape[-1] == s else (F.avg_pool2d(x, x.shape[-1] // s) if x.shape[-1] % s == 0 else  # noqa: E731
                                                F.interpolate(x, size=(s, s), mode="bilinear", antialias=True))
    return fit(a), fit(b)


def _check_images(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{what} must be a (N, 1 or 3, H, H) tensor of images in [-1, 1], not "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if len(x) < 5:
        raise ValueError(f"{what}: at least 5 images are needed for FD and precision / recall, not {len(x)}")


def emoji_scores(sample_feats: tuple[torch.Tensor, torch.Tensor], real_feats: torch.Tensor,
                 floor: float | None = None, labels: torch.Tensor | None = None) -> dict:
    """:func:`emoji_metrics` without the SWD, from already read images: ``emoji_features(samples)``, the real
    images' block features and the real-vs-real FD floor (None: no floor)."""
    fs, ps = sample_feats
    out = {"fd": frechet_distance(fs, real_feats)}
    out["precision"], out["recall"] = precision_recall(real_feats, fs)
    out["category_histogram"] = torch.bincount(ps.argmax(1), minlength=ps.shape[1]).tolist()
    if labels is not None:
        labels = torch.as_tensor(labels).cpu()
        if labels.shape != (len(fs),):
            raise ValueError(f"labels must hold one category per sample ({len(fs)}), not shape "
                             f"{tuple(labels.shape)}")
        out["category_accuracy"] = (ps.argmax(1) == labels).float().mean().item()
    if floor is not None:
        out["fd_floor"] = floor
        out["fd_ratio"] = out["fd"] / max(floor, 1e-8)
    return out


def emoji_metrics(samples: torch.Tensor, real: torch.Tensor, labels: torch.Tensor | None = None, *,
                  reference: torch.Tensor | None = None, swd: bool = True) -> dict:
    """Colour metrics for ``samples`` vs ``real`` (both [-1, 1], any size; the emoji net reads them at 32 px):
    Fréchet distance on the emoji net's block features (:func:`emoji_features`), k-NN precision / recall there, the Laplacian SWD (x1e3, at the
    smaller image size), and the predicted-category histogram. ``labels`` (the categories asked for) gives
    ``category_accuracy``, the fraction that reads as the asked category; ``reference`` (other real images, as
    many as ``samples``) gives the real-vs-real floors ``fd_floor`` / ``swd_floor`` and ``fd_ratio``."""
    _check_images(samples, "samples")
    _check_images(real, "real")
    if reference is not None:
        _check_images(reference, "reference")
    fr = emoji_features(real)[0]
    floor = None if reference is None else frechet_distance(emoji_features(reference)[0], fr)
    out = emoji_scores(emoji_features(samples), fr, floor, labels)
    if swd:
        out["swd"] = sliced_wasserstein(*_same_grid(samples, real))
        if reference is not None:
            out["swd_floor"] = sliced_wasserstein(*_same_grid(reference, real))
    return out
