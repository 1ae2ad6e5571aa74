"""Arena: every generator on the same seed, side by side — each model's samples, the time its sampler took and the
headline metrics of its card. Pure tensors (the Arena tab turns them into PNGs)."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch

from . import registry

MAX_COUNT = 16  # images per model
DEFAULT_COUNT = 10  # a conditional model shows each class 0-9 once
DEFAULT_SEED = 0
EACH, RANDOM = "each class in turn", "random"  # the Sample tab's class choices (its recipes read the same)

# (metric key on the card, label shown, format); only those a card has are shown
HEADLINE = (
    ("fd", "FD ↓", "{:.2f}"),
    ("fd_ratio", "FD ÷ floor ↓", "{:.1f}×"),
    ("coverage", "classes covered /10 ↑", "{:.0f}"),
    ("confident_fraction", "confident % ↑", "{:.0%}"),
    ("precision", "precision ↑", "{:.2f}"),
    ("recall", "recall ↑", "{:.2f}"),
    ("label_accuracy", "label accuracy ↑", "{:.1%}"),
    ("nll_nats", "NLL nats/image, exact ↓", "{:.1f}"),
    ("iwae_nll", "NLL nats/image, IWAE bound ↓", "{:.1f}"),
)
METRIC_NOTES = ("FD: Fréchet distance between the classifier features of the model's samples and of real test "
                "digits (floor: two halves of the real data); confident %: samples the classifier reads as one digit "
                "with high confidence; precision/recall: realism/variety in feature space; label accuracy: "
                "conditional samples read as the class asked for; NLL: negative log-likelihood of test digits "
                "(exact for tractable models, an upper bound from importance sampling for VAEs). Colour models are "
                "measured the same way against held-out emoji, on the emoji net's features (label accuracy: read as "
                "the category asked for); their NLL is a Gaussian decoder's on RGB values, not comparable with the "
                "digits'.")


@dataclass
class Entry:
    """One model's place in the arena."""
    name: str
    family: str = ""
    images: torch.Tensor | None = None  # (n, C, H, W) in [0, 1]
    labels: list[int] | None = None  # the class of each image (conditional models), else None
    seconds: float = 0.0  # wall time of its sampler for these images
    metrics: dict[str, str] = field(default_factory=dict)  # headline label -> formatted value, card order
    error: str | None = None  # why it has no images
    classes: tuple[str, ...] = ()  # the model's class names (digits "0".."9", emoji categories), index = label

    def recipe(self, n: int, seed: int) -> dict:
        """What reproduces these images (the Sample tab's keys: model, n, seed, class, truncation)."""
        return {"tab": "arena", "model": self.name, "n": n, "seed": seed, "class": EACH if self.labels else RANDOM,
                "truncation": 1.0}


def headline(metrics: dict | None) -> dict[str, str]:
    """label -> formatted value of the headline metrics a card has (missing or non-numeric ones are left out)."""
    out = {}
    for key, label, fmt in HEADLINE:
        v = (metrics or {}).get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[label] = fmt.format(v)
    return out


def labels_for(num_classes: int, n: int) -> list[int] | None:
    """Conditional models: the classes cycle 0, 1, …, num_classes-1, 0, … (None for unconditional ones)."""
    return [i % num_classes for i in range(n)] if num_classes else None


def default_pick(choices: Iterable[str]) -> list[str]:
    """The shipped generators among ``choices`` (the page-open arena: the same for every visitor)."""
    shipped = {p.stem for p in registry.CHECKPOINT_DIR.glob("*.safetensors")}
    return [c for c in choices if c in shipped]


def _check(n: int, seed: int) -> tuple[int, int]:
    n, seed = int(n), int(seed)
    if not 1 <= n <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT} images per model, not {n}")
    if not 0 <= seed < 2**31:
        raise ValueError(f"seed must be between 0 and {2**31 - 1}, not {seed}")
    return n, seed


def sample_model(name: str, n: int, seed: int) -> Entry:
    """``n`` images of model ``name`` from ``seed`` with its plain sampler (truncation 1, the setting its card's
    metrics describe), timed. Raises ValueError for an unknown name or bad n/seed."""
    n, seed = _check(n, seed)
    m = registry.load(name)
    labels = labels_for(getattr(m.config, "num_classes", 0) or 0, n)
    t0 = time.perf_counter()
    x = m.sample(n, seed=seed, **({"labels": labels} if labels else {}))
    seconds = time.perf_counter() - t0
    return Entry(name, m.family, x, labels, seconds, headline(m.card.get("metrics")), classes=m.classes)


@functools.lru_cache(maxsize=64)
def _cached(key: tuple, name: str, n: int, seed: int) -> Entry:
    return sample_model(name, n, seed)


def sample_model_cached(name: str, n: int, seed: int) -> Entry:
    """As :func:`sample_model`, remembered per checkpoint file version (the page-open arena: every visitor's
    first view is the same images; the time shown is the one measured when they were drawn)."""
    key = registry.file_key(registry.resolve(name))
    return _cached(key, name, int(n), int(seed))


def run(names: Iterable[str], n: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, *,
        cached: bool = False) -> Iterator[Entry]:
    """One :class:`Entry` per model name (in order, duplicates dropped) as each finishes; a model that fails
    gets an entry with its ``error`` and the others go on."""
    _check(n, seed)
    draw = sample_model_cached if cached else sample_model
    for name in dict.fromkeys(names):
        try:
            yield draw(name, n, seed)
        except (ValueError, RuntimeError) as e:  # an unknown name, a bad file, out of memory
            yield Entry(name, error=str(e) or type(e).__name__)
