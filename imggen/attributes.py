"""Colour attributes measured on an image drawn on white (the emoji): the shape is every pixel that is not white;
its dominant hue, saturation and brightness, its size (share of the image it covers) and its roundness
(isoperimetric quotient 4πA/P², 1 for a disc). Pure tensor functions: images (B, C, H, W) in [-1, 1] -> (B,).
Hue is an angle in degrees (:data:`CIRCULAR`): compare hues with :func:`offsets`, not plain differences."""
from __future__ import annotations

import math

import torch

from .convert import to01

COLOUR_ATTRIBUTES = ("hue", "saturation", "brightness", "size", "roundness")
CIRCULAR = {"hue": 360.0}  # attribute -> period: its values are angles
WHITE_TOL = 0.1  # a pixel within this of white (per channel, in [0, 1]) is background ...
SOFT = 0.2  # ... and one this much further from white is fully shape (a soft edge keeps sweeps smooth)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    x = to01(x.float())
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def shape_mask(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) in [0, 1]: how far each pixel is from the white background (its furthest channel)."""
    d = (1 - _rgb(x)).amax(1)
    return ((d - WHITE_TOL) / SOFT).clamp(0, 1)


def _over_shape(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mean of a per-pixel value (B, H, W) over the shape (0 for a blank image)."""
    m = shape_mask(x)
    return (m * v).sum((1, 2)) / (m.sum((1, 2)) + 1e-6)


def size(x: torch.Tensor) -> torch.Tensor:
    """Share of the image the shape covers, in [0, 1]."""
    return shape_mask(x).mean((1, 2))


def hue(x: torch.Tensor) -> torch.Tensor:
    """Dominant hue in degrees [0, 360) (0 red, 120 green, 240 blue): the angle of the shape's mean chroma vector
    in the opponent plane, so saturated pixels count most and grey/black/white ones not at all."""
    r, g, b = _rgb(x).unbind(1)
    a = _over_shape(x, r - (g + b) / 2)
    c = _over_shape(x, (math.sqrt(3) / 2) * (g - b))
    return torch.rad2deg(torch.atan2(c, a)) % 360.0


def saturation(x: torch.Tensor) -> torch.Tensor:
    """Mean HSV saturation (max - min) / max over the shape, in [0, 1]."""
    rgb = _rgb(x)
    mx, mn = rgb.amax(1), rgb.amin(1)
    return _over_shape(x, (mx - mn) / mx.clamp_min(0.05))


def brightness(x: torch.Tensor) -> torch.Tensor:
    """Mean luma (Rec. 601) of the shape, in [0, 1]: the background's white does not count."""
    r, g, b = _rgb(x).unbind(1)
    return _over_shape(x, 0.299 * r + 0.587 * g + 0.114 * b)


def roundness(x: torch.Tensor) -> torch.Tensor:
    """4πA/P² of the shape mask: ~0.95 for a disc at 32 px, ~0.8 for a square (π/4 exactly), less for elongated
    or ragged shapes. A is the mask's sum, P its isotropic total variation (central-difference gradient magnitude,
    which measures slanted and curved edges near their length); 0 for a blank image."""
    m = torch.nn.functional.pad(shape_mask(x), (2, 2, 2, 2))  # a shape touching the border still has an edge
    gx = (m[:, 1:-1, 2:] - m[:, 1:-1, :-2]) / 2
    gy = (m[:, 2:, 1:-1] - m[:, :-2, 1:-1]) / 2
    perim = (gx.pow(2) + gy.pow(2) + 1e-12).sqrt().sum((1, 2))
    return 4 * math.pi * m.sum((1, 2)) / perim.pow(2).clamp_min(1e-6)


MEASURES = {"hue": hue, "saturation": saturation, "brightness": brightness, "size": size, "roundness": roundness}


def offsets(name: str, v: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``v`` as signed offsets from its circular mean (over ``dim``, default all) wrapped into [-period/2,
    period/2) for a circular attribute, so hues 350° and 10° are 20° apart; other attributes unchanged."""
    period = CIRCULAR.get(name)
    if period is None:
        return v
    ang = v.double() * (2 * math.pi / period)
    dims = tuple(range(v.dim())) if dim is None else dim
    centre = torch.atan2(ang.sin().mean(dims, keepdim=True), ang.cos().mean(dims, keepdim=True))
    return ((v - centre * (period / (2 * math.pi)) + period / 2) % period - period / 2).to(v.dtype)
