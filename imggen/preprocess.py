"""Turn user uploads (files, arrays, drawings) into model inputs, with clear errors for bad input."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 4096 * 4096  # refuse decompression bombs well before PIL's own 2x limit
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageInputError(ValueError):
    """An upload that cannot be turned into an image; the message is shown to the user."""


def open_image(src) -> Image.Image:
    """Open a path, bytes, numpy array or PIL image as a fully decoded, EXIF-upright PIL image.

    Raises ImageInputError for non-images, truncated files, decompression bombs and empty images.
    Animated images give their first frame.
    """
    if src is None:
        raise ImageInputError("No image given: upload or draw one first.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(src, Image.Image):
                im = src
            elif isinstance(src, np.ndarray):
                im = _from_array(src)
            elif isinstance(src, (bytes, bytearray)):
                im = Image.open(io.BytesIO(src))
            elif isinstance(src, (str, os.PathLike)):
                if not Path(src).is_file():
                    raise ImageInputError(f"File not found: {src}")
                im = Image.open(src)
            else:
                raise ImageInputError(f"Unsupported image input of type {type(src).__name__}.")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"Image too large: more than {MAX_PIXELS:,} pixels. Downscale it first.") from None
    except UnidentifiedImageError:
        raise ImageInputError("Not an image file (or an unsupported format). Use PNG, JPEG, GIF, BMP, TIFF or WebP.") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageInputError(f"The image file is damaged or truncated: {e}") from None
    if im.width < 1 or im.height < 1:
        raise ImageInputError("The image is empty (0 pixels).")
    return im


def _from_array(a: np.ndarray) -> Image.Image:
    if a.size == 0:
        raise ImageInputError("The image is empty (0 pixels).")
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        hi = 1.0 if a.max() <= 1.0 else (255.0 if a.max() <= 255 else 65535.0)
        a = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageInputError(f"Unsupported array shape {a.shape} for an image.")
    return Image.fromarray(a)


def to_mode(im: Image.Image, channels: int) -> Image.Image:
    """Grayscale (1) or RGB (3); transparency is composited onto black, 16-bit scaled to 8-bit."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / hi * 255.0, 0, 255).astype(np.uint8))
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(a / max(a.max(), 1e-8) * 255.0, 0, 255).astype(np.uint8))
    if im.mode in ("P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(bg, im.convert("RGBA"))
    return im.convert("L" if channels == 1 else "RGB")


def image_to_tensor(src, size: int, channels: int = 1) -> torch.Tensor:
    """Any image -> (C, size, size) float tensor in [-1, 1]: centre-crop to square, then resize."""
    im = to_mode(open_image(src), channels)
    im = ImageOps.fit(im, (size, size), method=Image.Resampling.BICUBIC if min(im.size) > size else Image.Resampling.BILINEAR)
    a = torch.from_numpy(np.asarray(im, dtype=np.float32).copy()) / 127.5 - 1.0
    return a[None] if channels == 1 else a.permute(2, 0, 1)


# ==== digits: photos, scans and drawings -> MNIST-style inputs =============================================
DIGIT_WORK_SIZE = 256  # long side the pipeline works at (photos are downscaled first)


def prepare_digit(src) -> torch.Tensor:
    """A photo, scan or drawing of one digit -> (1, 28, 28) tensor in [-1, 1], made the way MNIST was:
    EXIF orientation, grayscale, automatic inversion of dark ink on light paper, background/contrast
    normalisation, crop to the ink's bounding box, fit into 20x20 keeping aspect, centre of mass at the centre.

    Raises ImageInputError for non-images, images smaller than 8x8 and blank canvases (no ink).
    """
    im = open_image(src)
    if min(im.size) < 8:
        raise ImageInputError(f"The image is too small ({im.width}x{im.height} pixels); a digit needs at least 8x8.")
    a = _digit_gray(im)  # (H, W) in [0, 1]
    if np.median(_border(a)) > 0.5:  # light paper (or white canvas) with dark ink: invert so ink is bright
        a = 1.0 - a
    a = _normalise_ink(a)
    ys, xs = np.nonzero(a > 0.25)
    box = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return torch.from_numpy(_centre_28(box)).float()[None] * 2 - 1


def _digit_gray(im: Image.Image) -> np.ndarray:
    if im.mode in ("P", "PA") or "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa"):
        # strokes on a transparent canvas: composite onto the colour that contrasts with the visible ink
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha, lum = rgba[..., 3], rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if alpha.min() < 0.99:
            ink = lum[alpha > 0.5].mean() if (alpha > 0.5).any() else 0.0
            bg = 1.0 if ink < 0.5 else 0.0
            lum = alpha * lum + (1 - alpha) * bg
        im = Image.fromarray((lum * 255).round().astype(np.uint8))
    im = to_mode(im, 1)
    scale = DIGIT_WORK_SIZE / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float32) / 255.0


def _border(a: np.ndarray) -> np.ndarray:
    m = max(1, min(a.shape) // 20)
    return np.concatenate([a[:m].ravel(), a[-m:].ravel(), a[:, :m].ravel(), a[:, -m:].ravel()])


def _normalise_ink(a: np.ndarray) -> np.ndarray:
    """Bright ink on dark background -> ink ~1, background exactly 0 (uneven paper lighting removed)."""
    if min(a.shape) >= 64:  # photos/scans: subtract a smooth local background (low percentile per block)
        a = a - _background(a)
    bg = np.median(a)
    ink = np.percentile(a, 99.5)
    if ink - bg < 0.08:
        raise ImageInputError("No ink found: the image looks blank. Draw or photograph a digit with a dark pen "
                              "on light paper (or light on dark).")
    a = np.clip((a - bg) / (ink - bg), 0, 1)
    a = np.clip((a - 0.15) / 0.85, 0, 1)  # threshold paper grain / sensor noise
    if (a > 0.25).sum() < 3:
        raise ImageInputError("No ink found: only a few faint pixels differ from the background.")
    return a


def _background(a: np.ndarray, blocks: int = 8) -> np.ndarray:
    H, W = a.shape
    bh, bw = -(-H // blocks), -(-W // blocks)
    pad = np.pad(a, ((0, bh * blocks - H), (0, bw * blocks - W)), mode="edge")
    low = np.percentile(pad.reshape(blocks, bh, blocks, bw), 10, axis=(1, 3)).astype(np.float32)
    up = Image.fromarray(low).resize((W, H), Image.Resampling.BILINEAR)
    return np.asarray(up, dtype=np.float32)


def _centre_28(box: np.ndarray) -> np.ndarray:
    """Fit into 20x20 keeping aspect (anti-aliased), then shift the centre of mass to the centre of 28x28."""
    h, w = box.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(box.astype(np.float32)).resize((nw, nh), Image.Resampling.LANCZOS if s < 1
                                                                      else Image.Resampling.BILINEAR))
    small = np.clip(small, 0, 1)
    canvas = np.zeros((48, 48), dtype=np.float32)  # room to shift without clipping
    y0, x0 = (48 - nh) // 2, (48 - nw) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = small
    mass = canvas.sum()
    yy, xx = np.mgrid[0:48, 0:48]
    cy, cx = (yy * canvas).sum() / mass, (xx * canvas).sum() / mass
    top, left = int(round(cy - 13.5)), int(round(cx - 13.5))
    top, left = min(max(top, 0), 20), min(max(left, 0), 20)
    return canvas[top:top + 28, left:left + 28]
