"""Held-out evaluation, one for the training loop, ``imggen eval`` and every benchmark: a comparison set
(:class:`HeldOut`, :func:`heldout`) and its one scoring (:meth:`HeldOut.score`); :func:`evaluate_model` gives
every metric the model card reports."""
from __future__ import annotations

import functools

import torch

from . import checkpoint, metrics
from .convert import from01
from .data import asked_category, default_mnist_root, load_data


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


class HeldOut:
    """Real images that samples are scored against, all in [-1, 1]: ``real`` (compared with the samples) and
    ``reference`` (disjoint real images of the same count: the real-vs-real floors; None: no floors).

    Digits (``digits`` and 1x28x28, with the shipped classifier) get the classifier metrics (Fréchet distance,
    coverage, confident fraction, precision / recall, label accuracy); colour emoji (``emoji``: RGB, with the
    shipped emoji net) the same read by the emoji net (:func:`imggen.metrics.emoji_metrics`; label accuracy = the
    share read as the category asked for); other images the sliced Wasserstein distance. The classifier (or the
    emoji net) reads ``real`` and ``reference`` once, however many sample sets are scored.
    """

    def __init__(self, real: torch.Tensor, reference: torch.Tensor | None = None, *, digits: bool = True,
                 emoji: bool = False, test=None):
        self.real, self.reference, self.test = real, reference, test  # test: the ImageData they come from
        self.digits = (digits and tuple(real.shape[1:]) == (1, 28, 28) and metrics.CLASSIFIER_PATH.exists())
        self.emoji = emoji and real.shape[1] == 3 and metrics.EMOJINET_PATH.exists()

    @classmethod
    def split(cls, test, n: int) -> "HeldOut":
        """The two :func:`halves` of a test set (``n`` images each at most)."""
        real, reference = halves(test, n)
        return cls(real, reference, digits=test.is_digits, emoji=test.name.startswith("emoji"), test=test)

    def __len__(self) -> int:
        return len(self.real)

    @functools.cached_property
    def _real_classified(self) -> tuple[torch.Tensor, torch.Tensor]:
        return metrics.classify(self.real)

    @functools.cached_property
    def fd_floor(self) -> float | None:
        """Real-vs-real classifier Fréchet distance (None without a reference)."""
        if self.reference is None:
            return None
        return metrics.frechet_distance(metrics.classify(self.reference)[0], self._real_classified[0])

    @functools.cached_property
    def _real_emoji(self) -> torch.Tensor:
        return metrics.emoji_features(self.real)[0]

    @functools.cached_property
    def emoji_fd_floor(self) -> float | None:
        """Real-vs-real Fréchet distance on the emoji net's block features (None without a reference)."""
        if self.reference is None:
            return None
        return metrics.frechet_distance(metrics.emoji_features(self.reference)[0], self._real_emoji)

    def score(self, samples: torch.Tensor, labels: torch.Tensor | None = None, *, swd: bool = False) -> dict:
        """Held-out figures of ``samples`` ([-1, 1], as many as ``real``); ``labels``: the classes they were asked
        for (label accuracy); ``swd``: the sliced Wasserstein distance for digits as well."""
        out = {}
        if self.digits:
            out.update(metrics.digit_scores(metrics.classify(samples), self._real_classified, self.fd_floor, labels))
        elif self.emoji:
            m = metrics.emoji_scores(metrics.emoji_features(samples), self._real_emoji, self.emoji_fd_floor, labels)
            out.update({k: v for k, v in m.items() if k != "category_histogram"}, features="emoji net")
            if "category_accuracy" in out:
                out["label_accuracy"] = out.pop("category_accuracy")
        if swd or not self.digits:
            out["swd"] = metrics.sliced_wasserstein(samples, self.real)
            if self.reference is not None:
                out["swd_floor"] = self.swd_floor
        return out

    @functools.cached_property
    def swd_floor(self) -> float:
        """Real-vs-real sliced Wasserstein distance (seeded, so computed once however many sets are scored)."""
        return metrics.sliced_wasserstein(self.reference, self.real)


def heldout(n: int, data: str | None = None, image_size: int = 28, channels: int = 1) -> HeldOut:
    """The held-out set for ``n`` samples: two halves of :func:`test_data` (``n`` images each at most)."""
    return HeldOut.split(test_data(data, image_size, channels), n)


def own_test_data(meta: dict) -> str | None:
    """The test data a checkpoint is measured on by default: the built-in emoji it was trained on (their held-out
    split), else None (the test digits)."""
    trained_on = str(meta.get("recipe", {}).get("data", ""))
    return trained_on if trained_on.startswith("emoji") else None


def held_out_for(model, n: int, data: str | None = None) -> HeldOut:
    """The held-out set :func:`evaluate_model` scores a loaded model's ``n`` samples against."""
    return heldout(n, data or own_test_data(model.meta), model.config.image_size, model.config.channels)


@torch.no_grad()
def evaluate_model(name_or_path: str, n: int = 5000, data: str | None = None, seed: int = 0, write: bool = False,
                   iwae_images: int = 1000, sample_kw: dict | None = None, held: HeldOut | None = None) -> dict:
    """Sample ``n`` images and compare with half of the test set; the other half gives the real-vs-real floor.
    ``sample_kw`` (e.g. ``{"keep": 0.65}``) measures a sampler setting; the card's metrics (``write``) are plain
    sampling. ``held``: the :func:`held_out_for` set to score against, prepared once when a bench scores many
    settings of one model (default: built here).

    Conditional models are sampled with uniformly cycling labels and also report label accuracy. ``data`` None:
    the test digits, or a colour model's own built-in emoji data (its held-out emoji).
    Families may add their own held-out metrics via ``net.eval_metrics(test_images_in_[-1,1])``; likelihood
    models bound log p(x) by IWAE (k=1000) on ``iwae_images`` test images.
    """
    from .registry import load, resolve

    if write and sample_kw:
        raise ValueError("the card's metrics are measured with plain sampling: drop the sampler settings or --write")
    model = load(name_or_path)
    held = held or held_out_for(model, n, data)
    half = len(held)
    kw, labels = dict(sample_kw or {}), None
    if getattr(model.config, "num_classes", 0):
        labels = torch.arange(half) % model.config.num_classes
        kw["labels"] = labels
    fake = from01(model.sample(half, seed=seed, **kw))
    asked = None if labels is None else asked_category(labels, model.classes)
    out = {"test_set": f"{held.test.name} test", "num_samples": half, "seed": seed,
           **({"sampling": sample_kw} if sample_kw else {}), **held.score(fake, asked, swd=True)}
    if hasattr(model.net, "eval_metrics"):
        kw = {"iwae_images": iwae_images} if hasattr(model.net, "log_likelihood") else {}
        out.update(model.net.eval_metrics(held.test.images, **kw))
    if write:
        path = resolve(name_or_path)
        checkpoint.update_metadata(path, model.net.cpu(), metrics=out)
    return out
