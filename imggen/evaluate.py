"""Held-out evaluation of a registered model: every metric the model card reports."""
from __future__ import annotations

import torch

from . import checkpoint, metrics
from .convert import from01
from .data import default_mnist_root, load_data


def test_data(name: str | None = None, image_size: int = 28, channels: int = 1):
    """The held-out test set: full MNIST's 10k when available, else mnist5k's held-out 500."""
    name = name or ("mnist" if default_mnist_root() else "mnist5k")
    return load_data(name, split="test", image_size=image_size, channels=channels)


def halves(test, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random halves of the test images (at most ``n`` each, fixed seed): the images samples are
    compared with, and the reference that gives the real-vs-real floor."""
    half = min(n, len(test) // 2)
    perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))  # halves from the same writers
    return test.images[perm[:half]], test.images[perm[half:2 * half]]


@torch.no_grad()
def evaluate_model(name_or_path: str, n: int = 5000, data: str | None = None, seed: int = 0, write: bool = False,
                   iwae_images: int = 1000, sample_kw: dict | None = None) -> dict:
    """Sample ``n`` images and compare with half of the test set; the other half gives the real-vs-real floor.
    ``sample_kw`` (e.g. ``{"keep": 0.65}``) measures a sampler setting; the card's metrics (``write``) are plain
    sampling.

    Conditional models are sampled with uniformly cycling labels and also report label accuracy.
    Families may add their own held-out metrics via ``net.eval_metrics(test_images_in_[-1,1])``; likelihood
    models bound log p(x) by IWAE (k=1000) on ``iwae_images`` test images.
    """
    from .registry import load, resolve

    if write and sample_kw:
        raise ValueError("the card's metrics are measured with plain sampling: drop the sampler settings or --write")
    model = load(name_or_path)
    test = test_data(data, model.config.image_size, model.config.channels)  # same shape as the samples
    real, ref = halves(test, n)
    half = len(real)
    kw, labels = dict(sample_kw or {}), None
    if getattr(model.config, "num_classes", 0):
        labels = torch.arange(half) % model.config.num_classes
        kw["labels"] = labels
    fake = from01(model.sample(half, seed=seed, **kw))
    out = {"test_set": f"{test.name} test", "num_samples": half, "seed": seed,
           **({"sampling": sample_kw} if sample_kw else {})}
    if test.is_digits and fake.shape[1] == 1 and fake.shape[-1] == 28:  # the classifier sees 1x28x28 digits
        out.update(metrics.digit_metrics(fake, real, reference=ref, labels=labels))
    out["swd"] = metrics.sliced_wasserstein(fake, real)
    out["swd_floor"] = metrics.sliced_wasserstein(ref, real)
    if hasattr(model.net, "eval_metrics"):
        kw = {"iwae_images": iwae_images} if hasattr(model.net, "log_likelihood") else {}
        out.update(model.net.eval_metrics(test.images, **kw))
    if write:
        path = resolve(name_or_path)
        checkpoint.update_metadata(path, model.net.cpu(), metrics=out)
    return out
