"""Turn user uploads (files, arrays, drawings) into model inputs, with clear errors for bad input."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .convert import from01, from_uint8, to01

MAX_PIXELS = 4096 * 4096  # refuse decompression bombs well before PIL's own 2x limit
MAX_PHOTO_PIXELS = 200_000_000  # JPEG and HEIC phone photos (12-200 MP) are allowed up to this (see open_image)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageInputError(ValueError):
    """An upload that cannot be turned into an image; the message is shown to the user."""


def _heif_class():
    """pillow-heif's PIL image class, its opener registered on first use (importing it costs ~0.1 s); None if the
    plugin is not installed."""
    try:
        import pillow_heif
        from pillow_heif.as_plugin import HeifImageFile
    except ImportError:
        return None
    pillow_heif.register_heif_opener()
    return HeifImageFile


def _open_photo(fp, draft: int | None) -> Image.Image | None:
    """A JPEG or HEIC/HEIF file opened by its own plugin class (header only), or None for other formats.

    Phone photos are 12-200 MP, over PIL's bomb limit (MAX_PIXELS) that Image.open enforces; these two formats are
    opened directly and held to MAX_PHOTO_PIXELS instead: a JPEG given ``draft`` decodes at 1/2-1/8 scale (the DCT
    skips the rest, so a 50 MP photo costs what a 1 MP one does) and HEIC is decoded by libheif at most 64 MP.
    """
    head = fp.read(32)
    fp.seek(0)
    if head[:3] == b"\xff\xd8\xff":
        from PIL import JpegImagePlugin

        im, limit = JpegImagePlugin.JpegImageFile(fp), MAX_PHOTO_PIXELS if draft else MAX_PIXELS
    elif head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        cls = _heif_class()
        if cls is None:
            raise ImageInputError("HEIC/HEIF photos need the pillow-heif package (pip install pillow-heif); "
                                  "or save the photo as JPEG or PNG.")
        im, limit = cls(fp), min(MAX_PHOTO_PIXELS, 64_000_000)
    else:
        return None
    if im.width * im.height > limit:
        raise Image.DecompressionBombError(f"{im.width}x{im.height}")
    if draft and im.format == "JPEG":
        im.draft("RGB" if im.mode in ("RGB", "CMYK", "YCbCr") else im.mode, (draft, draft))
    return im


def open_image(src, *, draft: int | None = None) -> Image.Image:
    """Open a path, bytes, numpy array or PIL image as a fully decoded, EXIF-upright PIL image.

    ``draft``: a size (px) the caller will shrink the image to anyway; a JPEG then decodes at the smallest of 1/2-1/8
    scale that keeps both sides >= ``draft`` (phone photos up to MAX_PHOTO_PIXELS are then allowed). HEIC/HEIF
    is read with pillow-heif. Raises ImageInputError for non-images, truncated files, decompression bombs and empty
    images. Animated images give their first frame.
    """
    if src is None:
        raise ImageInputError("No image given: upload or draw one first.")
    limit = MAX_PHOTO_PIXELS if draft else MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(src, Image.Image):
                im = src
            elif isinstance(src, np.ndarray):
                im = _from_array(src)
            elif isinstance(src, (bytes, bytearray, str, os.PathLike)):
                if isinstance(src, (bytes, bytearray)):
                    fp = io.BytesIO(src)
                elif not Path(src).is_file():
                    raise ImageInputError(f"File not found: {src}")
                else:
                    fp = io.BytesIO(Path(src).read_bytes())
                im = _open_photo(fp, draft) or Image.open(fp)
            else:
                raise ImageInputError(f"Unsupported image input of type {type(src).__name__}.")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"Image too large: more than {limit:,} pixels. Downscale it first.") from None
    except UnidentifiedImageError:
        raise ImageInputError("Not an image file (or an unsupported format). "
                              "Use PNG, JPEG, HEIC, GIF, BMP, TIFF or WebP.") from None
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


def to_mode(im: Image.Image, channels: int, background: int = 0) -> Image.Image:
    """Grayscale (1) or RGB (3); transparency is composited onto ``background`` (0 black, 255 white), 16-bit
    scaled to 8-bit."""
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
        bg = Image.new("RGBA", im.size, (background,) * 3 + (255,))
        im = Image.alpha_composite(bg, im.convert("RGBA"))
    return im.convert("L" if channels == 1 else "RGB")


def image_to_tensor(src, size: int, channels: int = 1, *, background: int = 0, pad: bool = False) -> torch.Tensor:
    """Any image -> (C, size, size) float tensor in [-1, 1]: centre-crop to square (``pad``: pad to square with
    ``background`` instead, keeping the whole picture), then resize; transparency composited onto ``background``."""
    im = to_mode(open_image(src, draft=4 * size), channels, background)  # a phone JPEG decodes at reduced scale
    method = Image.Resampling.BICUBIC if min(im.size) > size else Image.Resampling.BILINEAR
    if pad:
        fill = background if channels == 1 else (background,) * 3
        im = ImageOps.pad(im, (max(im.size),) * 2, color=fill).resize((size, size), method, reducing_gap=3.0)
    else:
        im = ImageOps.fit(im, (size, size), method=method)
    a = from_uint8(np.asarray(im))
    return a[None] if channels == 1 else a.permute(2, 0, 1)


def model_input(src, channels: int, size: int) -> torch.Tensor:
    """Any upload or drawing -> (C, size, size) in [0, 1], the input every tab gives a model: MNIST's digit pipeline
    (:func:`prepare_digit`) for 1x28 models; for colour (3-channel) models the whole picture, transparency
    composited onto white (colour training data, emoji, sits on white) and padded with white to a square, resized
    to ``size``; a plain centre-crop and resize otherwise. An imggen PNG that carries its exact input (``"input"``
    in its recipe, e.g. a Complete or Reconstruct output) gives that input back unchanged."""
    if channels not in (1, 3):
        raise ValueError(f"a model input has 1 (grey) or 3 (RGB) channels, not {channels}")
    exact = recipe_input(src, (channels, size, size))
    if exact is not None:
        return exact
    if (channels, size) == (1, 28):
        x = prepare_digit(src)
    elif channels == 3:
        x = image_to_tensor(src, size, 3, background=255, pad=True)
    else:
        x = image_to_tensor(src, size, channels)
    return to01(x)


def recipe_input(src, shape: tuple[int, int, int]) -> torch.Tensor | None:
    """The exact input stored in an imggen PNG's recipe when it has ``shape`` (its ``input``, or one of its
    ``inputs``: those of models of other shapes); else None (never raises for files that are not imggen PNGs)."""
    if not isinstance(src, (str, os.PathLike, bytes, bytearray, Image.Image)):
        return None
    from .convert import read_recipe, unpack_tensor

    try:
        if isinstance(src, Image.Image):
            rec = read_recipe(src)
        else:
            fp = io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else open(src, "rb")
            with fp, Image.open(fp) as im:
                rec = read_recipe(im) if im.format == "PNG" else {}
        if not isinstance(rec, dict):
            return None
        extra = rec.get("inputs") if isinstance(rec.get("inputs"), list) else []  # models of other shapes
        for packed in [rec.get("input"), *extra[:8]]:
            if isinstance(packed, dict) and list(packed.get("shape") or []) == list(shape):
                return unpack_tensor(packed, shape=shape)
        return None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


# ==== digits: photos, scans and drawings -> MNIST-style inputs =============================================
DIGIT_WORK_SIZE = 400  # long side the pipeline works at (photos are downscaled first)
MNIST_STROKE = 2.8  # MNIST's median stroke width in pixels of the 28x28 image (ink > 0.5; 10-90%: 1.9-3.9)


def prepare_digit(src) -> torch.Tensor:
    """A photo, scan or drawing of one digit -> (1, 28, 28) tensor in [-1, 1], made the way MNIST was:
    EXIF orientation, grayscale, automatic inversion of dark ink on light paper, background/contrast
    normalisation, the digit found among the ink (see ``find_digit``), its strokes brought toward MNIST's width,
    fit into 20x20 keeping aspect, centre of mass at the centre.

    Raises ImageInputError for non-images, images smaller than 8x8, blank canvases (no ink) and photos that hold
    several separate digits.
    """
    im = open_image(src, draft=2 * DIGIT_WORK_SIZE)
    if min(im.size) < 8:
        raise ImageInputError(f"The image is too small ({im.width}x{im.height} pixels); a digit needs at least 8x8.")
    a = _normalise_ink(_digit_gray(im))
    box = _stroke_width(find_digit(a))
    if not (box > 0.25).any():
        raise ImageInputError("No ink found: only a few faint pixels differ from the background.")
    return from01(torch.from_numpy(_centre_28(box))[None])


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
        im = im.reduce(max(1, int(1 / scale) // 2)) if scale < 0.25 else im  # cheap integer shrink first
        scale = DIGIT_WORK_SIZE / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float32) / 255.0


def _border(a: np.ndarray) -> np.ndarray:
    m = max(1, min(a.shape) // 20)
    return np.concatenate([a[:m].ravel(), a[-m:].ravel(), a[:, :m].ravel(), a[:, -m:].ravel()])


def _normalise_ink(a: np.ndarray) -> np.ndarray:
    """Grayscale in [0, 1] -> ink ~1 on background exactly 0: dark ink on light paper is inverted, uneven light
    (shadows, gradients, a dark table beyond the paper's edge) removed against the local background."""
    if min(a.shape) < 64:  # icons, tiny drawings: light border = dark ink
        a = 1.0 - a if np.median(_border(a)) > 0.5 else a
    else:
        # which is ink, the darker or the lighter outliers? A light border says dark ink; else asked of a high-pass
        # image (a large shadow, which can darken the border, drops out)
        from scipy import ndimage

        hp = a - ndimage.uniform_filter(a, size=max(3, min(a.shape) // 6), mode="nearest")
        med = np.median(hp)
        dark = np.median(_border(a)) > 0.5 or med - np.percentile(hp, 0.5) >= np.percentile(hp, 99.5) - med
        if np.percentile(_border(a), 95) < 0.1 and np.median(a) < 0.2:  # a black canvas (a rendered or upscaled
            dark = False  # MNIST-style digit): light ink, whatever the high-pass says of a large bold digit
        x = a if dark else 1.0 - a
        # dark ink on light paper: ink = how much darker than the paper around it, as a fraction (shadows and uneven
        # light dim paper and ink alike: a ratio removes them, a difference does not). The paper is estimated over a
        # window 3x the stroke width (wider would cut into shadows, narrower leaves strokes hollow); the width is
        # measured on a first estimate over half the image.
        w = 3 * _stroke_px(1.0 - x / np.maximum(_background(x, min(x.shape) // 2), 0.05)) + 3
        a = 1.0 - x / np.maximum(_background(x, int(np.clip(w, min(x.shape) // 10, min(x.shape) // 2))), 0.05)
    bg = np.median(a)
    ink = np.percentile(a, 99.5)
    if ink - bg < 0.3:  # a thin pen on a big page: under 0.5% of the pixels are ink
        ink = max(ink, np.percentile(a, 99.9))
    if ink - bg < 0.08:
        raise ImageInputError("No ink found: the image looks blank. Draw or photograph a digit with a dark pen "
                              "on light paper (or light on dark).")
    a = np.clip((a - bg) / (ink - bg), 0, 1)
    a = np.clip((a - 0.15) / 0.85, 0, 1)  # threshold paper grain / sensor noise
    if (a > 0.25).sum() < 3:
        raise ImageInputError("No ink found: only a few faint pixels differ from the background.")
    return a


def _background(a: np.ndarray, w: int) -> np.ndarray:
    """The paper under dark ink: a grey closing with a w x w square, which erases every stroke narrower than w and
    keeps the sharp edges of shadows and of a table beyond the paper; lightly smoothed."""
    from scipy import ndimage

    return ndimage.uniform_filter(ndimage.grey_closing(a, size=(max(w, 3),) * 2, mode="nearest"), size=5, mode="nearest")


def _stroke_px(ink: np.ndarray) -> float:
    """Median stroke width (px) of the ink: twice the distance to the background along the strokes' skeleton."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    m = ink > 0.5 * np.percentile(ink, 99.5)
    sk = skeletonize(m)
    return 2.0 * float(np.median(ndimage.distance_transform_edt(m)[sk])) if sk.any() else 1.0


def find_digit(a: np.ndarray) -> np.ndarray:
    """Normalised ink (H, W) in [0, 1] -> the crop of the one digit in it, other marks erased.

    The ink is split into connected components; long straight rules (ruled or squared paper, a margin line) are
    taken out first, then specks and blobs that touch the border (the paper's edge, a shadow) are dropped while
    anything else remains. The digit is the largest component (weighted toward the centre) with the fragments near
    it (the bar of a 5, a broken stroke). Other components as large as the digit: ImageInputError ("crop to one").
    """
    from scipy import ndimage

    H, W = a.shape
    mask = a > 0.3
    lines = _rule_lines(mask)
    lab, n = ndimage.label(mask & ~lines, structure=np.ones((3, 3)))
    if n == 0:
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        lines = np.zeros_like(mask)
    idx = np.arange(1, n + 1)
    area = ndimage.sum_labels(mask, lab, idx)
    boxes = ndimage.find_objects(lab)
    big = area.max()
    keep = area >= max(0.04 * big, 4e-5 * H * W)  # specks
    edge = np.array([b[0].start == 0 or b[1].start == 0 or b[0].stop == H or b[1].stop == W
                     or _edge_strip(b, H, W) for b in boxes])
    if (keep & ~edge).any():  # the paper's edge, a shadow's rim, a neighbour's digit cut by the frame
        keep &= ~edge
    cand = np.flatnonzero(keep)
    cy = np.array([(b[0].start + b[0].stop) / 2 for b in boxes]) / H - 0.5
    cx = np.array([(b[1].start + b[1].stop) / 2 for b in boxes]) / W - 0.5
    score = area * np.exp(-(cy ** 2 + cx ** 2) / 0.18)
    main = cand[np.argmax(score[cand])]
    group = {main}
    y0, y1, x0, x1 = boxes[main][0].start, boxes[main][0].stop, boxes[main][1].start, boxes[main][1].stop
    changed = True
    while changed:  # absorb the fragments near the group: gaps under 15% of its size
        changed = False
        size = max(y1 - y0, x1 - x0)
        for k in cand:
            if k in group:
                continue
            b = boxes[k]
            gap = max(b[0].start - y1, y0 - b[0].stop, b[1].start - x1, x0 - b[1].stop, 0)
            overlap = min(b[1].stop, x1) - max(b[1].start, x0)  # stacked pieces (a 5's bar, a broken 2)
            stacked = overlap >= 0.5 * min(b[1].stop - b[1].start, x1 - x0) and gap <= 0.35 * size
            if stacked or (gap <= 0.15 * size and (area[k] < 0.5 * area[main] or gap <= 0.02 * size)):
                group.add(k)
                y0, y1 = min(y0, b[0].start), max(y1, b[0].stop)
                x0, x1 = min(x0, b[1].start), max(x1, b[1].stop)
                changed = True
    h_main = boxes[main][0].stop - boxes[main][0].start
    hw = [(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes]
    others = [k for k in cand if k not in group and area[k] >= 0.3 * area[main] and hw[k][0] >= 0.5 * h_main
              and max(hw[k]) <= 5 * min(hw[k])]
    if others:
        raise ImageInputError(f"This photo holds {len(others) + 1} separate digits; crop it to one digit.")
    sel = np.isin(lab, [k + 1 for k in group])
    if lines.any():  # where a stroke crossed a rule, restore the rule's pixels between the stroke's two ends
        sel |= lines & (ndimage.binary_closing(sel, np.ones((7, 1))) | ndimage.binary_closing(sel, np.ones((1, 7))))
    sel = ndimage.binary_dilation(sel, np.ones((3, 3)))  # the strokes' anti-aliased rims
    return (a * sel)[y0:y1, x0:x1]


def _edge_strip(b, H: int, W: int) -> bool:
    """A component lying along one side of the image, long and within its outer 15%: the rim of the paper's edge
    or of a shadow that the background subtraction left."""
    h, w = b[0].stop - b[0].start, b[1].stop - b[1].start
    return ((w >= 0.3 * W and w >= 3 * h and (b[0].stop <= 0.15 * H or b[0].start >= 0.85 * H))
            or (h >= 0.3 * H and h >= 3 * w and (b[1].stop <= 0.15 * W or b[1].start >= 0.85 * W)))


def _rule_lines(mask: np.ndarray) -> np.ndarray:
    """Pixels of long straight lines that cross most of the image (paper rules, margins), up to ~6 degrees off
    horizontal or vertical, found with a Hough transform; a digit's own strokes are shorter."""
    from skimage.transform import hough_line, hough_line_peaks

    H, W = mask.shape
    out = np.zeros_like(mask)
    if min(H, W) < 64 or not mask.any():
        return out
    yy, xx = np.mgrid[0:H, 0:W]
    for angles, extent in ((np.deg2rad(np.linspace(84, 96, 13)), W), (np.deg2rad(np.linspace(-6, 6, 13)), H)):
        acc, th, rho = hough_line(mask, theta=angles)
        for _, t, r in zip(*hough_line_peaks(acc, th, rho, min_distance=3, threshold=0.6 * extent, num_peaks=60)):
            dist = np.abs(xx * np.cos(t) + yy * np.sin(t) - r)
            on = mask & (dist <= 2.5)
            along = (xx if extent == W else yy)[on]
            # a rule is long and thin: beside it (4-7 px off) lies paper, but for the strokes that cross it; beside
            # a straight side of a big digit (a tight crop) lies more of the stroke
            beside = (mask & (dist > 3.5) & (dist <= 7.5)).sum()
            if along.size and along.max() - along.min() >= 0.7 * extent and beside < 0.5 * on.sum():
                out |= on
    return out


def _stroke_width(box: np.ndarray) -> np.ndarray:
    """Thicken thin strokes so that, once the crop is fit into 20x20, they are about MNIST's width."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    m = box > 0.5
    length = skeletonize(m).sum()
    if length < 3:
        return box
    width = m.sum() / length  # stroke width in crop pixels
    s = 20.0 / max(box.shape)
    target = MNIST_STROKE / s
    r = int(round((target - width) / 2))
    box = np.pad(box, max(r, 0) + 1)
    if r >= 1:  # thin pens only: thick ones are left as they are (MNIST has bold digits; thinning breaks loops)
        box = ndimage.grey_dilation(box, footprint=_disk(r))
    ys, xs = np.nonzero(box > 0.05)
    return box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] if ys.size else box


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r + r


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
