"""Write assets/examples/: the one-click example uploads of the studio's tabs (deterministic).

Phone-style photos of MNIST test digits on paper (tests/photo_corpus.py, seeded), a clean scan-like digit and a
drawing-like PNG (dark strokes on white, as the Sketchpad makes). Each file is kept only if the upload pipeline
(imggen.preprocess.prepare_digit) and the project classifier (imggen.metrics.classify) read its digit right; the
digit is the second word of its name (``photo-3-ruled.jpg`` is a 3).

    .venv/bin/python scripts/make_examples.py
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "examples"
sys.path.insert(0, str(ROOT / "tests"))  # photo_corpus: the tests' procedural phone photos
sys.path.insert(0, str(ROOT))

PHOTOS = [(3, "ruled"), (7, "shadow"), (4, "perspective"), (5, "squared")]  # (digit, photo_corpus condition)
SCAN = 8
PHOTO_SIDE = 320  # long side of a shipped photo (px): a few KB, still a phone photo to the pipeline
MIN_CONFIDENCE = 0.9
# a "2" drawn as on the 280 px Sketchpad: a hook, a diagonal and a base line (x, y points of one stroke)
DRAWING_2 = [(88, 92), (104, 66), (136, 54), (170, 62), (188, 90), (182, 122), (156, 156), (120, 192), (90, 222),
             (110, 222), (150, 220), (196, 220)]


def read(data: bytes) -> tuple[int, float]:
    """(digit, probability) the upload pipeline and the project classifier give an encoded file."""
    from imggen.metrics import classify
    from imggen.preprocess import prepare_digit

    probs = classify(prepare_digit(data)[None])[1][0]
    return int(probs.argmax()), float(probs.max())


def _small_jpeg(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im.thumbnail((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, optimize=True)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _scan(img28: np.ndarray) -> bytes:
    """A flatbed scan: dark ink on slightly grey paper, 112 px, faint paper noise."""
    a = (np.asarray(img28, np.float32).reshape(28, 28) + 1) / 2  # white on black, [0, 1]
    big = np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((112, 112), Image.Resampling.BICUBIC))
    noise = np.random.default_rng(0).normal(0, 3, big.shape)
    page = 238 - big.astype(np.float32) * (238 - 30) / 255 + noise
    return _png(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L"))


def _drawing() -> bytes:
    im = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(im).line(DRAWING_2, fill=20, width=22, joint="curve")
    return _png(im)


def _first_read_right(label: int, make) -> tuple[bytes, int]:
    """The first test digit of ``label`` whose file (``make(img28, index)``) reads as ``label`` confidently."""
    from imggen.data import load_data

    test = load_data("mnist5k", split="test")
    for i in np.flatnonzero(test.labels.numpy() == label):
        data = make(test.images[i], int(i))
        digit, p = read(data)
        if digit == label and p >= MIN_CONFIDENCE:
            return data, int(i)
    raise SystemExit(f"no test digit {label} reads right")


def main() -> None:
    from photo_corpus import photo

    OUT.mkdir(parents=True, exist_ok=True)
    files = {}
    for label, cond in PHOTOS:
        files[f"photo-{label}-{cond}.jpg"] = _first_read_right(
            label, lambda img, i, cond=cond: _small_jpeg(photo(img, cond, seed=i)))
    files[f"scan-{SCAN}.png"] = _first_read_right(SCAN, lambda img, i: _scan(img))
    files["drawing-2.png"] = (_drawing(), None)
    for name, (data, index) in files.items():
        digit, p = read(data)
        want = int(name.split("-")[1].split(".")[0])
        if digit != want:
            raise SystemExit(f"{name} reads as {digit} ({p:.0%}), not {want}")
        (OUT / name).write_bytes(data)
        src = f"mnist5k test digit #{index}" if index is not None else "drawn strokes"
        print(f"{name}: {len(data) / 1024:.1f} KB, {src}, reads {digit} ({p:.1%})")


if __name__ == "__main__":
    main()
