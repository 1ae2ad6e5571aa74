"""Text -> image through a loaded text model (the ``dalle`` family): prompt -> images with their recipe and the
prompt's unknown words, and prompt-guided token in-painting; images in [0, 1], seeds, like the rest of the API
(imggen.registry.LoadedModel). The CLI's ``generate``, the benchmark and the UI call these."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .convert import from01, to01

SAMPLE_OPTIONS = ("temperature", "top_k", "guidance", "candidates", "expand")  # the settings a recipe records
MAX_N = 256


@dataclass
class Generation:
    images: torch.Tensor  # (n, C, H, W) in [0, 1]
    prompt: str
    unknown: list[str]  # prompt words the model's vocabulary lacks (read as <unk>)
    recipe: dict = field(default_factory=dict)  # what reproduces it: model, prompt, seed, n and the options
    read_as: str = ""  # the prompt the model read: with prompt expansion, the fields it filled in


def is_text_model(model) -> bool:
    """Whether a loaded model (or module) takes prompts: it has a caption tokenizer."""
    net = getattr(model, "net", model)
    return callable(getattr(net, "tokenize_prompt", None))


def _net(model):
    if not is_text_model(model):
        raise ValueError(f"{getattr(model, 'name', 'this model')} is a {getattr(model, 'family', '?')} model: "
                         "prompts need a text -> image model (e.g. dalle-emoji32)")
    return model.net


def unknown_words(model, prompt: str) -> list[str]:
    """The words of ``prompt`` the model never saw in its captions (they are read as <unk>)."""
    return _net(model).tokenize_prompt(prompt)[1]


def read_as(model, prompt: str, expand: bool = True) -> str:
    """The prompt the model reads: with ``expand`` and a model with prompt expansion, the category and
    subcategory it filled in (:meth:`imggen.models.dalle.Dalle.expand_prompt`), else ``prompt``."""
    return _net(model).expand_prompt(prompt) if expand else prompt


def generate(model, prompt: str, n: int = 16, seed: int = 0, **options) -> Generation:
    """``n`` images for ``prompt`` from a loaded text model; ``options``: temperature, top_k, guidance,
    candidates, expand (see :meth:`imggen.models.dalle.Dalle.sample`)."""
    _net(model)
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be text, not {type(prompt).__name__}")
    if not (isinstance(n, int) and 1 <= n <= MAX_N):
        raise ValueError(f"n must be a whole number from 1 to {MAX_N}, not {n!r}")
    bad = set(options) - set(SAMPLE_OPTIONS)
    if bad:
        raise ValueError(f"unknown sampling options {sorted(bad)}; known: {', '.join(SAMPLE_OPTIONS)}")
    options.setdefault("expand", True)  # the recipe names it: a restored PNG expands as this call did
    x = model.sample(n, seed=seed, prompt=prompt, **options)
    recipe = {"model": model.name, "prompt": prompt, "seed": int(seed), "n": n, **options}
    return Generation(x, prompt, unknown_words(model, prompt), recipe, read_as(model, prompt, options["expand"]))


def complete(model, image: torch.Tensor, mask: torch.Tensor, n: int = 4, seed: int = 0, prompt: str = "",
             **options) -> torch.Tensor:
    """Token in-painting: ``image`` (B, C, H, W) in [0, 1], ``mask`` (B, 1, H, W) with 1 = missing ->
    (B, n, C, H, W) in [0, 1], the known pixels kept; ``prompt`` guides the redrawn region. ``options``:
    temperature, top_k, guidance, expand."""
    net = _net(model)
    bad = set(options) - {"temperature", "top_k", "guidance", "expand"}
    if bad:
        raise ValueError(f"unknown completion options {sorted(bad)}; known: temperature, top_k, guidance, expand")
    g = model.generator(seed)
    out = net.complete(from01(image.float()).to(model.device), mask.to(model.device), n, generator=g,
                       prompt=prompt or None, **options)
    return to01(out).cpu()
