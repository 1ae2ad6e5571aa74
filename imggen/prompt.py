"""Prompt -> image without a text encoder: a short English prompt ("a thick 7 leaning right", "very thin zero") is
parsed into a class and attribute moves, and a conditional generator draws the class with its latent moved along
the model's own labelled directions (:mod:`imggen.latent`: the direction that changes that attribute most).

Only words the parser knows count; the result says what it understood and what it ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from . import latent
from .convert import to01

NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine".split())}
WORDS = {  # word -> (attribute, sign)
    "thick": ("thickness", 1), "bold": ("thickness", 1), "heavy": ("thickness", 1), "fat": ("thickness", 1),
    "thin": ("thickness", -1), "light": ("thickness", -1), "fine": ("thickness", -1), "skinny": ("thickness", -1),
    "slanted": ("slant", 1), "italic": ("slant", 1), "right": ("slant", 1), "forward": ("slant", 1),
    "left": ("slant", -1), "backward": ("slant", -1), "backslanted": ("slant", -1),
    "wide": ("width", 1), "broad": ("width", 1), "narrow": ("width", -1), "condensed": ("width", -1),
    "tall": ("height", 1), "big": ("height", 1), "large": ("height", 1),
    "short": ("height", -1), "small": ("height", -1), "squat": ("height", -1),
    "dark": ("ink", 1), "inky": ("ink", 1), "faint": ("ink", -1), "pale": ("ink", -1),
}
INTENSIFIERS = {"very": 1.5, "extra": 1.5, "really": 1.5, "super": 1.5, "slightly": 0.5, "somewhat": 0.5,
                "bit": 0.5, "little": 0.5}
FILLER = {"a", "an", "the", "digit", "number", "of", "with", "and", "leaning", "to", "lean", "leans", "written",
          "stroke", "strokes", "style", "in", "that", "is", "it", "please", "draw", "me", "handwritten"}
STRENGTH = 2.0  # slider units (prior standard deviations) for a plain attribute word


@dataclass
class Prompt:
    label: int | None = None
    moves: dict[str, float] = field(default_factory=dict)  # attribute -> slider units (signed)
    ignored: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"digit {self.label}" if self.label is not None else "any digit"]
        parts += [f"{a} {v:+g}" for a, v in self.moves.items()]
        return ", ".join(parts) + (f" (ignored: {', '.join(self.ignored)})" if self.ignored else "")


def parse(text: str) -> Prompt:
    """Prompt text -> class (a digit or its English name; the last one wins) and attribute moves (a known word,
    scaled by a preceding intensifier; opposite words cancel). ValueError for an empty prompt."""
    words = re.findall(r"[a-z]+|\d", (text or "").lower())
    if not words:
        raise ValueError("Type a prompt, e.g. 'a thick 7 leaning right' or 'very thin zero'.")
    p, scale = Prompt(), 1.0
    for w in words:
        if w.isdigit():
            p.label = int(w)
        elif w in NUMBERS:
            p.label = NUMBERS[w]
        elif w in INTENSIFIERS:
            scale = INTENSIFIERS[w]
            continue
        elif w in WORDS:
            attr, sign = WORDS[w]
            p.moves[attr] = round(p.moves.get(attr, 0.0) + sign * STRENGTH * scale, 2)
        elif w not in FILLER:
            p.ignored.append(w)
        scale = 1.0
    p.moves = {a: v for a, v in p.moves.items() if v}
    return p


def attribute_directions(dirs: latent.Directions) -> dict[str, int]:
    """attribute -> index of the direction that changes it best (highest r x effect) among those it labels."""
    best: dict[str, int] = {}
    for i, a in enumerate(dirs.attributes):
        if a in latent.ATTRIBUTES and (a not in best or dirs.r[i] * dirs.effect[i] >
                                       dirs.r[best[a]] * dirs.effect[best[a]]):
            best[a] = i
    return best


@torch.no_grad()
def generate(name: str, text: str, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, Prompt, list[str]]:
    """(n, C, H, W) images in [0, 1] for ``text`` from registered model ``name``, the parsed prompt, and notes
    (what could not be applied). Decoders move each seed's latent along the attribute's direction; a model
    without a decoder (the pixel GPT) takes the class only."""
    from . import registry

    p = parse(text)
    model = registry.load(name)
    ncls = latent.num_classes(model.net)
    notes = []
    if p.label is not None and not ncls:
        notes.append(f"{name} is unconditional: the digit in the prompt cannot be asked for")
    if p.label is not None and ncls and p.label >= ncls:
        raise ValueError(f"{name} knows classes 0-{ncls - 1}, not {p.label}")
    g = torch.Generator().manual_seed(int(seed))
    labels = None
    if ncls:
        labels = torch.full((n,), p.label) if p.label is not None else torch.randint(0, ncls, (n,), generator=g)
    if not hasattr(model.net, "decode"):
        if p.moves:
            notes.append(f"{name} has no latent to move: {', '.join(p.moves)} not applied")
        kw = {"labels": labels} if labels is not None else {}
        return model.sample(n, seed=seed, **kw), p, notes
    ex = latent.explorer(name)
    where = attribute_directions(ex.dirs)
    shift = torch.zeros_like(ex.dirs.vectors[0])
    for attr, v in p.moves.items():
        if attr in where:
            shift += v * ex.dirs.vectors[where[attr]]
        else:
            notes.append(f"{name} has no direction found for {attr}")
    z = latent.prior_latents(model.net, n, g) + ex.scale * shift
    return to01(latent.decode(model.net, z, labels)).cpu(), p, notes
