"""Interpretable latent directions for every decoder: GANSpace (Härkönen et al. 2020, PCA of early features
regressed back to z), SeFa (Shen & Zhou 2021, eigenvectors of the first layer's weights) and InterFaceGAN
(Shen et al. 2020, linear boundaries for measured attributes), each labelled automatically by the measured
attribute it changes most over a sweep ("thickness ↑ r=0.93").

Attributes are pure tensor functions of images in [-1, 1]: for grey models the digit's (ink = bright pixels, as in
MNIST), for colour models the shape's on its white background (hue, saturation, brightness, size, roundness:
:mod:`imggen.attributes`), plus the class a classifier reads (digit, emoji category). The basis is computed once
per model and cached as JSON next to its checkpoint, keyed by the checkpoint's content hash.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from . import attributes
from .attributes import COLOUR_ATTRIBUTES
from .convert import to01

VERSION = 3  # bump when discovery changes: cached bases from older versions are recomputed
ATTRIBUTES = ("thickness", "slant", "width", "height", "ink")  # of grey digits; colour: COLOUR_ATTRIBUTES
CLASS_PREFIXES = ("digit ", "category ")  # classifier probabilities: "digit 3", "category Flags"
NUM_SLIDERS = 8
SLIDER_SPAN = 3.0  # sliders move the latent by up to this many prior standard deviations
DISCOVER_DEFAULTS = dict(num_samples=2000, sweep_bases=32)  # used by explorer()
ROUND = 2  # slider values are rounded to this many decimals so a recipe reproduces them exactly


# ---- attribute measurements (pure tensor functions, images (B, C, H, W) in [-1, 1] -> (B,)) ---------------
def ink_map(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> (B, H, W) ink in [0, 1] (channel mean)."""
    return to01(x).mean(1)


def ink(x: torch.Tensor) -> torch.Tensor:
    """Mean ink per image."""
    return ink_map(x).mean((1, 2))


def thickness(x: torch.Tensor) -> torch.Tensor:
    """Mean stroke width in pixels: 2 * area / perimeter (a stroke of width w and length L has area wL and
    perimeter ~2L); the perimeter is the total variation of the ink map."""
    m = ink_map(x)
    perim = (m[:, 1:] - m[:, :-1]).abs().sum((1, 2)) + (m[:, :, 1:] - m[:, :, :-1]).abs().sum((1, 2))
    return 2 * m.sum((1, 2)) / (perim + 1e-6)


def _moments(x: torch.Tensor):
    m = ink_map(x)
    B, H, W = m.shape
    w = m / (m.sum((1, 2), keepdim=True) + 1e-6)
    ys = torch.arange(H, dtype=m.dtype, device=m.device)[None, :, None]
    xs = torch.arange(W, dtype=m.dtype, device=m.device)[None, None, :]
    cy, cx = (w * ys).sum((1, 2)), (w * xs).sum((1, 2))
    dy, dx = ys - cy[:, None, None], xs - cx[:, None, None]
    return (w * dx * dx).sum((1, 2)), (w * dy * dy).sum((1, 2)), (w * dx * dy).sum((1, 2))


def slant(x: torch.Tensor) -> torch.Tensor:
    """Shear of the ink: horizontal shift per row going up (> 0 leans right, like "/")."""
    vxx, vyy, vxy = _moments(x)
    return -vxy / (vyy + 1e-6)


def width(x: torch.Tensor) -> torch.Tensor:
    """Width in pixels of the de-slanted ink (sqrt(12 var) = the extent of a uniform bar)."""
    vxx, vyy, vxy = _moments(x)
    return (12 * (vxx - vxy ** 2 / (vyy + 1e-6)).clamp_min(0)).sqrt()


def height(x: torch.Tensor) -> torch.Tensor:
    """Height in pixels of the ink (sqrt(12 var_y))."""
    return (12 * _moments(x)[1]).sqrt()


MEASURES = {"thickness": thickness, "slant": slant, "width": width, "height": height, "ink": ink}


def is_digit_model(net: nn.Module) -> bool:
    """28x28 greyscale: the shipped MNIST classifier can read its images."""
    from .metrics import CLASSIFIER_PATH

    cfg = net.config
    return cfg.channels == 1 and cfg.image_size == 28 and CLASSIFIER_PATH.exists()


def is_emoji_model(net: nn.Module) -> bool:
    """Colour (RGB) images: the shipped emoji net can read their category."""
    from .metrics import EMOJINET_PATH

    return net.config.channels == 3 and EMOJINET_PATH.exists()


def category_names() -> tuple[str, ...]:
    """The emoji net's category names (the built-in emoji data's), or "0".."K-1" without the data."""
    from .data import builtin_classes
    from .metrics import emoji_net

    names = builtin_classes("emoji32")
    k = emoji_net().config.num_categories
    return names if len(names) == k else tuple(map(str, range(k)))


def measure(x: torch.Tensor, *, digits: bool = False, categories: bool = False) -> dict[str, torch.Tensor]:
    """Every attribute of images in [-1, 1] -> name -> (B,): the digit attributes for grey images, the colour
    ones (:data:`COLOUR_ATTRIBUTES`) for RGB; ``digits`` adds "digit 0".."digit 9" (classifier probabilities),
    ``categories`` "category <name>" for each emoji category (the emoji net's probabilities)."""
    colour = x.shape[1] == 3
    out = {k: f(x) for k, f in (attributes.MEASURES if colour else MEASURES).items()}
    if categories:
        from .metrics import emoji_features

        probs = emoji_features(x)[1]  # the net resizes other sizes to its own
        out.update({f"category {n}": probs[:, c] for c, n in enumerate(category_names())})
    if digits:
        from .metrics import classify

        probs = classify(x)[1]
        out.update({f"digit {c}": probs[:, c] for c in range(probs.shape[1])})
    return out


# ---- latents ------------------------------------------------------------------------------------------------
def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def latent_prior(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the model's latent prior on the CPU: N(0, I) unless it stores a fitted one (AE)."""
    D = net.config.latent_dim
    mean = getattr(net, "z_mean", None)
    std = getattr(net, "z_std", None)
    return (torch.zeros(D) if mean is None else mean.detach().float().cpu(),
            torch.ones(D) if std is None else std.detach().float().cpu())


def prior_latents(net: nn.Module, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, D) latents from the prior, drawn on the CPU so the same seed gives the same z on any device."""
    mean, std = latent_prior(net)
    z = mean + std * torch.randn(n, len(mean), generator=generator)
    return net.prior_transform(z, generator) if hasattr(net, "prior_transform") else z  # a fitted mixture (DCGAN)


def step_scale(net: nn.Module) -> float:
    """Latent distance of one slider unit: the prior's mean standard deviation (1 for N(0, I))."""
    return float(latent_prior(net)[1].mean())


def seed_latent(net: nn.Module, seed: int) -> torch.Tensor:
    """The (1, D) latent a seed stands for."""
    return prior_latents(net, 1, torch.Generator().manual_seed(int(seed)))


def num_classes(net: nn.Module) -> int:
    return int(getattr(net.config, "num_classes", 0) or 0)


@torch.no_grad()
def decode(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 512) -> torch.Tensor:
    """Latents (B, D) (+ labels for conditional models) -> images (B, C, H, W) in [-1, 1] on the CPU."""
    dev = _device(net)
    outs = []
    for i in range(0, len(z), batch_size):
        lab = None if labels is None or not num_classes(net) else labels[i:i + batch_size].to(dev)
        outs.append(net.decode(z[i:i + batch_size].to(dev), lab).float().cpu())
    return torch.cat(outs)


@torch.no_grad()
def _layer_outputs(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> list[tuple[nn.Module, torch.Tensor]]:
    """Outputs of every leaf module the decoder calls, in call order (forward hooks)."""
    seen: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append((mod, out)) if torch.is_tensor(out) else None)
             for m in net.modules() if not list(m.children())]
    try:
        decode(net, z, labels, batch_size=len(z))
    finally:
        for h in hooks:
            h.remove()
    return [(m, o.detach().float().cpu().flatten(1)) for m, o in seen]


def _zero_labels(net: nn.Module, n: int) -> torch.Tensor | None:
    return torch.zeros(n, dtype=torch.long) if num_classes(net) else None


def first_layer_jacobian(net: nn.Module) -> tuple[torch.Tensor, int]:
    """(D, F) response of the first layer whose output depends on z to each unit latent, and that layer's
    index in call order. The first layer is affine in z, so differences with z = 0 give its weight exactly."""
    D = net.config.latent_dim
    z = torch.cat([torch.zeros(1, D), torch.eye(D)])
    outs = _layer_outputs(net, z, _zero_labels(net, D + 1))
    for i, (_, o) in enumerate(outs):
        J = o[1:] - o[:1]
        if o.shape[0] == D + 1 and J.abs().max() > 1e-8:
            return J, i
    raise ValueError("could not find a layer that depends on the latent")


ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.ELU, nn.Tanh, nn.Softplus, nn.Mish)


def sefa(net: nn.Module, k: int = 4) -> torch.Tensor:
    """SeFa: the top-k eigenvectors of A^T A for the first layer's weight A, (k, D)."""
    J, _ = first_layer_jacobian(net)
    evals, evecs = torch.linalg.eigh(J.double() @ J.double().T)  # ascending
    return evecs[:, -k:].flip(1).T.float()


def ganspace(net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None, k: int = 4) -> torch.Tensor:
    """GANSpace: PCA of the first non-linear features, each component regressed back to latent space, (k, D)."""
    _, first = first_layer_jacobian(net)
    outs = _layer_outputs(net, z, labels)
    # the first activation (or the next weight layer, which sees a functional activation) after the first layer
    later = (o for m, o in outs[first + 1:] if isinstance(m, ACTIVATIONS + (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)))
    feats = next(later, outs[min(first + 1, len(outs) - 1)][1])
    feats = feats - feats.mean(0)
    q = min(k, feats.shape[1], len(z) - 1)
    f = feats.double()
    if f.shape[1] <= f.shape[0]:  # exact eigendecompositions (deterministic), of the smaller Gram/covariance
        V = torch.linalg.eigh(f.T @ f).eigenvectors[:, -q:].flip(1)
        coeff = f @ V  # (N, q) principal coordinates
    else:
        evals, evecs = torch.linalg.eigh(f @ f.T)
        coeff = evecs[:, -q:].flip(1) * evals[-q:].flip(0).clamp_min(0).sqrt()
    zc = z.double() - z.double().mean(0)
    dirs = torch.linalg.lstsq(coeff, zc).solution  # (q, D): latent displacement per unit of each component
    return dirs.float()


def _lda(z: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Normal of the Fisher linear boundary between two latent groups (shrunk pooled covariance), (D,)."""
    a, b = z[pos].double(), z[neg].double()
    cov = (torch.cov(a.T) * (len(a) - 1) + torch.cov(b.T) * (len(b) - 1)) / (len(a) + len(b) - 2)
    cov = cov + 1e-2 * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    return torch.linalg.solve(cov, a.mean(0) - b.mean(0)).float()


def _class_prefix(name: str) -> str | None:
    return next((p for p in CLASS_PREFIXES if name.startswith(p)), None)


def interfacegan(z: torch.Tensor, attrs: dict[str, torch.Tensor], quantile: float = 0.3,
                 min_count: int = 20) -> dict[str, torch.Tensor]:
    """InterFaceGAN boundaries: for scalar attributes, top vs bottom ``quantile`` of samples (hue: of its offsets
    from the mean hue); for a class ("digit c", "category Flags"), samples read as it vs the rest. name -> (D,)
    direction pointing to more of the attribute."""
    out = {}
    groups = {p: [n for n in attrs if n.startswith(p)] for p in CLASS_PREFIXES}
    pred = {p: torch.stack([attrs[n] for n in names], 1).argmax(1) for p, names in groups.items() if names}
    for name, a in attrs.items():
        prefix = _class_prefix(name)
        if prefix:
            pos = pred[prefix] == groups[prefix].index(name)
            neg = ~pos
        else:
            a = attributes.offsets(name, a)
            lo, hi = torch.quantile(a.double(), quantile), torch.quantile(a.double(), 1 - quantile)
            pos, neg = a >= hi, a <= lo
        if pos.sum() >= min_count and neg.sum() >= min_count:
            out[name] = _lda(z, pos, neg)
    return out


# ---- labelling ----------------------------------------------------------------------------------------------
def sweep_stats(net: nn.Module, dirs: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None,
                alphas: torch.Tensor, digits: bool, scale: float = 1.0,
                categories: bool = False) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For every attribute, the Pearson r and the regression slope (per slider unit = ``scale`` latent units)
    between the step along each direction and the attribute, centred per base latent (hue: around its circular
    mean, so a sweep through red is not a jump of 360°): name -> (r, slope), (K,)."""
    K, (M, D), A = len(dirs), z.shape, len(alphas)
    zz = z[None, :, None] + scale * alphas[None, None, :, None] * dirs[:, None, None]  # (K, M, A, D)
    lab = None if labels is None else labels[None, :, None].expand(K, M, A).reshape(-1)
    vals = measure(decode(net, zz.reshape(-1, D), lab), digits=digits, categories=categories)
    ac = (alphas - alphas.mean()).double()
    out = {}
    for name, v in vals.items():
        v = attributes.offsets(name, v.double().view(K, M, A), dim=2)
        v = v - v.mean(2, keepdim=True)
        num = (v * ac).sum((1, 2))
        den = (v.pow(2).sum((1, 2)) * M * ac.pow(2).sum()).sqrt()
        out[name] = ((num / den.clamp_min(1e-12)).float(), (num / (M * ac.pow(2).sum())).float())
    return out


def label_directions(stats: dict[str, tuple[torch.Tensor, torch.Tensor]], spread: dict[str, torch.Tensor],
                     min_effect: float = 0.1) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """The attribute each direction changes most (slope in units of the attribute's spread over samples) and
    its r and effect; "none" where no attribute moves by ``min_effect`` spreads per unit step."""
    names = list(stats)
    r = torch.stack([stats[a][0] for a in names], 1).nan_to_num(0.0)  # (K, A)
    effect = torch.stack([stats[a][1].abs() / attributes.offsets(a, spread[a].float()).std().clamp_min(1e-8)
                          for a in names], 1)
    best = effect.nan_to_num(0.0).argmax(1)
    k = torch.arange(len(best))
    labels = [names[b] if effect[i, b] >= min_effect else "none" for i, b in zip(k.tolist(), best.tolist())]
    return labels, r[k, best], effect[k, best]


@dataclass
class Directions:
    vectors: torch.Tensor  # (K, D) unit rows, oriented so the labelled attribute increases
    names: list[str]  # how each was found: "GANSpace PC1", "SeFa 2", "boundary thickness"
    attributes: list[str]  # the measured attribute each changes most
    r: list[float]  # its correlation with the step (>= 0 after orientation)
    effect: list[float] = field(default_factory=list)  # attribute change per unit step, in population spreads
    sliders: list[int] = field(default_factory=list)  # indices shown as sliders, in order
    key: str = ""  # cache key (checkpoint hash + version)

    def label(self, i: int) -> str:
        if self.attributes[i] == "none":
            return "no measured change"
        return f"{self.attributes[i]} ↑ r={self.r[i]:.2f}"

    def slider_labels(self) -> list[str]:
        return [f"{self.label(i)}  ({self.names[i]})" for i in self.sliders]

    def to_json(self) -> dict:
        return {"version": VERSION, "key": self.key, "names": self.names, "attributes": self.attributes,
                "r": self.r, "effect": self.effect, "sliders": self.sliders, "vectors": self.vectors.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Directions:
        return cls(torch.tensor(d["vectors"], dtype=torch.float32), d["names"], d["attributes"], d["r"],
                   d["effect"], d["sliders"], d["key"])


def choose_sliders(dirs: Directions, k: int = NUM_SLIDERS, max_cos: float = 0.9) -> list[int]:
    """Greedy by r x effect, never two nearly parallel directions: the best direction for each scalar attribute
    (thickness, slant, ... or hue, saturation, ...), then unsupervised ones (GANSpace/SeFa) with new labels, then any new label, then
    the rest (unlabelled last)."""
    order = sorted(range(len(dirs.r)), key=lambda i: (dirs.attributes[i] == "none", -dirs.r[i] * dirs.effect[i], i))
    chosen: list[int] = []

    def new_label(i):
        return dirs.attributes[i] != "none" and dirs.attributes[i] not in {dirs.attributes[j] for j in chosen}

    passes = [lambda i, a=a: new_label(i) and dirs.attributes[i] == a for a in ATTRIBUTES + COLOUR_ATTRIBUTES]
    passes += [lambda i: new_label(i) and not dirs.names[i].startswith("boundary"), new_label, lambda i: True]
    for accept in passes:
        for i in order:
            if len(chosen) < k and i not in chosen and accept(i) and \
                    all(abs(float(dirs.vectors[i] @ dirs.vectors[j])) < max_cos for j in chosen):
                chosen.append(i)
    return chosen


@torch.no_grad()
def discover(net: nn.Module, *, num_samples: int = 2000, num_pca: int = 4, num_sefa: int = 4,
             sweep_bases: int = 32, seed: int = 0) -> Directions:
    """Compute, label and orient the direction basis of a decoder (deterministic for a given model)."""
    net.eval()
    g = torch.Generator().manual_seed(seed)
    C = num_classes(net)
    z = prior_latents(net, num_samples, g)
    labels = torch.arange(num_samples) % C if C else None
    digits, categories = is_digit_model(net), is_emoji_model(net) and not C  # a cGAN's category is its input
    attrs = measure(decode(net, z, labels), digits=digits, categories=categories)
    found = [(f"GANSpace PC{i + 1}", v) for i, v in enumerate(ganspace(net, z[:1000], None if labels is None else labels[:1000], num_pca))]
    found += [(f"SeFa {i + 1}", v) for i, v in enumerate(sefa(net, num_sefa))]
    scalar = {a: v for a, v in attrs.items() if not (C and _class_prefix(a))}  # class is an input when C > 0
    found += [(f"boundary {a}", v) for a, v in interfacegan(z, scalar).items()]
    found = [(n, v) for n, v in found if torch.isfinite(v).all() and v.norm() > 1e-8]  # a constant attribute: none
    names = [n for n, _ in found]
    vecs = torch.stack([v / v.norm() for _, v in found])
    zb, lb = z[:sweep_bases], None if labels is None else labels[:sweep_bases]
    stats = sweep_stats(net, vecs, zb, lb, torch.linspace(-2, 2, 5), digits, step_scale(net), categories)
    attr_names, r, effect = label_directions(stats, attrs)
    vecs = vecs * torch.where(r < 0, -1.0, 1.0)[:, None]  # orient: the slider increases its attribute
    dirs = Directions(vecs.contiguous(), names, attr_names, [round(abs(float(v)), 4) for v in r],
                      effect=[round(float(v), 4) for v in effect.nan_to_num(0.0)])
    dirs.sliders = choose_sliders(dirs)
    return dirs


@torch.no_grad()
def direction_quality(net: nn.Module, dirs: Directions, *, num_samples: int = 1000, sweep_bases: int = 64,
                      seed: int = 1) -> list[dict]:
    """How well each direction moves its attribute, on latents other than those it was found with (``seed``):
    per direction, the effect (change per slider unit, in spreads of the attribute over ``num_samples`` samples)
    and r on every attribute, and its *selectivity*: the effect on its own attribute (the labelled one; for
    "boundary X", X) over the largest effect on any other attribute (> 1: it moves its attribute most)."""
    net.eval()
    g = torch.Generator().manual_seed(seed)
    C = num_classes(net)
    z = prior_latents(net, num_samples, g)
    labels = torch.arange(num_samples) % C if C else None
    digits, categories = is_digit_model(net), is_emoji_model(net) and not C
    spread = measure(decode(net, z, labels), digits=digits, categories=categories)
    zb, lb = z[:sweep_bases], None if labels is None else labels[:sweep_bases]
    stats = sweep_stats(net, dirs.vectors, zb, lb, torch.linspace(-2, 2, 5), digits, step_scale(net), categories)
    rows = []
    for i, found in enumerate(dirs.names):
        effect = {a: float(stats[a][1][i]) / float(attributes.offsets(a, spread[a].float()).std().clamp_min(1e-8))
                  for a in stats}
        own = found.removeprefix("boundary ") if found.startswith("boundary ") else dirs.attributes[i]
        other = max((abs(v), a) for a, v in effect.items() if a != own)
        mine = abs(effect.get(own, 0.0))
        rows.append({"direction": found, "label": dirs.attributes[i], "attribute": own, "slider": i in dirs.sliders,
                     "effect": round(effect.get(own, 0.0), 4), "r": round(float(stats[own][0][i]), 4) if own in stats
                     else 0.0, "runner_up": other[1], "runner_up_effect": round(other[0], 4),
                     "selectivity": round(mine / max(other[0], 1e-8), 3),
                     "effects": {a: round(v, 4) for a, v in effect.items()}})
    return rows


# ---- cache --------------------------------------------------------------------------------------------------
def weights_hash(path: str | Path) -> str:
    """Hash of a safetensors file's tensors (layout + bytes), not its metadata: rewriting a card or metrics
    (``eval --write``) keeps the key, new weights change it."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def cache_path(ckpt: str | Path) -> Path:
    """checkpoints/<name>.safetensors -> checkpoints/<name>.directions.json"""
    ckpt = Path(ckpt)
    return ckpt.with_name(ckpt.name.removesuffix(".safetensors") + ".directions.json")


def directions_for(net: nn.Module, ckpt: str | Path | None = None, **kw) -> Directions:
    """The cached basis next to ``ckpt`` when its key (weights hash + version) matches, else discover and
    write it (atomically). Without a checkpoint path, discover without caching."""
    if ckpt is None:
        return discover(net, **kw)
    key = f"v{VERSION}-{weights_hash(ckpt)}"
    path = cache_path(ckpt)
    if path.exists():
        try:
            d = json.loads(path.read_text())
            if d.get("version") == VERSION and d.get("key") == key:
                return Directions.from_json(d)
        except (ValueError, KeyError, OSError):
            pass  # unreadable cache: recompute
    dirs = discover(net, **kw)
    dirs.key = key
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(dirs.to_json()))
        tmp.replace(path)
    except OSError:
        pass  # read-only checkout: keep the in-memory basis
    return dirs


# ---- explorer: a model + its basis, one decode per slider update --------------------------------------------
class Explorer:
    """Seed + slider values -> image, for one model."""

    def __init__(self, net: nn.Module, dirs: Directions, name: str = "", classes: tuple[str, ...] = ()):
        self.net, self.dirs, self.name, self.classes = net.eval(), dirs, name, tuple(classes)
        self.slider_vectors = dirs.vectors[dirs.sliders] if dirs.sliders else dirs.vectors[:0]
        self.num_classes = num_classes(net)
        self.scale = step_scale(net)

    @property
    def num_sliders(self) -> int:
        return len(self.dirs.sliders)

    def class_names(self) -> tuple[str, ...]:
        """What each class of a conditional model is: the model's own class names (``classes``, e.g. "Flags · noto"),
        else emoji categories for a colour model with as many classes, else the class numbers ("0".."K-1", the
        digits of a digit model)."""
        names = self.classes or (category_names() if is_emoji_model(self.net) else ())
        return names if len(names) == self.num_classes else tuple(map(str, range(self.num_classes)))

    def describe(self) -> str:
        """Markdown: how the directions were found and a table of the sliders (label, method, effect)."""
        d = self.dirs
        rows = "\n".join(f"| {k + 1} | {d.label(i)} | {d.names[i]} | {d.effect[i]:.2f} |"
                         for k, i in enumerate(d.sliders))
        colour = self.net.config.channels == 3
        what = ("the shape on its white background: dominant hue (degrees), saturation, brightness, size (share of "
                "the image), roundness (4πA/P², 1 = a disc), or the emoji category the emoji net reads" if colour
                else "stroke thickness, slant, width, height, ink, or the digit the classifier reads")
        return ("Directions found once per model (GANSpace = PCA of early features, SeFa = first-layer weights, "
                "boundary = InterFaceGAN for a measured attribute); each is labelled by the attribute it changes "
                f"most over a sweep ({what}), *r* = correlation with the step, *effect* = change per slider unit "
                "in spreads of that attribute over samples.\n\n| slider | label | found by | effect |\n"
                "|---|---|---|---|\n" + rows)

    def base(self, start) -> torch.Tensor:
        """The (1, D) latent the sliders move from: a seed's, or a given latent (e.g. an inverted image's)."""
        if not torch.is_tensor(start):
            return seed_latent(self.net, start)
        z = start.detach().float().cpu().reshape(1, -1)
        if z.shape[1] != self.net.config.latent_dim:
            raise ValueError(f"this latent has {z.shape[1]} values; {self.name or 'the model'} takes "
                             f"{self.net.config.latent_dim}")
        return z

    def latent(self, start, values) -> torch.Tensor:
        """``start`` (a seed or a (1, D) latent) moved by the slider values."""
        v = torch.tensor([round(float(a), ROUND) for a in values][:self.num_sliders], dtype=torch.float32)
        v = torch.cat([v, torch.zeros(self.num_sliders - len(v))])
        return self.base(start) + self.scale * (v @ self.slider_vectors)

    def _labels(self, label, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        label = 0 if label is None else int(label)
        if not 0 <= label < self.num_classes:
            raise ValueError(f"class must be between 0 and {self.num_classes - 1}, got {label}")
        return torch.full((n,), label, dtype=torch.long)

    @torch.no_grad()
    def render(self, seed, values, label: int | None = None) -> torch.Tensor:
        """(1, C, H, W) in [0, 1]: one decoder forward pass from a seed or a (1, D) latent."""
        z = self.latent(seed, values)
        return to01(decode(self.net, z, self._labels(label, 1)))

    @torch.no_grad()
    def sweep(self, seed, values, index: int, steps: int = 7, span: float = SLIDER_SPAN,
              label: int | None = None) -> torch.Tensor:
        """(steps, C, H, W) in [0, 1]: slider ``index`` swept over [-span, span], the others as given."""
        if not 0 <= index < self.num_sliders:
            raise ValueError(f"slider index must be between 0 and {self.num_sliders - 1}, got {index}")
        base = self.latent(seed, values)
        cur = round(float(list(values)[index]), ROUND) if index < len(list(values)) else 0.0
        alphas = torch.linspace(-span, span, steps) - cur
        z = base + self.scale * alphas[:, None] * self.slider_vectors[index]
        return to01(decode(self.net, z, self._labels(label, steps)))


_explorers: dict[tuple, Explorer] = {}  # file_key -> Explorer
MAX_EXPLORERS = 24
_lock = threading.Lock()


def explorer(name_or_path: str) -> Explorer:
    """The Explorer for a registered model name or checkpoint path; basis cached on disk and in memory."""
    from . import registry

    path = registry.resolve(name_or_path)
    key = registry.file_key(path)
    with _lock:
        if key in _explorers:
            return _explorers[key]
        model = registry.load(name_or_path)
        if not hasattr(model.net, "decode"):
            raise ValueError(f"{name_or_path} ({model.family}) has no decoder to explore")
        ex = Explorer(model.net, directions_for(model.net, path, **DISCOVER_DEFAULTS), name_or_path, model.classes)
        _explorers[key] = ex
        while len(_explorers) > MAX_EXPLORERS:  # visitors' models come and go: keep the memory bounded
            _explorers.pop(next(iter(_explorers)))
    return ex


# ---- recipes ------------------------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    s = f"{round(float(v), ROUND):.{ROUND}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


MAX_LATENT = 4096  # values a recipe's latent may hold


def latent_text(z: torch.Tensor) -> str:
    """A latent -> base64 of its float32 little-endian bytes (exact: :func:`text_latent` gives it back)."""
    a = z.detach().float().cpu().contiguous().flatten().numpy().astype("<f4")
    return base64.b64encode(a.tobytes()).decode("ascii")


def text_latent(text: str) -> torch.Tensor:
    """Inverse of :func:`latent_text` -> (1, D) float32; ValueError for damaged or out-of-range text."""
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (ValueError, TypeError):
        raise ValueError("The recipe's latent is not valid base64.") from None
    if not raw or len(raw) % 4 or len(raw) > 4 * MAX_LATENT:
        raise ValueError(f"The recipe's latent must hold 1 to {MAX_LATENT} float32 values.")
    z = torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float32))[None]
    if not torch.isfinite(z).all() or z.abs().max() > 1e4:
        raise ValueError("The recipe's latent has values that are not finite or far outside the prior.")
    return z


def make_recipe(model: str, seed: int | None, values, label: int | None = None,
                latent: torch.Tensor | None = None) -> str:
    """Short shareable text: "dcgan-mnist:42:0.5,-1.25,0,..." (conditional: "cgan-mnist:42:c3:..."); from a given
    latent (an inverted image) instead of a seed: "vae-mnist:z=<base64 float32>:0.5,...", exact to the bit."""
    start = str(int(seed)) if latent is None else "z=" + latent_text(latent)
    parts = [model, start] + ([f"c{int(label)}"] if label is not None else [])
    return ":".join(parts + [",".join(_fmt(v) for v in values)])


def parse_recipe(text: str) -> dict:
    """Inverse of :func:`make_recipe` -> {"model", "seed", "label", "values", "latent"} (seed None and latent
    (1, D) for a latent recipe, latent None otherwise); ValueError on bad text."""
    parts = (text or "").strip().split(":")
    if len(parts) < 3:
        raise ValueError("A recipe looks like 'model:seed:v1,v2,...' (or 'model:seed:c3:v1,...' with a class).")
    label = None
    if len(parts) >= 4 and parts[-2].startswith("c") and parts[-2][1:].isdigit():
        label, parts = int(parts[-2][1:]), parts[:-2] + parts[-1:]
    model, seed, vals = ":".join(parts[:-2]), parts[-2], parts[-1]
    z = text_latent(seed[2:]) if seed.startswith("z=") else None
    try:
        seed = None if z is not None else int(seed)
        values = [float(v) for v in vals.split(",") if v.strip()] if vals.strip() else []
    except ValueError:
        raise ValueError(f"Bad recipe {text!r}: the seed must be an integer and the values numbers.") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError("Recipe values must be finite numbers.")
    return {"model": model, "seed": seed, "label": label, "values": values, "latent": z}
