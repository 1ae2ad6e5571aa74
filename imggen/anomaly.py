"""Anomaly score "how typical is this image": its importance-weighted log-likelihood under a VAE, as a percentile
of the same score on held-out test images. The reference distribution is computed once per checkpoint and cached
next to it (``checkpoints/<name>.anomaly.json``)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import torch

from .convert import from01

SCORE_K = 32  # importance samples per score (the reference uses the same k)
SCORE_SEED = 0  # fixed, so the same image always gets the same score
_cache: dict = {}  # file key -> reference
MAX_CACHED = 32
_lock = threading.Lock()


def reference_path(ckpt_path: str | Path) -> Path:
    p = Path(ckpt_path)
    return p.with_name(p.name.removesuffix(".safetensors") + ".anomaly.json")


@torch.no_grad()
def log_likelihoods(net, images: torch.Tensor, k: int = SCORE_K, batch_size: int = 100) -> torch.Tensor:
    """IWAE log-likelihood bounds (nats) of images in [-1, 1] with a fixed seed, (N,)."""
    dev = next(net.parameters()).device
    g = torch.Generator(device=dev).manual_seed(SCORE_SEED)
    return torch.cat([net.log_likelihood(x.to(dev), k=k, generator=g).cpu() for x in images.split(batch_size)])


def build_reference(net, test_images: torch.Tensor, k: int = SCORE_K, data: str = "") -> dict:
    """Score every test image; keep the 1001 quantiles (0.0 %, 0.1 %, ..., 100 %) of the scores."""
    ll = log_likelihoods(net, test_images, k).double().numpy()
    q = np.quantile(ll, np.linspace(0, 1, 1001))
    return {"k": k, "num_images": len(ll), "data": data, "mean": float(ll.mean()),
            "quantiles": [round(float(v), 4) for v in q]}


def reference(model, test_images: torch.Tensor | None = None) -> dict:
    """The cached reference of a registry model (``imggen.load`` result); built on the test set and written next
    to its checkpoint on first use."""
    key = model.key or model.name  # the file's version: a retrained model under the same name is scored anew
    with _lock:
        if key in _cache:
            return _cache[key]
    path = key[0] if model.key else None
    ref_file = reference_path(path) if path else None
    from .registry import CHECKPOINT_DIR

    shipped = bool(path) and Path(path).parent == CHECKPOINT_DIR.resolve()
    if ref_file and not shipped and ref_file.exists() and ref_file.stat().st_mtime_ns < model.key[1]:
        ref_file.unlink(missing_ok=True)  # a visitor's model retrained under its name: the old reference is stale
    if ref_file and ref_file.exists():
        ref = json.loads(ref_file.read_text())
    else:
        if test_images is None:
            from .evaluate import test_data

            c = model.config
            test_images = test_data(None).images
            assert test_images.shape[1:] == (c.channels, c.image_size, c.image_size), \
                "the test set does not match the model's image shape; pass test_images"
            test_images = test_images[:2000]  # lazy first use (models trained in the app): a 2000-image subset
        ref = build_reference(model.net, test_images, data="test set")
        if ref_file:
            try:
                ref_file.write_text(json.dumps(ref))
            except OSError:
                pass  # read-only checkout: keep it in memory
    with _lock:
        _cache[key] = ref
        while len(_cache) > MAX_CACHED:  # visitors' models come and go: keep the memory bounded
            _cache.pop(next(iter(_cache)))
    return ref


def percentile(ref: dict, ll: torch.Tensor) -> torch.Tensor:
    """Share (0-100) of reference test images whose log-likelihood is at or below ``ll``."""
    q = torch.tensor(ref["quantiles"], dtype=torch.float64)
    pos = torch.searchsorted(q, ll.double().reshape(-1), right=True)
    return (pos.float() - 1).clamp(0, 1000) / 10.0


def typicality(model, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-likelihood nats (B,), percentile among test digits (B,)) for images in [0, 1] under a VAE-family model."""
    ref = reference(model)
    ll = log_likelihoods(model.net, from01(images01), ref["k"])
    return ll, percentile(ref, ll)
