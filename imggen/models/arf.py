"""Adversarial random forests (Watson et al. 2023, "Adversarial random forests for density estimation and
generative modeling"): a random forest learns to tell real images from synthetic ones; synthetic ones are then
redrawn from the forest's own leaves, and the rounds repeat until the forest can no longer tell them apart.
Within a leaf of the last forest the pixels are close to independent, so each leaf becomes one component of a
mixture of independent Bernoullis over binarized pixels (FORDE / FORGE of the paper):

    p(x) = sum_l w_l prod_j p_lj^x_j (1 - p_lj)^(1 - x_j),   w_l = share of the real images in leaf l / trees

That gives sampling (a leaf by weight, then each pixel), an exact likelihood (log-sum-exp over leaves) and exact
conditional sampling for inpainting (the leaf posterior given the known pixels). The forest itself (sklearn) is
used only while fitting; a checkpoint holds the leaves' weights and pixel probabilities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..convert import from01, to01
from ..device import multinomial, rand

THRESHOLD = 0.5  # pixels in [0, 1] at or above this are "on"


@dataclass
class ARFConfig:
    channels: int = 1
    image_size: int = 28
    trees: int = 4  # arf-mnist's recipe; its card compares 16 x 400 and 8 x 800 leaves
    max_leaves: int = 1500  # leaves per tree (best-first growth): bounds the checkpoint at trees x max_leaves x pixels
    min_leaf: int = 3  # real + synthetic images a leaf must hold
    alpha: float = 1.0  # pseudo-images of the data's own pixel marginals added to each leaf (smoothing)
    num_leaves: int = 0  # leaves of the fitted mixture (set by fitting; checkpoints hold them)


def binarize(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> (B, pixels) float {0, 1}."""
    return (to01(x.flatten(1)) >= THRESHOLD).float()


class ARF(nn.Module):
    """A mixture of independent Bernoullis whose components are the leaves of an adversarial random forest."""

    family = "arf"
    full_batch = True  # the training loop hands it all the images at once: an epoch is one adversarial round

    def __init__(self, config: ARFConfig = ARFConfig()):
        super().__init__()
        self.config = c = config
        D = c.channels * c.image_size ** 2
        L = max(c.num_leaves, 1)  # an unfitted model: one leaf, every pixel off with probability 1/2
        # fitted values, not trained by gradients: parameters so that checkpoints and .to(device) carry them
        self.leaf_weights = nn.Parameter(torch.full((L,), 1 / L), requires_grad=False)
        self.leaf_probs = nn.Parameter(torch.full((L, D), 0.5, dtype=torch.float16), requires_grad=False)

    @property
    def device(self) -> torch.device:
        return self.leaf_probs.device

    @property
    def num_pixels(self) -> int:
        return self.leaf_probs.shape[1]

    def set_leaves(self, weights: torch.Tensor, probs: torch.Tensor) -> None:
        """Install a fitted mixture: weights (L,) summing to 1, pixel probabilities (L, pixels) in (0, 1)."""
        if probs.ndim != 2 or probs.shape[1] != self.num_pixels or weights.shape != probs.shape[:1]:
            raise ValueError(f"leaves need weights (L,) and probabilities (L, {self.num_pixels}); got "
                             f"{tuple(weights.shape)} and {tuple(probs.shape)}")
        dev = self.device
        self.leaf_weights = nn.Parameter((weights / weights.sum()).float().to(dev), requires_grad=False)
        self.leaf_probs = nn.Parameter(probs.to(dev, torch.float16), requires_grad=False)
        self.config.num_leaves = len(weights)

    def _images(self, bits: torch.Tensor) -> torch.Tensor:
        c = self.config
        return from01(bits).view(-1, c.channels, c.image_size, c.image_size)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, truncation: float = 1.0) -> torch.Tensor:
        """(n, C, H, W) binary images in {-1, 1}: a leaf by weight, then each pixel from its Bernoulli.
        ``truncation`` < 1 sharpens every pixel's probability (logit / truncation) before drawing: less speckle,
        less variety, the way truncation trades for a GAN; 1 samples the model exactly."""
        leaf = multinomial(self.leaf_weights, n, generator, self.device)
        return self._images(self._draw(self._sharpen(self.leaf_probs[leaf].float(), truncation), generator))

    @staticmethod
    def _sharpen(p: torch.Tensor, truncation: float) -> torch.Tensor:
        if not truncation > 0:
            raise ValueError(f"truncation must be > 0, not {truncation}")
        return p if truncation == 1 else torch.sigmoid(torch.logit(p, eps=1e-6) / truncation)

    def _draw(self, p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return (rand(*p.shape, generator=generator, device=p.device) < p).float()  # same seed, same image anywhere

    def _log_terms(self, bits: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L): log w_l + log p(x_known | leaf l) for binarized rows ``bits`` (every pixel known by default)."""
        p = self.leaf_probs.float().clamp(1e-6, 1 - 1e-6)
        lp, lq = p.log(), (-p).log1p()
        if known is not None:
            on, off = bits * known, (1 - bits) * known
        else:
            on, off = bits, 1 - bits
        return self.leaf_weights.log() + on @ lp.T + off @ lq.T

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int | None = None, generator: torch.Generator | None = None,
                       batch_size: int = 500) -> torch.Tensor:
        """(B,) exact log p(binarized x) in nats for images in [-1, 1] (``k`` and ``generator`` are the VAEs'
        importance-sampling arguments, accepted so every likelihood model scores alike; nothing is sampled here)."""
        bits = binarize(x.to(self.device))
        return torch.cat([self._log_terms(b).logsumexp(1) for b in bits.split(batch_size)]) if len(bits) \
            else bits.new_zeros(0)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 4, *, generator: torch.Generator | None = None,
                 truncation: float = 1.0) -> torch.Tensor:
        """Inpainting by exact conditional sampling: x (B, C, H, W) in [-1, 1], mask (B, 1|C, H, W) with 1 = missing.
        For each image a leaf is drawn from its posterior given the known pixels, then the missing pixels from
        that leaf (sharpened by ``truncation`` as in :meth:`sample`); known pixels are kept as given.
        Returns (B, n, C, H, W)."""
        B = len(x)
        bits = binarize(x.to(self.device))
        known = 1 - mask.to(self.device).expand_as(x).flatten(1).float()
        post = self._log_terms(bits, known).softmax(1)  # (B, L)
        leaf = torch.stack([multinomial(post[i], n, generator, self.device) for i in range(B)])  # (B, n)
        p = self._sharpen(self.leaf_probs[leaf.flatten()].float(), truncation)
        drawn = self._images(self._draw(p, generator)).view(B, n, *x.shape[1:])
        m = mask.to(self.device).expand_as(x).unsqueeze(1)
        return x.to(self.device).unsqueeze(1) * (1 - m) + drawn * m

    def eval_metrics(self, images: torch.Tensor, iwae_images: int | None = None) -> dict:
        """Held-out exact likelihood of every binarized test image: nats per image and bits per pixel
        (``iwae_images`` is the VAEs' budget for their bound; the exact value is cheap, so all images count)."""
        nll = -self.log_likelihood(images).mean().item()
        return {"nll_nats": nll, "bits_per_dim": nll / (math.log(2) * self.num_pixels)}


def leaf_mixture(bits: np.ndarray, leaves: np.ndarray, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaf weights and pixel probabilities from the real images' leaf of every tree: ``bits`` (N, D) {0, 1},
    ``leaves`` (N, T) node ids (sklearn ``apply``). Each tree's leaves share 1/T of the weight by their counts;
    a leaf's pixel probabilities are its images' means shrunk toward the data's marginals by ``alpha``
    pseudo-images (a pixel never on in the data stays off: no speckle from a uniform prior)."""
    from scipy import sparse

    N, T = leaves.shape
    marginal = (bits.sum(0) + 0.5) / (N + 1)
    weights, probs = [], []
    for t in range(T):
        ids, inv = np.unique(leaves[:, t], return_inverse=True)
        onehot = sparse.csr_matrix((np.ones(N, np.float32), (inv, np.arange(N))), shape=(len(ids), N))
        counts = np.asarray(onehot.sum(1)).ravel()
        probs.append((onehot @ bits + alpha * marginal) / (counts[:, None] + alpha))
        weights.append(counts / (N * T))
    return torch.from_numpy(np.concatenate(weights)).float(), torch.from_numpy(np.concatenate(probs)).float()
