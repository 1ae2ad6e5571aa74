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
