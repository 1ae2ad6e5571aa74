"""GANs: DCGAN (Radford et al. 2016) and a BigGAN-style class-conditional GAN (Brock et al. 2019: conditional
BatchNorm in G, projection discriminator of Miyato & Koyama 2018, spectral norm, truncation trick).

Each model is one nn.Module holding ``.G`` and ``.D`` so a checkpoint stores both; ``D`` also serves
real-vs-fake detection (``discriminate``) and GAN inversion. Losses live in ``imggen/losses.py``, the
trainer (optimisers, EMA, the phase schedule) in ``imggen/training/trainers.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from ..device import randint, randn
from .mixture import MixturePrior
from .ranking import best_in_runs, check_candidates

REFINE_STEP_SIZE = 0.01  # default step of discriminator-guided latent refinement (bench/refine.py)
MAX_REFINE_STEPS = 100  # shipped GANs: confidence levels off by ~20 steps, FD keeps rising (bench/refine.py)
STEEPNESS_PROBES = 16  # orthonormal latent directions per estimate (4 rank latents too noisily: bench/jacobian.py)
STEEPNESS_EPS = 0.05  # finite-difference step along each probe direction
PRIOR_PCA_SAMPLES = 20_000  # fit_prior: D features of this many samples set the PCA basis for clustering


def _layout(image_size: int) -> tuple[int, int]:
    """(start resolution, number of 2x up/down-samplings): 28 -> 7·2², 32 -> 4·2³, 64 -> 4·2⁴."""
    if image_size not in (28, 32, 64):
        raise ValueError(f"image_size must be 28, 32 or 64, not {image_size}")
    s0 = 7 if image_size == 28 else 4
    return s0, int(math.log2(image_size // s0))


def _sn(module: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(module) if on else module


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """ProGAN minibatch standard deviation: append one channel with the mean feature std over groups."""
    B, C, H, W = x.shape
    G = min(group, B)
    while B % G:
        G -= 1
    y = x.float().view(G, B // G, C, H, W)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean([1, 2, 3])  # (B/G,)
    y = y.view(1, B // G, 1, 1, 1).expand(G, -1, 1, H, W).reshape(B, 1, H, W)
    return torch.cat([x, y.to(x.dtype)], 1)


def sampling_passes(n: int, *, keep: float = 1.0, refine_steps: int = 0, candidates: int = 1) -> int:
    """About how many single-image network passes a GAN sampler spends on ``n`` samples with these settings:
    ceil(n·k / keep) latents through G (each 1 + STEEPNESS_PROBES passes when keep < 1, for the steepness), and
    G, D and a backward pass per refinement step for each of the n·k kept."""
    k = candidates
    return math.ceil(n * k / keep - 1e-9) * (1 + STEEPNESS_PROBES * (keep < 1)) + 3 * refine_steps * n * k


# ---- configs ------------------------------------------------------------------------------------------------
@dataclass
class DCGANConfig:
    channels: int = 1  # image channels (1 grayscale, 3 RGB)
    image_size: int = 28  # 28 | 32 | 64 pixels
    latent_dim: int = 64  # size of the noise vector z ~ N(0, I)
    g_width: int = 64  # generator channels at the last hidden layer (doubled per lower resolution)
    d_width: int = 64  # discriminator channels after the first conv (doubled per lower resolution)
    upsample: str = "conv_transpose"  # G upsampling: "conv_transpose" 4x4 s2 (Radford) | "nearest" + 3x3 conv
    g_norm: str = "batch"  # generator normalisation: "batch" | "none" (collapses easily: Arjovsky et al. 2017)
    d_norm: str = "none"  # discriminator normalisation: "batch" (Radford et al.) | "none"
    use_spectral_norm: bool = True  # spectral norm on every D layer (Miyato et al. 2018)
    use_minibatch_std: bool = False  # minibatch-std channel before D's head (ProGAN), against mode collapse
    blocks: int = 0  # extra 3x3 conv layers per resolution in G and D (0 = the classic DCGAN depth)
    prior_components: int = 0  # latent prior: 0 = N(0, I); K = a K-component Gaussian mixture (DCGAN.fit_prior)


@dataclass
class CGANConfig:
    channels: int = 1
    image_size: int = 28
    latent_dim: int = 64
    num_classes: int = 10  # classes for conditional BN / projection (0 = unconditional)
    g_width: int = 64
    d_width: int = 64
    upsample: str = "nearest"  # nearest + 3x3 conv: no checkerboard artefacts (Odena et al. 2016)
    g_norm: str = "batch"  # "batch" (class-conditional BatchNorm) | "none"
    d_norm: str = "none"
    use_spectral_norm: bool = True
    use_minibatch_std: bool = False
    blocks: int = 0


# ---- blocks -------------------------------------------------------------------------------------------------
class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias come from the class (BigGAN); soft labels (B, K) mix the embeddings."""

    def __init__(self, channels: int, num_classes: int, norm: bool = True):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0) if norm else nn.Identity()
        self.num_classes = num_classes
        if num_classes:
            self.gain = nn.Embedding(num_classes, channels)
            self.bias = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if not self.num_classes:
            return h
        g, b = (y @ self.gain.weight, y @ self.bias.weight) if y.is_floating_point() else (self.gain(y), self.bias(y))
        return h * g[:, :, None, None] + b[:, :, None, None]


def _up(cin: int, cout: int, kind: str, bias: bool) -> nn.Module:
    if kind == "conv_transpose":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=bias))


class Generator(nn.Module):
    """z (B, latent_dim) -> linear to s0×s0 -> ([BN, ReLU, 3x3 conv] × blocks, [BN, ReLU, 2x upsample]) × k
    (-> [BN, ReLU, 3x3 conv] to C when blocks) -> tanh image (B, C, H, W)."""

    def __init__(self, channels: int, image_size: int, latent_dim: int, width: int, num_classes: int = 0,
                 upsample: str = "conv_transpose", norm: str = "batch", blocks: int = 0):
        super().__init__()
        if upsample not in ("conv_transpose", "nearest"):
            raise ValueError(f"upsample must be 'conv_transpose' or 'nearest', not {upsample!r}")
        if norm not in ("batch", "none"):
            raise ValueError(f"g_norm must be 'batch' or 'none', not {norm!r}")
        self.s0, k = _layout(image_size)
        # e.g. 28 px: 128, 64, C (blocks: 128, 64, width/2, then a 3x3 conv to C at full resolution)
        chans = [width * 2 ** (k - 1 - i) for i in range(k)] + [max(width // 2, 8) if blocks else channels]
        units = []  # (in, out, op) applied as op(ReLU(norm(h)))
        for a, b in zip(chans[:-1], chans[1:]):
            units += [(a, a, "conv")] * blocks + [(a, b, "up")]
        if blocks:
            units += [(chans[-1], chans[-1], "conv")] * (blocks - 1) + [(chans[-1], channels, "conv")]
        self.num_classes = num_classes
        self.fc = nn.Linear(latent_dim, chans[0] * self.s0 ** 2)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(a, num_classes, norm == "batch") for a, _, _ in units)
        self.ups = nn.ModuleList(_up(a, b, upsample, bias=b == channels) if op == "up"
                                 else nn.Conv2d(a, b, 3, 1, 1, bias=b == channels) for a, b, op in units)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, self.s0, self.s0)  # (B, C0, s0, s0)
        for norm, up in zip(self.norms, self.ups):
            h = up(F.relu(norm(h, labels)))
        return torch.tanh(h)


class Discriminator(nn.Module):
    """image -> ([Conv 4x4 s2, (BN), LeakyReLU], [Conv 3x3, LeakyReLU] × blocks) × k -> (minibatch std)
    -> linear logit (+ class projection)."""

    def __init__(self, channels: int, image_size: int, width: int, num_classes: int = 0, norm: str = "none",
                 use_sn: bool = True, use_mbstd: bool = False, blocks: int = 0):
        super().__init__()
        if norm not in ("batch", "none"):
            raise ValueError(f"d_norm must be 'batch' or 'none', not {norm!r}")
        s0, k = _layout(image_size)
        chans = [channels] + [width * 2 ** i for i in range(k)]  # e.g. 28 px: C, 64, 128
        layers = []
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            layers.append(_sn(nn.Conv2d(a, b, 4, 2, 1), use_sn))
            if norm == "batch" and i > 0:  # Radford et al.: no BN on D's input layer
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2))
            for _ in range(blocks):  # extra 3x3 convs at this resolution
                layers += [_sn(nn.Conv2d(b, b, 3, 1, 1), use_sn), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.use_mbstd = use_mbstd
        self.fc = _sn(nn.Linear((chans[-1] + use_mbstd) * s0 * s0, 1), use_sn)
        self.num_classes = num_classes
        if num_classes:
            self.embed = _sn(nn.Embedding(num_classes, chans[-1]), use_sn)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, *, alone: bool = False,
                class_logits: bool = False):
        """(B,) logits; ``alone``: the minibatch-std channel (a group's statistic, which only the linear head reads)
        set to 0, so each image's score no longer depends on the others in its batch (ranking candidates);
        ``class_logits``: also the projection term for every class (B, K), D read as a classifier."""
        h = self.body(x)  # (B, C_k, s0, s0)
        if self.use_mbstd:
            feats = torch.cat([h, h.new_zeros(h.shape[0], 1, *h.shape[2:])], 1) if alone else minibatch_std(h)
        else:
            feats = h
        out = self.fc(feats.flatten(1)).squeeze(1)  # (B,)
        if class_logits and not self.num_classes:
            raise ValueError("class logits need a conditional discriminator (num_classes > 0)")
        if not self.num_classes or (labels is None and not class_logits):
            return out
        w, pooled = self.embed.weight, h.sum([2, 3])  # one read: spectral norm's power iteration runs once
        if labels is not None:
            e = labels @ w if labels.is_floating_point() else w[labels]
            out = out + (e * pooled).sum(1)  # projection: <embed(y), pooled features>
        return (out, pooled @ w.T) if class_logits else out


# ---- models -------------------------------------------------------------------------------------------------
class _GAN(nn.Module):
    """Shared surface of both GANs: sample/decode/discriminate (G and D differ by config)."""

    family = ""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        ncls = getattr(c, "num_classes", 0)
        self.G = Generator(c.channels, c.image_size, c.latent_dim, c.g_width, ncls, c.upsample, c.g_norm, c.blocks)
        self.D = Discriminator(c.channels, c.image_size, c.d_width, ncls, c.d_norm, c.use_spectral_norm,
                               c.use_minibatch_std, c.blocks)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        return getattr(self.config, "num_classes", 0)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def latents(self, n: int, *, generator: torch.Generator | None = None, truncation: float | None = 1.0):
        """z ~ N(0, I) with the truncation trick: entries with |z| > 2·truncation are redrawn (BigGAN);
        truncation 1.0 is the usual [-2, 2] truncated normal, smaller trades diversity for fidelity, None = off."""
        z = randn(n, self.latent_dim, generator=generator, device=self.device)
        if truncation is None:
            return z
        if truncation <= 0:
            raise ValueError(f"truncation must be > 0 (or None for none), not {truncation}")
        bound = 2.0 * truncation
        for _ in range(100):
            bad = z.abs() > bound
            if not bad.any():
                break
            z = torch.where(bad, randn(*z.shape, generator=generator, device=self.device), z)
        return z.clamp(-bound, bound)

    def _labels(self, n: int, labels, generator: torch.Generator | None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if labels is None:
            return randint(self.num_classes, (n,), generator=generator, device=self.device)
        y = torch.as_tensor(labels, dtype=torch.long, device=self.device).flatten()
        if y.numel() == 0:
            raise ValueError("labels must not be empty")
        if y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}, got {y.tolist()[:10]}")
        return y.repeat(math.ceil(n / y.numel()))[:n]  # cycle through the requested classes

    def _soft_labels(self, labels, n: int) -> torch.Tensor | None:
        """decode/discriminate labels: ints (B,), soft (B, K), or None = uniform mixture of all classes."""
        if not self.num_classes:
            return None
        if labels is None:
            return torch.full((n, self.num_classes), 1 / self.num_classes, device=self.device)
        y = torch.as_tensor(labels, device=self.device)
        return y.float() if y.is_floating_point() else y.long()

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, labels=None,
               truncation: float | None = 1.0, refine_steps: int = 0,
               refine_step_size: float = REFINE_STEP_SIZE, candidates: int = 1) -> torch.Tensor:
        """(n, C, H, W) in [-1, 1]; conditional models cycle through ``labels`` (random when None);
        ``refine_steps`` > 0 moves each latent toward what D finds real first (:meth:`refine`); ``candidates`` > 1
        draws that many images per sample and keeps the one D scores highest (:meth:`best_of`)."""
        k = check_candidates(candidates)
        z = self.latents(n * k, generator=generator, truncation=truncation)
        y = self._labels(n, labels, generator)
        return self._draw(z, None if y is None else y.repeat_interleave(k), k, refine_steps, refine_step_size)

    @torch.no_grad()
    def best_of(self, make, z: torch.Tensor, labels: torch.Tensor | None, k: int, chunk: int = 1024) -> torch.Tensor:
        """``make(z, labels)`` -> images; of each run of ``k`` consecutive latents, the image D scores highest
        (``k`` = 1: ``make(z, labels)`` as it is). D-ranked candidates, the discriminator's cheap cousin of
        rejection sampling (Azadi et al. 2019): a conditional D scores each image as its asked class, so the kept
        samples follow their class more closely, at some cost in FD (bench/results/candidates.md). Made and
        scored ``chunk`` latents at a time; D in eval mode and each image scored alone (:class:`Discriminator`),
        so a pick does not depend on the rest of the batch."""
        if k == 1:
            return make(z, labels)
        out, step, was = [], k * max(1, chunk // k), self.D.training
        self.D.eval()
        try:
            for i in range(0, len(z), step):
                yb = None if labels is None else labels[i:i + step]
                x = make(z[i:i + step], yb)
                out.append(x[best_in_runs(self.D(x, yb, alone=True).flatten(), k)])
        finally:
            self.D.train(was)
        return torch.cat(out)

    def _draw(self, z: torch.Tensor, y: torch.Tensor | None, k: int, refine_steps: int,
              step_size: float) -> torch.Tensor:
        """The last stage of the DCGAN and CGAN samplers: G(z, y) after ``refine_steps`` of :meth:`refine` (none when 0), the
        best of each ``k`` latents by D (:meth:`best_of`)."""
        def make(zb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
            if refine_steps:
                zb = self.refine(zb, yb, steps=refine_steps, step_size=step_size)
            return self.G(zb, yb)
        return self.best_of(make, z, y, k)

    def refine(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, steps: int = 10,
               step_size: float = REFINE_STEP_SIZE, batch_size: int = 500) -> torch.Tensor:
        """Discriminator-guided latent refinement: ``steps`` of gradient descent z -= step_size/2 * grad E(z) on
        E(z) = |z|^2/2 - D(G(z)), the latent energy of DDLS (Che et al. 2020, "Your GAN is secretly an
        energy-based model") without its Langevin noise. Samples move toward what D finds real while the prior
        term keeps z typical: fewer unrecognisable digits, some diversity lost (measured in bench/refine.py)."""
        steps = int(steps)
        if not 0 <= steps <= MAX_REFINE_STEPS:
            raise ValueError(f"refine steps must be between 0 and {MAX_REFINE_STEPS}, not {steps}")
        if not 0 < step_size <= 1:
            raise ValueError(f"refine step size must be in (0, 1], not {step_size}")
        out = []
        with torch.enable_grad():
            for i in range(0, len(z), batch_size):
                zb, yb = z[i:i + batch_size].detach(), None if labels is None else labels[i:i + batch_size]
                for _ in range(steps):
                    zb.requires_grad_(True)
                    energy = 0.5 * zb.pow(2).sum(1) - self.D(self.G(zb, yb), yb).flatten()
                    grad, = torch.autograd.grad(energy.sum(), zb)
                    zb = (zb - 0.5 * step_size * grad).detach()
                out.append(zb)
        return torch.cat(out) if out else z

    @torch.no_grad()
    def steepness(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, probes: int | None = None,
                  eps: float = STEEPNESS_EPS, generator: torch.Generator | None = None,
                  batch_size: int = 500) -> torch.Tensor:
        """(B,) how fast the image changes around each latent, relative to the image itself: the mean over
        ``probes`` random orthonormal directions v of |G(z + eps·v) - G(z)|² / (eps·|x|)², x = G(z) in [0, 1]
        (finite differences of a Hutchinson estimate of |J|_F² / |x|²). A continuous G must cross the gaps
        between digit classes somewhere; it crosses them where it is steep (Tanielian et al. 2020, "Learning
        disconnected manifolds: a no GAN's land"), so the steepest latents give the ambiguous samples.
        ``probes`` defaults to STEEPNESS_PROBES (at most the latent size)."""
        probes = min(STEEPNESS_PROBES, self.latent_dim) if probes is None else probes
        if not 1 <= probes <= self.latent_dim:
            raise ValueError(f"probes must be between 1 and the latent size {self.latent_dim}, not {probes}")
        v = torch.linalg.qr(randn(len(z), self.latent_dim, probes, generator=generator, device=self.device))[0]
        out = []
        for i in range(0, len(z), batch_size):
            zb, vb = z[i:i + batch_size], v[i:i + batch_size]
            yb = None if labels is None else labels[i:i + batch_size]
            x = self.G(zb, yb)
            d = sum((self.G(zb + eps * vb[:, :, k], yb) - x).flatten(1).pow(2).sum(1) for k in range(probes))
            out.append(d / probes / (eps ** 2 * ((x + 1) / 2).flatten(1).pow(2).sum(1).clamp_min(1e-6)))
        return torch.cat(out) if out else z.new_zeros(0)

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """The generator: latent (B, latent_dim) -> images in [-1, 1] (differentiable, for inversion)."""
        return self.G(z, self._soft_labels(labels, len(z)))

    def discriminate(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Real-vs-fake logits (B,). Conditional D without labels: the most real-looking class (max over classes)."""
        if self.num_classes and labels is None:
            B = x.shape[0]
            ys = torch.arange(self.num_classes, device=x.device).repeat_interleave(B)
            return self.D(x.repeat(self.num_classes, 1, 1, 1), ys).view(self.num_classes, B).max(0).values
        return self.D(x, self._soft_labels(labels, x.shape[0]) if self.num_classes else None)


class DCGAN(MixturePrior, _GAN):
    """Unconditional DCGAN (Radford et al. 2016): noise → image; spectral norm, hinge loss and EMA of G by default."""

    family = "dcgan"

    def __init__(self, config: DCGANConfig = DCGANConfig()):
        super().__init__(config)
        self._prior_placeholders()

    def latents(self, n: int, *, generator: torch.Generator | None = None, truncation: float | None = 1.0):
        """As :meth:`_GAN.latents` for N(0, I); with a mixture prior, a component k (by weight) per latent and
        z = mean_k + L_k e, where e is that (truncated) standard noise."""
        return self.prior_transform(super().latents(n, generator=generator, truncation=truncation), generator)

    @torch.no_grad()
    def fit_prior(self, components: int, samples: int = 100_000, *, seed: int = 0, features: int = 64,
                  batch_size: int = 1000, progress=None) -> dict:
        """Replace N(0, I) by a Gaussian mixture fitted to this trained G: draw ``samples`` latents, cluster the
        images they make by D's features (PCA to ``features`` dims, k-means), and fit one Gaussian to the
        latents of each cluster — DeLiGAN's mixture prior (Gurumurthy et al. 2017), fitted after training.
        Latents between clusters, where G draws its ambiguous digits, lose mass. No labels or classifier are
        used. ``progress(done, total)`` is called per batch. Returns what the card records."""
        from sklearn.cluster import KMeans

        d = self.config.latent_dim
        if not 2 <= components <= samples // (2 * d):
            raise ValueError(f"components must be between 2 and samples / {2 * d} = {samples // (2 * d)} (each "
                             f"Gaussian needs at least {2 * d} latents), not {components}")
        was_training = self.training
        self.eval()
        g = torch.Generator(device=self.device).manual_seed(seed)
        z = randn(samples, d, generator=g, device=self.device)
        starts = range(0, samples, batch_size)

        def feats(i: int) -> torch.Tensor:  # D's features of one batch's images
            h = self.D.body(self.G(z[i:i + batch_size])).flatten(1).float().cpu()
            if progress:
                progress(min(i + batch_size, samples), samples)
            return h

        # the PCA basis comes from the first batches; the rest are projected one at a time (D's full features of
        # 1e5 latents would take gigabytes)
        first = -(-min(samples, PRIOR_PCA_SAMPLES) // batch_size)
        h = torch.cat([feats(i) for i in starts[:first]])
        q = min(features, h.shape[1])
        with torch.random.fork_rng(devices=[]):  # pca_lowrank's random projections: seeded, isolated
            torch.manual_seed(seed)
            mean, V = h.mean(0), torch.pca_lowrank(h, q=q, center=True, niter=4)[2]
        f = torch.cat([(h - mean) @ V] + [(feats(i) - mean) @ V for i in starts[first:]]).numpy()
        assign = torch.from_numpy(KMeans(components, n_init=1, random_state=seed).fit_predict(f))
        z = z.cpu()
        members = [z[assign == k] for k in range(components)]
        members = [m for m in members if len(m) >= 2 * d]  # enough latents for a covariance
        weights = torch.tensor([len(m) for m in members], dtype=torch.float32)
        means = torch.stack([m.mean(0) for m in members])
        tril = torch.stack([torch.linalg.cholesky(torch.cov(m.T) + 1e-4 * torch.eye(d)) for m in members])
        self.set_prior(weights, means, tril)
        self.train(was_training)
        return {"components": len(members), "samples": samples, "seed": seed, "features": q,
                "dropped_small_clusters": components - len(members)}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, labels=None,
               truncation: float | None = 1.0, refine_steps: int = 0, refine_step_size: float = REFINE_STEP_SIZE,
               keep: float = 1.0, candidates: int = 1) -> torch.Tensor:
        """As :meth:`_GAN.sample`, plus Jacobian-based truncation: ``keep`` < 1 draws ceil(n·k / keep) latents
        (k = ``candidates``) and keeps (in drawing order) the n·k where G is least steep (:meth:`steepness`),
        dropping the latents that fall between two digits, before D picks the best of each k. ``keep=1`` draws
        exactly what the plain sampler draws."""
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], not {keep}")
        k = check_candidates(candidates)
        m = math.ceil(n * k / keep - 1e-9)
        z = self.latents(m, generator=generator, truncation=truncation)
        if m > n * k:
            z = z[self.steepness(z, generator=generator).argsort(stable=True)[:n * k].sort().values]
        return self._draw(z, None, k, refine_steps, refine_step_size)


class CGAN(_GAN):
    """Class-conditional GAN, BigGAN-style: conditional BatchNorm in G, projection D, truncation at sampling."""

    family = "cgan"

    def __init__(self, config: CGANConfig = CGANConfig()):
        super().__init__(config)

    def split_classes(self, factor: int) -> "CGAN":
        """A new CGAN with ``factor`` classes for each of this one's (class ``c`` becomes ``c * factor`` ...
        ``c * factor + factor - 1``), each starting from ``c``'s embeddings and every other weight copied: the
        warm start of a finer labelling (emoji categories -> category and style). G draws each new class as its
        old one; D scores a category's new classes alike, though spectral norm rescales the duplicated embedding
        (its projection term starts smaller, about 1/factor) until training moves it."""
        if factor < 1 or not self.num_classes:
            raise ValueError("split_classes needs a conditional model and a factor >= 1")
        new = CGAN(replace(self.config, num_classes=self.num_classes * factor))
        per_class = tuple(f"{name}." for name, m in self.named_modules()
                          if isinstance(m, nn.Embedding) and m.num_embeddings == self.num_classes)
        shapes = {k: v.shape for k, v in new.state_dict().items()}
        new.load_state_dict({k: v.repeat_interleave(factor, 0) if k.startswith(per_class) and v.shape != shapes[k]
                             else v for k, v in self.state_dict().items()})
        return new
