"""The digit pipeline: photos/scans/drawings -> MNIST-style (1, 28, 28) inputs, clear errors for bad input."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from imggen.data import load_data
from imggen.metrics import CLASSIFIER_PATH, classify
from imggen.preprocess import ImageInputError, prepare_digit
from tests import imagefiles

needs_classifier = pytest.mark.skipif(not CLASSIFIER_PATH.exists(), reason="shipped classifier missing")


@pytest.fixture(scope="module")
def digits():
    d = load_data("mnist5k", split="test")
    return d.images[:12], d.labels[:12]


def _ink01(img) -> np.ndarray:
    return ((img[0] + 1) / 2).numpy()  # (28, 28) white-on-black in [0, 1]


def phone_photo(img, size=300, seed=0) -> bytes:
    """Dark pen on unevenly lit off-white paper, JPEG, stored sideways with EXIF orientation 6."""
    big = np.asarray(Image.fromarray((_ink01(img) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC),
                     dtype=np.float32) / 255
    paper = 0.9 - 0.3 * np.linspace(0, 1, size)[None, :] + np.random.default_rng(seed).normal(0, 0.02, (size, size))
    photo = paper * (1 - big) + 0.12 * big
    rgb = np.clip(np.stack([photo, photo * 0.96, photo * 0.88], -1), 0, 1)
    im = Image.fromarray((rgb * 255).astype(np.uint8)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=85)
    return buf.getvalue()


@needs_classifier
def test_rotated_phone_photo_is_centred_white_on_black_and_read_correctly(digits):
    imgs, labels = digits
    out = torch.stack([prepare_digit(phone_photo(x, seed=i)) for i, x in enumerate(imgs)])
    assert out.shape == (len(imgs), 1, 28, 28) and out.min() >= -1 and out.max() <= 1
    ink = (out[:, 0] + 1) / 2
    assert ink[:, :2].max() < 0.05 and ink[:, :, :2].max() < 0.05  # black border: white ink on black
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    m = ink.sum((1, 2))
    cy, cx = (ink * yy).sum((1, 2)) / m, (ink * xx).sum((1, 2)) / m
    assert ((cy - 13.5).abs() < 1).all() and ((cx - 13.5).abs() < 1).all()  # centre of mass in the middle
    pred = classify(out)[1].argmax(1)
    assert (pred == labels).float().mean() >= 11 / 12, (pred, labels)


@needs_classifier
def test_exif_orientation_matters(digits):
    """Without honouring EXIF the sideways photo reads differently: the test above can fail."""
    imgs, labels = digits
    x = imgs[0]
    raw = Image.open(io.BytesIO(phone_photo(x)))
    sideways = prepare_digit(np.asarray(raw))  # pixels as stored, orientation tag dropped
    upright = prepare_digit(phone_photo(x))
    assert not torch.allclose(sideways, upright, atol=0.1)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def odd_formats(img):
    ink = (_ink01(img) * 255).astype(np.uint8)
    paper = Image.fromarray(255 - ink).resize((112, 112), Image.BILINEAR)  # dark ink on white
    rgba = Image.new("RGBA", (112, 112), (0, 0, 0, 0))
    rgba.putalpha(Image.fromarray(ink).resize((112, 112), Image.BILINEAR))  # black strokes on transparent canvas
    frames = [paper, Image.new("L", (112, 112), 255)]
    return {
        "cmyk-jpeg": _encode(paper.convert("CMYK"), "JPEG"),
        "png16": _encode(Image.fromarray((np.asarray(paper, dtype=np.uint16) * 257)), "PNG"),
        "palette": _encode(paper.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "rgba-transparent": _encode(rgba, "PNG"),
        "animated-gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "numpy-uint8-white-paper": np.asarray(paper),
    }


@needs_classifier
def test_odd_formats_give_the_right_digit(digits):
    imgs, labels = digits
    for i in range(3):
        for kind, src in odd_formats(imgs[i]).items():
            x = prepare_digit(src)
            assert x.shape == (1, 28, 28), kind
            assert classify(x[None])[1].argmax().item() == labels[i].item(), kind


@pytest.mark.parametrize("src, msg", [
    (imagefiles.one_pixel_png(), "too small"),
    (Image.new("L", (1, 1), 0), "too small"),
    (imagefiles.not_an_image(), "Not an image"),
    (imagefiles.truncated_png(), "damaged or truncated"),
    (imagefiles.bomb_png(), "too large"),
    (Image.new("RGB", (280, 280), (255, 255, 255)), "No ink"),  # blank white canvas
    (np.zeros((280, 280), np.uint8), "No ink"),  # blank black canvas
    (Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "No ink"),  # fully transparent canvas
    (None, "No image"),
    ("/no/such/file.png", "not found"),
])
def test_bad_inputs_are_clear_errors(src, msg):
    with pytest.raises(ImageInputError, match=f"(?i){msg}"):
        prepare_digit(src)


def test_awkward_files_never_crash():
    for make in (imagefiles.gray_png, imagefiles.rgb_jpeg, imagefiles.cmyk_jpeg, imagefiles.png16, imagefiles.rgba_png,
                 imagefiles.palette_png, imagefiles.exif_rotated_jpeg, imagefiles.animated_gif):
        try:
            x = prepare_digit(make())
        except ImageInputError as e:
            assert str(e)
        else:
            assert x.shape == (1, 28, 28) and torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1
