"""A latent Gaussian mixture prior held in a model's buffers: the DCGAN's (fitted to G's own samples,
:meth:`DCGAN.fit_prior`) and the VAEs' (fitted to the aggregate posterior, :meth:`VAE.fit_prior`, the "two-stage
VAE" of Dai & Wipf 2019). ``config.prior_components`` (0 = N(0, I)) follows the buffers, so checkpoints carry it."""
from __future__ import annotations

import torch

from ..device import multinomial


class MixturePrior:
    """Mixin for a module with ``config.latent_dim``, ``config.prior_components`` and ``device``."""

    def _prior_placeholders(self) -> None:
        """Buffers of the stored mixture's shape (a checkpoint holds the fitted values)."""
        K, d = self.config.prior_components, self.config.latent_dim
        if K:
            self.set_prior(torch.full((K,), 1 / K), torch.zeros(K, d), torch.eye(d).expand(K, d, d).clone())

    def set_prior(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor) -> None:
        """Use the Gaussian mixture sum_k weights[k] N(means[k], L_k L_k^T) as the latent prior (buffers, so a
        checkpoint stores it; ``config.prior_components`` follows)."""
        K, d = means.shape
        if weights.shape != (K,) or scale_tril.shape != (K, d, d) or d != self.config.latent_dim:
            raise ValueError(f"a mixture prior needs weights (K,), means (K, {self.config.latent_dim}) and "
                             f"scale_tril (K, d, d); got {tuple(weights.shape)}, {tuple(means.shape)}, "
                             f"{tuple(scale_tril.shape)}")
        dev = self.device
        self.register_buffer("prior_weights", (weights / weights.sum()).float().to(dev))
        self.register_buffer("prior_means", means.float().to(dev))
        self.register_buffer("prior_scale_tril", scale_tril.float().to(dev))
        self.config.prior_components = K

    def clear_prior(self) -> None:
        """Back to z ~ N(0, I) (training changes the network, so a fitted mixture no longer describes it)."""
        for name in ("prior_weights", "prior_means", "prior_scale_tril"):
            self._buffers.pop(name, None)
        self.config.prior_components = 0

    def prior_transform(self, e: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard noise e (n, d) -> latents of this model's prior: e itself for N(0, I); with a mixture, a
        component k per row drawn by weight (on ``generator``'s device, so a CPU generator serves a CUDA model),
        then mean_k + L_k e."""
        if not self.config.prior_components or len(e) == 0:
            return e
        k = multinomial(self.prior_weights, len(e), generator, e.device)
        mu, L = self.prior_means.to(e.device), self.prior_scale_tril.to(e.device)
        return mu[k] + (L[k] @ e.unsqueeze(-1)).squeeze(-1)
