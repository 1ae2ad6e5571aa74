"""Best of k: samplers that draw k candidates per output and keep the one their own model scores highest (a GAN's
discriminator, the DALL-E's caption score) share the bound on k and the pick."""
from __future__ import annotations

import torch

MAX_CANDIDATES = 16  # candidates per output at most (cgan-emoji32: no gain past 8, bench/results/candidates.md)


def check_candidates(candidates) -> int:
    """``candidates`` as a whole number in 1..MAX_CANDIDATES, or a ValueError saying what is allowed."""
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= MAX_CANDIDATES:
        raise ValueError(f"candidates must be a whole number from 1 to {MAX_CANDIDATES}, not {candidates!r}")
    return candidates


def best_in_runs(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the highest score in each run of ``k`` consecutive ``scores`` (len a multiple of k)."""
    return scores.view(-1, k).argmax(1) + torch.arange(len(scores) // k, device=scores.device) * k
