"""Anomaly score "how typical is this image": its importance-weighted log-likelihood under a VAE, as a percentile
of the same score on held-out images of the model's kind (MNIST test digits for grey 28-px models, the held-out
emoji for colour ones). The reference distribution is computed once per checkpoint and cached next to it
(``checkpoints/<name>.anomaly.json``).

For colour models the score adds the image's complexity, its compressed length in nats (Serrà et al. 2020, "Input
complexity and out-of-distribution detection"): a VAE gives simple images (a blank page, a flat square, a line
drawing) higher likelihoods than real emoji, so the likelihood alone calls them the most typical
(bench/results/typicality-colour.md)."""
from __future__ import annotations

import json
import math
import threading
import zlib
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


def complexity(images: torch.Tensor) -> torch.Tensor:
    """Compressed length in nats of each image in [-1, 1] as 8-bit pixels (zlib level 9 of the raw bytes or of
    their horizontal differences, whichever is shorter, as PNG's filters choose), (N,)."""
    u8 = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    u8 = u8.permute(0, 2, 3, 1).contiguous().numpy()
    out = []
    for im in u8:
        delta = np.diff(im.astype(np.int16), axis=1, prepend=0).astype(np.uint8)
        out.append(8 * math.log(2) * min(len(zlib.compress(im.tobytes(), 9)), len(zlib.compress(delta.tobytes(), 9))))
    return torch.tensor(out, dtype=torch.float64)


def scores(net, images: torch.Tensor, k: int = SCORE_K, with_complexity: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-likelihoods (N,), typicality scores (N,)) of images in [-1, 1]: the score is the log-likelihood, plus
    :func:`complexity` when ``with_complexity``."""
    ll = log_likelihoods(net, images, k)
    return ll, ll.double() + (complexity(images) if with_complexity else 0.0)


def build_reference(net, test_images: torch.Tensor, k: int = SCORE_K, data: str = "", population: str = "",
                    with_complexity: bool = False) -> dict:
    """Score every test image; keep the 1001 quantiles (0.0 %, 0.1 %, ..., 100 %) of the scores. ``population``
    names the images in words for the score's sentence ("held-out emoji"); ``with_complexity`` adds each image's
    compressed length to its log-likelihood (colour models)."""
    ll, score = scores(net, test_images, k, with_complexity)
    q = np.quantile(score.numpy(), np.linspace(0, 1, 1001))
    return {"k": k, "num_images": len(ll), "data": data, "population": population or "held-out test images",
            "score": "log-likelihood + complexity" if with_complexity else "log-likelihood",
            "mean": float(ll.double().mean()), "quantiles": [round(float(v), 4) for v in q]}


def reference_data(config, limit: int = 2000) -> tuple[torch.Tensor, str, str]:
    """Held-out images a model of this shape is scored against: (images in [-1, 1] (N, C, H, W), data name,
    population in words). RGB models: the held-out emoji (split by emoji, never seen in training) at their
    size; grey ones: the MNIST test set at their size (the first ``limit``)."""
    from .data import EMOJI_DATASETS, load_data

    if config.channels == 3:
        name = next((n for n, s in EMOJI_DATASETS.items() if s == config.image_size), "emoji32")
        return load_data(name, split="test", image_size=config.image_size).images, f"{name} held-out", \
            "held-out emoji"
    from .evaluate import test_data

    return test_data(None, config.image_size, config.channels).images[:limit], "test set", "held-out test digits"


def population(ref: dict) -> str:
    """What a reference's percentile is among, in words (old digit references: the test digits)."""
    return ref.get("population") or "held-out test digits"


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
    ref = json.loads(ref_file.read_text()) if ref_file and ref_file.exists() else None
    if ref and ref.get("weights") and ref["weights"] != _weights(path):
        ref = None  # built for other weights (a retrained shipped model): build it again
    if ref is None:
        data, words = "test images", ""
        if test_images is None:  # lazy first use (models trained in the app): up to 2000 held-out images
            test_images, data, words = reference_data(model.config)
        ref = build_reference(model.net, test_images, data=data, population=words,
                              with_complexity=model.config.channels == 3)
        if path:
            ref["weights"] = _weights(path)
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


def _weights(path) -> str:
    from .latent import weights_hash

    return weights_hash(path)


def percentile(ref: dict, ll: torch.Tensor) -> torch.Tensor:
    """Share (0-100) of reference test images whose score (:func:`scores`) is at or below ``ll``."""
    q = torch.tensor(ref["quantiles"], dtype=torch.float64)
    pos = torch.searchsorted(q, ll.double().reshape(-1), right=True)
    return (pos.float() - 1).clamp(0, 1000) / 10.0


def typicality(model, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-likelihood nats (B,), percentile among the reference's held-out images (B,): :func:`population`) for
    images in [0, 1] under a VAE-family model; the percentile ranks the reference's score (colour models: the
    log-likelihood plus the image's complexity)."""
    ref = reference(model)
    ll, score = scores(model.net, from01(images01), ref["k"], ref.get("score") == "log-likelihood + complexity")
    return ll, percentile(ref, score)
