"""Autoencoders: deterministic AE, VAE (Kingma & Welling 2014), conditional VAE (Sohn et al. 2015) and VAE-GAN
(Larsen et al. 2016), with the importance-weighted bound of Burda et al. 2015 for held-out log-likelihood.

Images are (B, C, H, W) in [-1, 1]. The Bernoulli decoder models intensities rescaled to [0, 1] (cross-entropy
on grey levels, as Kingma & Welling did for MNIST); the Gaussian decoder models [-1, 1] values with a learned
per-channel scale. Log-likelihoods are in nats per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import randint, randn
from ..losses import gaussian_kl, log_normal, recon_nll
from .mixture import MixturePrior

PRIORS = ("fitted", "normal")  # the VAEs' sampling priors: the fitted mixture (when there is one) or N(0, I)
PRIOR_MAX_BYTES = 16 * 2 ** 20  # fit_prior: the fitted mixture's covariance factors (K d^2 floats) at most this


# ---------------------------------------------------------------------------------------------------------------
# configs


@dataclass
class AEConfig:
    channels: int = 1  # 1 (grey) or 3 (RGB)
    image_size: int = 28  # 28 | 32 | 64 pixels
    latent_dim: int = 16  # code size
    hidden: int = 32  # channels of the first conv layer (doubled once)
    fc_dim: int = 128  # width of the fully connected layer between convs and code
    decoder: str = "bernoulli"  # "bernoulli" (grey levels as probabilities) | "gaussian" (learned scale)
    latent_channels: int = 0  # 0: FC code; K: a spatial code, K channels at the last conv resolution (latent_dim = K·s²)


@dataclass
class VAEConfig(AEConfig):
    latent_dim: int = 32
    prior_components: int = 0  # sampling prior: 0 = N(0, I); K = a K-component mixture fitted by VAE.fit_prior


@dataclass
class CVAEConfig(VAEConfig):
    num_classes: int = 10  # decoder is conditioned on a one-hot label (0 = unconditional)


@dataclass
class VAEGANConfig(VAEConfig):
    d_hidden: int = 32  # discriminator width
    adv_weight: float = 5.0  # weight of the non-saturating GAN loss on decoder outputs (nats per image scale)
    fm_weight: float = 50.0  # weight of the discriminator feature-matching loss (mean squared feature error)


# ---------------------------------------------------------------------------------------------------------------
# networks


def _widths(cfg) -> list[int]:
    assert cfg.image_size in (28, 32, 64), f"image_size must be 28, 32 or 64, got {cfg.image_size}"
    assert cfg.channels in (1, 3), f"channels must be 1 or 3, got {cfg.channels}"
    return [cfg.hidden, 2 * cfg.hidden] + ([2 * cfg.hidden] if cfg.image_size == 64 else [])


def _spatial(cfg, cond_dim: int = 0) -> int:
    """The side s of a spatial code (``latent_channels`` > 0; 0 for an FC code); ValueError when it cannot be."""
    k = getattr(cfg, "latent_channels", 0)
    if not k:
        return 0
    s = cfg.image_size // 2 ** len(_widths(cfg))
    if cfg.latent_dim != k * s * s:
        raise ValueError(f"a spatial code of {k} channels at {s}x{s} has latent_dim {k * s * s}, not {cfg.latent_dim}")
    if cond_dim:
        raise ValueError("a spatial code (latent_channels > 0) needs an unconditional model (num_classes 0)")
    return s


class Encoder(nn.Module):
    """Strided convs -> FC -> out_dim (2 * latent for Gaussian posteriors). With ``cond_dim`` a condition
    vector (a one-hot label) joins the flattened conv features before the FC layers: q(z | x, y). With
    ``latent_channels`` a 3x3 conv replaces the FC layers: a spatial code, flattened to out_dim."""

    def __init__(self, cfg, out_dim: int, cond_dim: int = 0):
        super().__init__()
        layers, c = [], cfg.channels
        for w in _widths(cfg):
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.SiLU()]
            c = w
        s = cfg.image_size // 2 ** len(_widths(cfg))
        if _spatial(cfg, cond_dim):
            head = [nn.Unflatten(1, (c, s, s)), nn.Conv2d(c, out_dim // (s * s), 3, 1, 1), nn.Flatten()]
        else:
            head = [nn.Linear(c * s * s + cond_dim, cfg.fc_dim), nn.SiLU(), nn.Linear(cfg.fc_dim, out_dim)]
        self.cond_dim = cond_dim
        if cond_dim:
            self.net, self.head = nn.Sequential(*layers, nn.Flatten()), nn.Sequential(*head)
        else:
            self.net = nn.Sequential(*layers, nn.Flatten(), *head)

    def forward(self, x, cond=None):
        if not self.cond_dim:
            return self.net(x)
        return self.head(torch.cat([self.net(x), cond.to(x.dtype)], 1))


class Decoder(nn.Module):
    """FC -> transposed convs; returns logits (Bernoulli) or means (Gaussian), (B, C, H, W)."""

    def __init__(self, cfg, in_dim: int):
        super().__init__()
        ws = _widths(cfg)[::-1]
        self.s = cfg.image_size // 2 ** len(ws)
        if _spatial(cfg, in_dim - cfg.latent_dim):  # a spatial code: 3x3 conv instead of the FC layers
            self.fc = nn.Sequential(nn.Unflatten(1, (cfg.latent_channels, self.s, self.s)),
                                    nn.Conv2d(cfg.latent_channels, ws[0], 3, 1, 1), nn.SiLU())
        else:
            self.fc = nn.Sequential(nn.Linear(in_dim, cfg.fc_dim), nn.SiLU(),
                                    nn.Linear(cfg.fc_dim, ws[0] * self.s ** 2), nn.SiLU())
        layers = []
        for a, b in zip(ws, ws[1:] + [cfg.channels]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.SiLU()]
        self.net = nn.Sequential(*layers[:-1])  # no activation on the output

    def forward(self, h):
        return self.net(self.fc(h).view(h.shape[0], -1, self.s, self.s))


class Discriminator(nn.Module):
    """Small conv critic for the VAE-GAN; ``features`` feeds the feature-matching loss."""

    def __init__(self, cfg):
        super().__init__()
        layers, c = [], cfg.channels
        for w in [cfg.d_hidden, 2 * cfg.d_hidden] + ([2 * cfg.d_hidden] if cfg.image_size == 64 else []):
            layers += [nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = w
        s = cfg.image_size // 2 ** (len(layers) // 2)
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c * s * s, 1)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x)).squeeze(1)


# ---------------------------------------------------------------------------------------------------------------
# models


class AE(nn.Module):
    """Deterministic conv autoencoder. Samples decode codes drawn from a diagonal Gaussian fitted (running
    mean/std) to the training codes, so `sample` works like for every other family."""

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, config.latent_dim)
        self.decoder = Decoder(config, config.latent_dim)
        self.register_buffer("z_mean", torch.zeros(config.latent_dim))
        self.register_buffer("z_std", torch.ones(config.latent_dim))
        if config.decoder == "gaussian":
            self.log_sigma = nn.Parameter(torch.full((config.channels,), -1.0))
        else:
            assert config.decoder == "bernoulli", f"decoder must be 'bernoulli' or 'gaussian', got {config.decoder!r}"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _to_image(self, out):
        return torch.sigmoid(out) * 2 - 1 if self.config.decoder == "bernoulli" else out.clamp(-1, 1)

    def _nll(self, out, x):
        return recon_nll(out, x, self.config.decoder, getattr(self, "log_sigma", None))

    def encode(self, x, labels=None):
        z = self.encoder(x)
        return z, torch.full_like(z, float("-inf"))  # zero variance: the code is deterministic

    def decode(self, z, labels=None):
        return self._to_image(self.decoder(z))

    @torch.no_grad()
    def reconstruct(self, x, labels=None):
        return self.decode(self.encode(x)[0], labels)

    def _randn(self, n, generator):
        return randn(n, self.config.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(self, n, *, generator=None, labels=None, truncation=1.0):
        z = self.z_mean + self.z_std * self._randn(n, generator) * truncation
        return self.decode(z, labels)

    def loss(self, x, y=None, beta=1.0):
        z = self.encoder(x)
        return {"recon": self._nll(self.decoder(z), x), "z": z.detach()}


    @torch.no_grad()
    def eval_metrics(self, test_images, batch_size: int = 500) -> dict:
        nll, mse = [], []
        for x in test_images.split(batch_size):
            x = x.to(self.device)
            z = self.encoder(x)
            out = self.decoder(z)
            nll.append(self._nll(out, x).cpu())
            mse.append(((self._to_image(out) - x) / 2).pow(2).mean((1, 2, 3)).cpu())
        return {"recon_nll": torch.cat(nll).mean().item(), "recon_mse": torch.cat(mse).mean().item(),
                "eval_images": len(test_images)}


class VAE(MixturePrior, AE):
    """Variational autoencoder (Kingma & Welling 2014): Gaussian posterior q(z|x), standard normal prior,
    reparameterised sampling. With ``prior_components`` > 0 samples draw z from a Gaussian mixture fitted to
    the aggregate posterior (:meth:`fit_prior`, a "two-stage VAE", Dai & Wipf 2019) instead of N(0, I); the
    ELBO and likelihoods keep N(0, I), the prior the model was trained with."""

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        self.encoder = Encoder(config, 2 * config.latent_dim)
        self.decoder = Decoder(config, config.latent_dim + getattr(config, "num_classes", 0))
        del self.z_mean, self.z_std  # the prior is N(0, I)
        self._prior_placeholders()

    def _sampling_latents(self, n, generator, truncation, prior):
        """(n, d): standard noise scaled by ``truncation``, then the fitted mixture's transform (``prior``
        "fitted", the default; N(0, I) when none is fitted) or none ("normal")."""
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, not {prior!r}")
        e = self._randn(n, generator) * truncation
        return self.prior_transform(e, generator) if prior == "fitted" else e

    @torch.no_grad()
    def fit_prior(self, components: int = 20, samples: int = 20_000, *, images: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, seed: int = 0, batch_size: int = 1000,
                  progress=None) -> dict:
        """Fit the sampling prior to the aggregate posterior: one z ~ q(z | x) for each of ``samples`` training
        ``images`` (drawn at random; with their ``labels`` for a conditional encoder), then a full-covariance
        Gaussian mixture of ``components`` by EM (sklearn). The weights stay as they are. Returns what the card
        records under "prior"."""
        import time

        from sklearn.mixture import GaussianMixture

        if images is None or not len(images):
            raise ValueError("fitting a VAE's prior needs its training images (the aggregate posterior is theirs)")
        d = self.config.latent_dim
        if components * d * d * 4 > PRIOR_MAX_BYTES:
            raise ValueError(f"{components} full-covariance Gaussians over a {d}-d latent take "
                             f"{components * d * d * 4 / 2 ** 20:.0f} MB, more than a checkpoint may hold for its "
                             f"prior ({PRIOR_MAX_BYTES // 2 ** 20} MB): use fewer components")
        n = min(samples, len(images))
        if not 1 <= components <= n // (2 * d):
            raise ValueError(f"components must be between 1 and {n // (2 * d)} for {n:,} images (each Gaussian "
                             f"needs at least {2 * d} latents), not {components}")
        t = time.perf_counter()
        was_training = self.training
        self.eval()
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(images), generator=g)[:n]
        zs = []
        for i in range(0, n, batch_size):
            b = idx[i:i + batch_size]
            y = None if labels is None or not getattr(self.config, "num_classes", 0) else \
                self._labels(labels[b], len(b))
            mu, logvar = self._posterior(images[b].to(self.device), y)
            zs.append((mu.float().cpu() + torch.randn(mu.shape, generator=g) * (0.5 * logvar.float().cpu()).exp()))
            if progress:
                progress(min(i + batch_size, n), n)
        z = torch.cat(zs).double().numpy()
        gm = GaussianMixture(components, covariance_type="full", reg_covar=1e-4, max_iter=200, random_state=seed)
        gm.fit(z)
        tril = torch.linalg.cholesky(torch.from_numpy(gm.covariances_).float())
        self.set_prior(torch.from_numpy(gm.weights_).float(), torch.from_numpy(gm.means_).float(), tril)
        self.train(was_training)
        return {"components": components, "samples": n, "seed": seed, "fitted_to": "aggregate posterior",
                "fit_seconds": round(time.perf_counter() - t, 1)}

    def encode(self, x, labels=None):
        return self._posterior(x, None)

    def _posterior(self, x, labels):
        """q(z | x) as (mu, logvar); a conditional encoder also gets the (validated) labels via ``_encoder_cond``."""
        mu, logvar = self.encoder(x, self._encoder_cond(labels, x.shape[0])).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def _encoder_cond(self, labels, n):
        return None

    @torch.no_grad()
    def reconstruct(self, x, labels=None):
        return self.decode(self.encode(x)[0], labels)

    @torch.no_grad()
    def sample(self, n, *, generator=None, labels=None, truncation=1.0, prior="fitted"):
        """(n, C, H, W): z from the fitted mixture (``prior="fitted"``, N(0, I) when none is fitted) or from
        N(0, I) (``prior="normal"``), scaled by ``truncation`` before the mixture's transform; decoded."""
        return self.decode(self._sampling_latents(n, generator, truncation, prior), labels)

    def _decoder_in(self, z, labels):
        return z

    def loss(self, x, y=None, beta=1.0):
        """Per-image terms of the negative ELBO: recon (B,) and kl (B,)."""
        mu, logvar = self._posterior(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder(self._decoder_in(z, y))
        return {"recon": self._nll(out, x), "kl": gaussian_kl(mu, logvar), "out": out, "z": z}


    # -- likelihoods ------------------------------------------------------------------------------------------
    def _log_weights(self, x, labels, k, generator, max_batch):
        """log p(x, z_i) - log q(z_i | x) for k posterior samples: (k, B)."""
        mu, logvar = self._posterior(x, labels)
        std = (0.5 * logvar).exp()
        B = x.shape[0]
        m = max(1, min(k, max_batch // B))
        out = []
        for i in range(0, k, m):
            kk = min(m, k - i)
            eps = randn(kk, *mu.shape, generator=generator, device=mu.device)
            z = mu + std * eps  # (kk, B, D)
            zf = z.reshape(kk * B, -1)
            lab = None if labels is None else labels.repeat(kk)
            dec = self.decoder(self._decoder_in(zf, lab))
            xr = x.unsqueeze(0).expand(kk, *x.shape).reshape(kk * B, *x.shape[1:])
            log_px = -self._nll(dec, xr).view(kk, B)
            out.append(log_px + log_normal(z, torch.zeros_like(mu), torch.zeros_like(mu))
                       - log_normal(z, mu, logvar))
        return torch.cat(out)

    @torch.no_grad()
    def log_likelihood(self, x, k: int = 100, *, labels=None, generator=None, max_batch: int = 4096):
        """Importance-weighted lower bound on log p(x) (Burda et al. 2015) in nats per image, (B,).

        k = 1 gives a one-sample ELBO estimate; the bound tightens as k grows."""
        lw = self._log_weights(x, self._labels(labels, x.shape[0]), k, generator, max_batch)
        return torch.logsumexp(lw, 0) - math.log(k)

    @torch.no_grad()
    def elbo(self, x, labels=None):
        """One-sample estimate of the ELBO with the analytic KL, nats per image (B,)."""
        labels = self._labels(labels, x.shape[0])
        mu, logvar = self._posterior(x, labels)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder(self._decoder_in(z, labels))
        return -(self._nll(out, x) + gaussian_kl(mu, logvar))

    def _labels(self, labels, n):
        return None

    @torch.no_grad()
    def eval_metrics(self, test_images, batch_size: int = 500, iwae_k: int = 1000, iwae_images: int = 50,
                     seed: int = 0, progress: bool = False) -> dict:
        """Held-out ELBO and reconstruction error on every test image; IWAE (k=iwae_k) NLL (± its standard
        error) on the first ``iwae_images`` of a fixed random permutation (CPU time), also in bits/dim."""
        g = torch.Generator(device=self.device).manual_seed(seed)
        torch.manual_seed(seed)
        elbo, mse = [], []
        for x in test_images.split(batch_size):
            x = x.to(self.device)
            elbo.append(self.elbo(x).cpu())
            mse.append(((self.reconstruct(x) - x) / 2).pow(2).mean((1, 2, 3)).cpu())
        perm = torch.randperm(len(test_images), generator=torch.Generator().manual_seed(seed))[:iwae_images]
        sub = test_images[perm]
        batches = sub.split(max(1, min(100, batch_size)))
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"IWAE k={iwae_k}", unit="batch")
        ll = torch.cat([self.log_likelihood(x.to(self.device), k=iwae_k, generator=g).cpu() for x in batches])
        dims = test_images[0].numel()
        return {"elbo": torch.cat(elbo).mean().item(), "recon_mse": torch.cat(mse).mean().item(),
                "iwae_nll": -ll.mean().item(), "iwae_bits_per_dim": bits_per_dim(-ll.mean().item(), dims),
                "iwae_nll_sem": (ll.std() / len(ll) ** 0.5).item() if len(ll) > 1 else float("nan"),
                "iwae_k": iwae_k, "iwae_images": len(sub), "eval_images": len(test_images),
                "likelihood": f"{self.config.decoder} decoder, nats per image"}


class CVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): q(z|x, y) and p(x|z, y), so z carries the style and y the digit.
    Without labels, encode/reconstruct use the label that explains x best and log_likelihood marginalises
    over a uniform label prior (comparable with unconditional models)."""

    def __init__(self, config: CVAEConfig):
        super().__init__(config)
        if config.num_classes:
            self.encoder = Encoder(config, 2 * config.latent_dim, cond_dim=config.num_classes)

    def _onehot(self, labels, n):
        if labels is None:
            labels = torch.zeros(n, dtype=torch.long, device=self.device)
        return labels if labels.is_floating_point() else F.one_hot(labels, self.config.num_classes)

    def _encoder_cond(self, labels, n):
        return self._onehot(labels, n) if self.config.num_classes else None

    def encode(self, x, labels=None):
        """q(z | x, y) as (mu, logvar); without labels, y is the label that explains x best (``best_labels``)."""
        if self.config.num_classes and labels is None:
            labels = self.best_labels(x)
        return self._posterior(x, self._labels(labels, x.shape[0]))

    def _labels(self, labels, n):
        if labels is None:
            return None
        if torch.is_tensor(labels) and labels.is_floating_point() and labels.ndim == 2:  # soft one-hot (B, K)
            assert labels.shape == (n, self.config.num_classes), f"soft labels must be ({n}, {self.config.num_classes})"
            return labels.to(self.device)
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).flatten()
        if labels.numel() == 1:
            labels = labels.expand(n)
        assert labels.numel() == n, f"need 1 or {n} labels, got {labels.numel()}"
        assert (0 <= labels).all() and (labels < self.config.num_classes).all(), \
            f"labels must be in [0, {self.config.num_classes})"
        return labels

    def _decoder_in(self, z, labels):
        if not self.config.num_classes:
            return z
        return torch.cat([z, self._onehot(labels, z.shape[0]).to(z.dtype)], 1)

    def decode(self, z, labels=None):
        """Labels: ints, or soft one-hot rows (B, K) for label interpolation; class 0 when not given."""
        return self._to_image(self.decoder(self._decoder_in(z, self._labels(labels, z.shape[0]))))

    @torch.no_grad()
    def sample(self, n, *, generator=None, labels=None, truncation=1.0, prior="fitted"):
        z = self._sampling_latents(n, generator, truncation, prior)
        if labels is None and self.config.num_classes:
            labels = randint(self.config.num_classes, (n,), generator=generator, device=self.device)
        return self.decode(z, labels)

    @torch.no_grad()
    def best_labels(self, x):
        """The label with the highest ELBO at the posterior mean (log p(x|mu, y) - KL(q(z|x, y) || p(z))), (B,)."""
        scores = []
        for y in range(self.config.num_classes):
            y = torch.full((x.shape[0],), y, dtype=torch.long, device=x.device)
            mu, logvar = self._posterior(x, y)
            scores.append(-self._nll(self.decoder(self._decoder_in(mu, y)), x) - gaussian_kl(mu, logvar))
        return torch.stack(scores, 1).argmax(1)

    @torch.no_grad()
    def reconstruct(self, x, labels=None):
        labels = self.best_labels(x) if labels is None else labels
        return self.decode(self.encode(x, labels)[0], labels)

    def loss(self, x, y=None, beta=1.0):
        return super().loss(x, self._labels(y, x.shape[0]) if y is not None and (y >= 0).all() else None, beta)

    @torch.no_grad()
    def log_likelihood(self, x, k: int = 100, *, labels=None, generator=None, max_batch: int = 4096):
        """log p(x|y) bound with labels; without, log (1/K) sum_y p(x|y) using k // K samples per class."""
        if labels is not None or not self.config.num_classes:
            return super().log_likelihood(x, k, labels=labels, generator=generator, max_batch=max_batch)
        K = self.config.num_classes
        kk = max(1, k // K)
        per = [super(CVAE, self).log_likelihood(x, kk, labels=y, generator=generator, max_batch=max_batch)
               for y in range(K)]
        return torch.logsumexp(torch.stack(per), 0) - math.log(K)

    @torch.no_grad()
    def elbo(self, x, labels=None):
        if labels is not None or not self.config.num_classes:
            return super().elbo(x, labels)
        K = self.config.num_classes
        return torch.logsumexp(torch.stack([super(CVAE, self).elbo(x, y) for y in range(K)]), 0) - math.log(K)


class VAEGAN(VAE):
    """VAE whose decoder is also trained against a discriminator: non-saturating GAN loss on reconstructions
    and prior samples plus feature matching on the discriminator's hidden layer (Larsen et al. 2016)."""

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        self.disc = Discriminator(config)

    def discriminate(self, x):
        return self.disc(x)



def bits_per_dim(nll_nats: float | torch.Tensor, num_dims: int):
    """Nats per image -> bits per dimension."""
    return nll_nats / (num_dims * math.log(2))
