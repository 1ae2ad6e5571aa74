"""A procedural corpus of phone photos of handwritten digits, for the upload pipeline's tests and bench/uploads.py.

MNIST test digits (``mnist5k``'s held-out split, never trained on) are drawn as pen strokes onto synthetic paper and
photographed under one condition each: ruled or squared paper, shadows and uneven light, perspective, blur, heavy JPEG,
specks, the paper's edge on a dark table, EXIF rotation, a large (12 MP) JPEG, HEIC, and a mix of several. Everything
is deterministic from (index, condition, seed); nothing is downloaded.

    photo(img, condition, seed) -> bytes   (an encoded file, as a visitor would upload it)
    corpus(n_per_condition, seed) -> iterator of (condition, index, label, bytes)
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

CONDITIONS = ("clean", "ruled", "squared", "shadow", "perspective", "blur", "jpeg", "specks", "edge", "exif",
              "large", "heic", "mixed")


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
    n = ndimage.gaussian_filter(rng.normal(0, 1, shape), sigma)
    return n / (n.std() + 1e-8)


def _pen(img28: np.ndarray, h: int, rng) -> np.ndarray:
    """MNIST digit (28x28 in [0, 1], white on black) -> pen stroke coverage (h x h in [0, 1]) at photo scale."""
    big = np.asarray(Image.fromarray((img28 * 255).astype(np.uint8)).resize((h, h), Image.BICUBIC), np.float32) / 255
    lo = rng.uniform(0.3, 0.5)  # a pen's edge is sharper than MNIST's anti-aliasing
    return np.clip((big - lo) / 0.25, 0, 1)


def _paper(rng, H, W) -> np.ndarray:
    """Off-white RGB paper with fibre texture and a gentle light gradient, (H, W, 3) in [0, 1]."""
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.86, 0.98)]) * rng.uniform(0.78, 0.95)
    tex = 1 + 0.015 * _smooth_noise(rng, (H, W), 2) + 0.01 * rng.normal(0, 1, (H, W))
    gy, gx = np.mgrid[0:H, 0:W] / max(H, W)
    light = 1 - rng.uniform(0, 0.12) * (np.cos(rng.uniform(0, 6.3)) * gx + np.sin(rng.uniform(0, 6.3)) * gy)
    return np.clip((tex * light)[..., None] * tint, 0, 1)


def _lines(rng, H, W, pitch, squared: bool) -> np.ndarray:
    """Printed rule lines (coverage in [0, 1]): horizontal every ``pitch`` px (+ vertical ones on squared paper)."""
    cov = np.zeros((H, W), np.float32)
    th = rng.uniform(1.0, 2.5)
    tilt = rng.uniform(-0.02, 0.02)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    d = np.mod(yy + tilt * xx + rng.uniform(0, pitch), pitch)
    cov = np.maximum(cov, np.clip(th / 2 + 0.5 - np.minimum(d, pitch - d), 0, 1))
    if squared:
        d = np.mod(xx - tilt * yy + rng.uniform(0, pitch), pitch)
        cov = np.maximum(cov, np.clip(th / 2 + 0.5 - np.minimum(d, pitch - d), 0, 1))
    elif rng.random() < 0.5:  # a red margin line
        x0 = rng.uniform(0.05, 0.2) * W
        cov = np.maximum(cov, np.clip(th / 2 + 0.5 - np.abs(xx - x0 + tilt * yy), 0, 1))
    return cov


def _render(img28, cond: str, rng) -> Image.Image:
    H, W = (int(rng.integers(480, 720)), int(rng.integers(480, 720)))
    paper = _paper(rng, H, W)
    h = int(min(H, W) * rng.uniform(0.3, 0.55))
    cy, cx = H / 2 + rng.uniform(-0.12, 0.12) * H, W / 2 + rng.uniform(-0.12, 0.12) * W
    y0, x0 = int(np.clip(cy - h / 2, 0, H - h)), int(np.clip(cx - h / 2, 0, W - h))
    cov = np.zeros((H, W), np.float32)
    cov[y0:y0 + h, x0:x0 + h] = _pen(img28, h, rng)
    ink = np.array([0.1, 0.1, 0.15]) if rng.random() < 0.5 else np.array([0.1, 0.15, 0.45])  # black or blue pen
    ink = ink * rng.uniform(0.6, 1.4)
    conds = {cond} if cond != "mixed" else set(rng.choice(["ruled", "squared", "shadow", "perspective", "blur",
                                                           "jpeg", "specks", "edge", "exif"], 3, replace=False))
    if "ruled" in conds or "squared" in conds:
        pitch = h * rng.uniform(0.25, 0.6) if "squared" in conds else h * rng.uniform(0.35, 0.7)
        lc = _lines(rng, H, W, pitch, "squared" in conds)
        colour = np.array([0.55, 0.7, 0.9]) if rng.random() < 0.7 else np.array([0.6, 0.6, 0.6])
        paper = paper * (1 - lc[..., None] * rng.uniform(0.3, 0.6)) + lc[..., None] * rng.uniform(0.3, 0.6) * colour * paper
    if "specks" in conds:
        for _ in range(int(rng.integers(8, 40))):
            r = rng.uniform(0.7, 0.012 * min(H, W))
            sy, sx = rng.uniform(0, H), rng.uniform(0, W)
            ya, yb, xa, xb = int(max(sy - r - 2, 0)), int(min(sy + r + 3, H)), int(max(sx - r - 2, 0)), int(min(sx + r + 3, W))
            yy, xx = np.ogrid[ya:yb, xa:xb]
            cov[ya:yb, xa:xb] = np.maximum(cov[ya:yb, xa:xb], np.clip(r + 0.5 - np.hypot(yy - sy, xx - sx), 0, 1)
                                           * rng.uniform(0.5, 1))
    photo = paper * (1 - cov[..., None]) + cov[..., None] * ink * paper.mean(-1, keepdims=True)
    if "shadow" in conds:  # a soft hand/phone shadow plus strong uneven light
        yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
        ang = rng.uniform(0, 6.3)
        edge = np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5) - rng.uniform(-0.3, 0.3)
        shade = 1 - rng.uniform(0.3, 0.55) / (1 + np.exp(-edge / rng.uniform(0.02, 0.08)))
        photo = photo * (shade * (1 - rng.uniform(0.1, 0.3) * xx))[..., None]
    if "edge" in conds:  # the paper ends: a dark table beyond a slightly tilted edge on one or two sides
        table = np.array([0.25, 0.17, 0.1]) * rng.uniform(0.5, 1.3) + 0.03 * rng.normal(0, 1, (H, W, 1))
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        for side in rng.choice(4, int(rng.integers(1, 3)), replace=False):
            t, m = rng.uniform(-0.05, 0.05), rng.uniform(0.04, 0.12)
            coord = {0: yy + t * xx - m * H, 1: (H - yy) + t * xx - m * H, 2: xx + t * yy - m * W,
                     3: (W - xx) + t * yy - m * W}[int(side)]
            off = np.clip(0.5 - coord, 0, 1)[..., None]
            photo = photo * (1 - off) + table * off
    im = Image.fromarray((np.clip(photo, 0, 1) * 255).astype(np.uint8))
    if "perspective" in conds:  # a phone held at an angle: each corner moved up to ~12% of the side
        d = rng.uniform(-0.12, 0.12, (4, 2)) * [W, H]
        src = np.array([[0, 0], [W, 0], [W, H], [0, H]], float) + d
        dst = np.array([[0, 0], [W, 0], [W, H], [0, H]], float)
        A = [[x, y, 1, 0, 0, 0, -u * x, -u * y] for (x, y), (u, v) in zip(dst, src)] + \
            [[0, 0, 0, x, y, 1, -v * x, -v * y] for (x, y), (u, v) in zip(dst, src)]
        b = [u for u, v in src] + [v for u, v in src]
        coeffs = np.linalg.solve(np.array(A, float), np.array(b, float))
        bg = tuple(int(c) for c in np.asarray(im)[H // 2, 2])
        im = im.transform((W, H), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC, fillcolor=bg)
    if "blur" in conds:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 0.006 * min(H, W) + 1.0)))
    return im, conds


def photo(img28, cond: str, seed: int = 0) -> bytes:
    """One encoded photo of ``img28`` (an MNIST digit, (28, 28) or (1, 28, 28), [-1, 1] tensor or [0, 1] array)."""
    a = np.asarray(img28, dtype=np.float32).reshape(28, 28)
    if a.min() < 0:
        a = (a + 1) / 2
    rng = np.random.default_rng([seed, CONDITIONS.index(cond)])
    im, conds = _render(a, cond, rng)
    buf = io.BytesIO()
    if cond == "large":  # a 12 MP phone photo: the same scene upsampled (camera resolution, not more detail)
        im = im.resize((4032, 3024), Image.Resampling.BILINEAR)
        im.save(buf, "JPEG", quality=88)
    elif cond == "heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        im.save(buf, "HEIF", quality=70)
    elif "exif" in conds:
        orient = int(rng.choice([3, 6, 8]))
        stored = im.transpose({3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                               8: Image.Transpose.ROTATE_270}[orient])
        exif = Image.Exif()
        exif[0x0112] = orient
        stored.save(buf, "JPEG", quality=int(rng.integers(15, 40)) if "jpeg" in conds else 85, exif=exif.tobytes())
    elif "jpeg" in conds:
        im.save(buf, "JPEG", quality=int(rng.integers(15, 40)))
    else:
        im.save(buf, "JPEG", quality=int(rng.integers(70, 95)))
    return buf.getvalue()


def corpus(n_per_condition: int, seed: int = 0, conditions=CONDITIONS, start: int = 0):
    """(condition, index into mnist5k's test split, label, photo bytes) for n digits under each condition; the
    digits differ between conditions (condition k takes test digits k*n .. k*n+n-1, wrapping at 500)."""
    from imggen.data import load_data

    d = load_data("mnist5k", split="test")
    for k, cond in enumerate(conditions):
        for j in range(n_per_condition):
            i = (start + CONDITIONS.index(cond) * n_per_condition + j) % len(d.images)
            yield cond, i, int(d.labels[i]), photo(d.images[i], cond, seed=seed * 100_000 + i)
