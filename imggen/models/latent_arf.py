"""Adversarial random forest in a learned space ("latent forest"): the ARF of :mod:`imggen.models.arf` fitted to
an autoencoder's codes of the training images instead of their pixels, and decoded by that autoencoder.

Each leaf of the last forest is a box in code space; within it every coordinate gets its own one-dimensional
density (FORDE of Watson et al. 2023): a normal truncated to the leaf's bounds (default), a uniform over them, or
an untruncated normal. So

    p(z) = sum_l w_l prod_j p_lj(z_j),   w_l = share of the real codes in leaf l / trees

gives sampling (a leaf by weight, then each coordinate, then decode), an exact density in code space
(log-sum-exp over leaves) and exact conditional sampling given some coordinates (the leaf posterior given the
known ones, then the rest). The checkpoint holds the autoencoder (encoder and decoder) and the leaves; the
forest (sklearn) is used only while fitting, by :func:`fit_round`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..device import multinomial, rand
from .vae import AE, AEConfig, Encoder

LEAF_DENSITIES = ("truncnorm", "uniform", "normal")
AE_FIELDS = ("channels", "image_size", "latent_dim", "hidden", "fc_dim", "decoder", "latent_channels")
MIN_STD = 1e-3  # floor on a leaf's per-coordinate spread, as a share of the coordinate's range in the data


@dataclass
class LatentARFConfig(AEConfig):
    source: str = "ae-mnist"  # the shipped autoencoder (ae or vae) whose encoder and decoder it takes to train
    posterior: bool = False  # the encoder outputs (mean, log-variance), a VAE's: codes are the means
    trees: int = 5  # bench/arf: 5 x 4000 small leaves beat 10 x 2000 and 20 x 500 (fewer, larger leaves blur)
    max_leaves: int = 4000  # leaves per tree (best-first growth): the checkpoint holds trees x max_leaves x 4 x d
    min_leaf: int = 3  # real + synthetic codes a leaf must hold
    leaf_density: str = "truncnorm"  # per coordinate within a leaf: "truncnorm" | "uniform" | "normal"
    num_leaves: int = 0  # leaves of the fitted mixture (set by fitting; checkpoints hold them)


class LatentARF(AE):
    """An autoencoder whose codes come from an adversarial random forest: a mixture over the leaves' boxes."""

    family = "latentarf"
    full_batch = True  # the training loop hands it all the images at once: an epoch is one adversarial round

    def __init__(self, config: LatentARFConfig = LatentARFConfig()):
        if config.leaf_density not in LEAF_DENSITIES:
            raise ValueError(f"leaf_density must be one of {', '.join(LEAF_DENSITIES)}, not {config.leaf_density!r}")
        super().__init__(config)
        if config.posterior:
            self.encoder = Encoder(config, 2 * config.latent_dim)
        L, d = max(config.num_leaves, 1), config.latent_dim
        # an unfitted model: one leaf, the box [-3, 3]^d (z_mean / z_std: the mixture's moments, for Complete)
        self.register_buffer("leaf_weights", torch.ones(L) / L)
        self.register_buffer("leaf_lo", torch.full((L, d), -3.0))
        self.register_buffer("leaf_hi", torch.full((L, d), 3.0))
        self.register_buffer("leaf_mean", torch.zeros(L, d))
        self.register_buffer("leaf_std", torch.ones(L, d))

    # -- the autoencoder ----------------------------------------------------------------------------------
    def set_autoencoder(self, net: nn.Module) -> None:
        """Take a trained AE's or VAE's encoder and decoder (and their sizes); the leaves are reset."""
        fam = getattr(net, "family", None) or type(net).__name__.lower()
        if not isinstance(net, AE) or getattr(net.config, "num_classes", 0):
            raise ValueError(f"a latent forest needs an unconditional autoencoder (ae or vae), not {fam}")
        for k in AE_FIELDS:
            setattr(self.config, k, getattr(net.config, k))
        self.config.posterior = type(net) is not AE
        self.encoder, self.decoder = copy.deepcopy(net.encoder), copy.deepcopy(net.decoder)
        self.config.num_leaves = 0
        d = self.config.latent_dim
        self.set_leaves(torch.ones(1), torch.full((1, d), -3.0), torch.full((1, d), 3.0), torch.zeros(1, d),
                        torch.ones(1, d))
        if hasattr(net, "log_sigma"):  # a Gaussian decoder's learned scale
            self.log_sigma = copy.deepcopy(net.log_sigma)
        self.to(net.device)

    def encode(self, x, labels=None):
        z = self.encoder(x)
        if self.config.posterior:
            z = z.chunk(2, dim=1)[0]
        return z, torch.full_like(z, float("-inf"))  # the codes the forest models: deterministic

    @torch.no_grad()
    def codes(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """(N, latent_dim) codes of images in [-1, 1], on the CPU."""
        was = self.training
        self.eval()
        out = torch.cat([self.encode(b.to(self.device))[0].float().cpu() for b in x.split(batch_size)]) if len(x) \
            else torch.zeros(0, self.config.latent_dim)
        self.train(was)
        return out

    def loss(self, x, y=None, beta=1.0):
        raise NotImplementedError("a latent forest is fitted by its adversarial rounds (LatentARFTrainer), "
                                  "not by gradients")

    # -- the leaves --------------------------------------------------------------------------------------
    def set_leaves(self, weights, lo, hi, mean, std) -> None:
        """Install a fitted mixture: weights (L,), per-coordinate box bounds lo / hi and mean / std (L, d)."""
        d = self.config.latent_dim
        L = len(weights)
        if any(t.shape != (L, d) for t in (lo, hi, mean, std)) or weights.shape != (L,):
            raise ValueError(f"leaves need weights (L,) and bounds, means and spreads (L, {d}); got "
                             f"{tuple(weights.shape)}, {tuple(lo.shape)}, {tuple(hi.shape)}, {tuple(mean.shape)}, "
                             f"{tuple(std.shape)}")
        if not (hi > lo).all() or not (std > 0).all():
            raise ValueError("every leaf needs hi > lo and std > 0 in every coordinate")
        dev = self.leaf_weights.device
        for name, t in (("leaf_weights", weights / weights.sum()), ("leaf_lo", lo), ("leaf_hi", hi),
                        ("leaf_mean", mean), ("leaf_std", std)):
            setattr(self, name, t.float().to(dev))
        self.config.num_leaves = L
        w = self.leaf_weights[:, None]
        m1 = (w * self._moment(1)).sum(0)
        self.z_mean = m1
        self.z_std = ((w * self._moment(2)).sum(0) - m1 ** 2).clamp_min(1e-12).sqrt()

    def _moment(self, k: int) -> torch.Tensor:
        """(L, d) E[z^k] per leaf and coordinate (k = 1, 2)."""
        mu, s, lo, hi = self.leaf_mean, self.leaf_std, self.leaf_lo, self.leaf_hi
        kind = self.config.leaf_density
        if kind == "uniform":
            return (lo + hi) / 2 if k == 1 else (lo ** 2 + lo * hi + hi ** 2) / 3
        if kind == "normal":
            return mu if k == 1 else mu ** 2 + s ** 2
        a, b = (lo - mu) / s, (hi - mu) / s
        Z = _Phi(b) - _Phi(a)
        Z = Z.clamp_min(1e-30)
        pa, pb = _phi(a), _phi(b)
        m = mu + s * (pa - pb) / Z
        if k == 1:
            return m
        # Var = s^2 [1 + (a phi(a) - b phi(b)) / Z - ((phi(a) - phi(b)) / Z)^2]
        at = torch.where(torch.isfinite(a), a * pa, torch.zeros_like(a))
        bt = torch.where(torch.isfinite(b), b * pb, torch.zeros_like(b))
        var = s ** 2 * (1 + (at - bt) / Z - ((pa - pb) / Z) ** 2)
        return var.clamp_min(0) + m ** 2

    def _log_terms(self, z: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L): log w_l + log p(z_known | leaf l) (every coordinate known by default). The per-coordinate
        terms are summed by matrix products: a normal's square expands into z^2, z and constant parts."""
        k = torch.ones_like(z) if known is None else known.to(z.dtype)
        lo, hi, mu, s = self.leaf_lo, self.leaf_hi, self.leaf_mean, self.leaf_std
        kind = self.config.leaf_density
        if kind == "uniform":
            out = k @ -(hi - lo).log().T
        else:
            a, b = 1 / s ** 2, mu / s ** 2
            c = -0.5 * mu ** 2 / s ** 2 - s.log() - 0.5 * math.log(2 * math.pi)
            if kind == "truncnorm":
                c = c - _log_mass((lo - mu) / s, (hi - mu) / s)
            out = -0.5 * (k * z ** 2) @ a.T + (k * z) @ b.T + k @ c.T
        if kind != "normal":  # zero density outside a leaf's box in any known coordinate
            outside = torch.zeros(out.shape, dtype=torch.bool, device=z.device)
            for j in range(z.shape[1]):
                kj = k[:, j:j + 1].bool()
                outside |= kj & ((z[:, j:j + 1] < lo[:, j]) | (z[:, j:j + 1] > hi[:, j]))
            out = out.masked_fill(outside, float("-inf"))
        return self.leaf_weights.log() + out

    @torch.no_grad()
    def log_density(self, z: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """(B,) exact log p(z) of codes (B, latent_dim) under the forest's mixture, nats (-inf outside its boxes)."""
        z = z.to(self.leaf_weights.device).float()
        batch_size = batch_size or max(1, 2 ** 24 // len(self.leaf_weights))
        return torch.cat([self._log_terms(b).logsumexp(1) for b in z.split(batch_size)]) if len(z) \
            else z.new_zeros(0)

    def _draw(self, leaf: torch.Tensor, generator) -> torch.Tensor:
        """(n, d) coordinates drawn within the given leaves (inverse CDF of each one-dimensional density)."""
        lo, hi, mu, s = (t[leaf] for t in (self.leaf_lo, self.leaf_hi, self.leaf_mean, self.leaf_std))
        u = rand(*lo.shape, generator=generator, device=lo.device)
        kind = self.config.leaf_density
        if kind == "uniform":
            return lo + u * (hi - lo)
        if kind == "normal":
            return mu + s * torch.special.ndtri(u.clamp(1e-7, 1 - 1e-7))
        ca, cb = _Phi((lo - mu) / s), _Phi((hi - mu) / s)
        p = (ca + u * (cb - ca)).clamp(1e-7, 1 - 1e-7)
        return torch.minimum(torch.maximum(mu + s * torch.special.ndtri(p), lo), hi)

    @torch.no_grad()
    def sample_codes(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) codes: a leaf by weight, then each coordinate from its density in that leaf."""
        return self._draw(multinomial(self.leaf_weights, n, generator, self.leaf_weights.device), generator)

    @torch.no_grad()
    def sample(self, n, *, generator=None, labels=None):
        """(n, C, H, W) in [-1, 1]: codes from the forest's mixture, decoded."""
        return self.decode(self.sample_codes(n, generator=generator).to(self.device))

    @torch.no_grad()
    def complete_codes(self, z: torch.Tensor, known: torch.Tensor, n: int = 1, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Exact conditional sampling: z (B, d) with ``known`` (B, d) bool/0-1 marking the fixed coordinates.
        For each row a leaf is drawn from its posterior given the known coordinates, then the others from that
        leaf; known ones are kept. Returns (B, n, d). ValueError when no leaf holds a row's known values."""
        dev = self.leaf_weights.device
        z, known = z.to(dev).float(), known.to(dev).float()
        logp = self._log_terms(z, known)
        if not torch.isfinite(logp.max(1).values).all():
            raise ValueError("the known coordinates lie outside every leaf of the forest: no conditional to draw")
        post = logp.softmax(1)
        leaf = torch.stack([multinomial(post[i], n, generator, dev) for i in range(len(z))])  # (B, n)
        drawn = self._draw(leaf.flatten(), generator).view(len(z), n, -1)
        k = known[:, None]
        return z[:, None] * k + drawn * (1 - k)

    @torch.no_grad()
    def eval_metrics(self, test_images, batch_size: int = 500) -> dict:
        """Reconstruction error (the autoencoder's) and the exact log density of the test digits' codes."""
        out = super().eval_metrics(test_images, batch_size)
        ll = self.log_density(self.codes(test_images)).cpu()
        finite = torch.isfinite(ll)
        out.update(code_nll=-ll[finite].mean().item() if finite.any() else float("nan"),
                   code_outside=1 - finite.float().mean().item())
        return out


# ---- one-dimensional normal helpers -------------------------------------------------------------------------
def _Phi(x: torch.Tensor) -> torch.Tensor:
    return torch.special.ndtr(x)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(x), torch.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi), torch.zeros_like(x))


def _log_mass(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log (Phi(b) - Phi(a)), stable in both tails."""
    upper = a > 0  # both in the upper tail: use the mirrored interval
    a2, b2 = torch.where(upper, -b, a), torch.where(upper, -a, b)
    lb, la = torch.special.log_ndtr(b2), torch.special.log_ndtr(a2)
    return lb + torch.log1p(-torch.exp((la - lb).clamp(max=-1e-12)))


# ---- fitting ------------------------------------------------------------------------------------------------
def leaf_boxes(tree, lo0: np.ndarray, hi0: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """node id -> (lo, hi) box of every leaf of a fitted sklearn tree, inside the outer box [lo0, hi0]."""
    t = tree.tree_
    out, stack = {}, [(0, lo0.copy(), hi0.copy())]
    while stack:
        node, lo, hi = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # a leaf
            out[node] = (lo, hi)
            continue
        f, thr = t.feature[node], t.threshold[node]
        hl, lr = hi.copy(), lo.copy()
        hl[f], lr[f] = min(hi[f], thr), max(lo[f], thr)
        stack += [(left, lo, hl), (right, lr, hi)]
    return out


def forde(forest, codes: np.ndarray, lo0: np.ndarray, hi0: np.ndarray, *, min_std: np.ndarray) -> tuple:
    """The forest's leaves as a mixture over ``codes`` (N, d) (the real ones): (weights, lo, hi, mean, std).
    Each tree's leaves share 1/T of the weight by their counts; a leaf's per-coordinate mean and spread are its
    codes' (spread at least ``min_std``, and at most its box's width for a single code)."""
    N = len(codes)
    leaves = forest.apply(codes)
    W, LO, HI, MU, SD = [], [], [], [], []
    for t, est in enumerate(forest.estimators_):
        boxes = leaf_boxes(est, lo0, hi0)
        ids, inv, counts = np.unique(leaves[:, t], return_inverse=True, return_counts=True)
        s1 = np.zeros((len(ids), codes.shape[1]))
        s2 = np.zeros_like(s1)
        np.add.at(s1, inv, codes)
        np.add.at(s2, inv, codes ** 2)
        mean = s1 / counts[:, None]
        var = np.maximum(s2 / counts[:, None] - mean ** 2, 0) * (counts / np.maximum(counts - 1, 1))[:, None]
        lo = np.stack([boxes[i][0] for i in ids])
        hi = np.stack([boxes[i][1] for i in ids])
        std = np.where(counts[:, None] > 1, np.sqrt(var), (hi - lo) / math.sqrt(12))
        W.append(counts / (N * len(forest.estimators_)))
        LO.append(lo), HI.append(hi), MU.append(mean), SD.append(np.maximum(std, min_std))
    return tuple(torch.from_numpy(np.concatenate(a)).float() for a in (W, LO, HI, MU, SD))


def outer_box(codes: np.ndarray, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The data's range in each coordinate, widened by ``margin`` of it on both sides (the forest's outer box)."""
    lo, hi = codes.min(0), codes.max(0)
    pad = margin * (hi - lo) + 1e-6
    return lo - pad, hi + pad


def fit_round(model: LatentARF, codes: np.ndarray, synthetic: np.ndarray, *, seed: int, threads: int = 1) -> float:
    """One adversarial round: a forest tells ``codes`` (real) from ``synthetic``; its leaves, with the real codes'
    statistics, become the model's mixture. Returns the forest's out-of-bag accuracy (0.5: cannot tell)."""
    import warnings

    from sklearn.ensemble import RandomForestClassifier

    c = model.config
    N = len(codes)
    X = np.concatenate([codes, synthetic]).astype(np.float32)
    rf = RandomForestClassifier(c.trees, max_leaf_nodes=c.max_leaves, min_samples_leaf=c.min_leaf,
                                max_features="sqrt", oob_score=True, n_jobs=threads, random_state=seed)
    with warnings.catch_warnings():  # few trees leave some rows without an out-of-bag vote: they are skipped
        warnings.simplefilter("ignore", UserWarning)
        rf.fit(X, np.r_[np.ones(N), np.zeros(len(synthetic))])
    lo0, hi0 = outer_box(codes)
    model.set_leaves(*forde(rf, codes.astype(np.float32), lo0, hi0, min_std=MIN_STD * (hi0 - lo0)))
    return float(rf.oob_score_)


def marginal_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each column permuted on its own: the product of the marginals (the ARF's first synthetic set)."""
    return np.stack([rng.permutation(codes[:, j]) for j in range(codes.shape[1])], 1)
