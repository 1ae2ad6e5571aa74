import numpy as np
import pytest
import torch
from PIL import Image

from imggen.preprocess import ImageInputError, image_to_tensor, open_image, to_mode

import imagefiles


@pytest.mark.parametrize("make,match", [
    (imagefiles.not_an_image, "Not an image"),
    (imagefiles.truncated_png, "damaged or truncated"),
    (imagefiles.bomb_png, "too large"),
    (lambda: b"", "Not an image"),
])
def test_bad_bytes_give_clear_errors(make, match):
    with pytest.raises(ImageInputError, match=match):
        open_image(make())


def test_bomb_is_refused_cheaply():
    raw = imagefiles.bomb_png()
    assert len(raw) < 2000  # the file is tiny; only its header claims 20000x20000
    with pytest.raises(ImageInputError, match="Downscale"):
        image_to_tensor(raw, 28)


def test_missing_file_and_none(tmp_path):
    with pytest.raises(ImageInputError, match="not found"):
        open_image(tmp_path / "nope.png")
    with pytest.raises(ImageInputError, match="No image"):
        open_image(None)
    with pytest.raises(ImageInputError, match="Unsupported"):
        open_image(12345)
    with pytest.raises(ImageInputError, match="empty"):
        open_image(np.zeros((0, 5), np.uint8))


def test_cmyk_jpeg():
    im = open_image(imagefiles.cmyk_jpeg())
    assert im.mode == "CMYK"
    rgb = np.asarray(to_mode(im, 3))
    assert rgb.shape == (32, 32, 3) and rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 60  # cyan-less red


def test_16bit_png_scaled_to_8bit():
    x = image_to_tensor(imagefiles.png16(), 28)
    expected = round(40000 / 65535 * 255) / 127.5 - 1
    assert x.shape == (1, 28, 28) and torch.allclose(x, torch.full_like(x, expected), atol=0.02)


def test_rgba_composited_on_black():
    a = np.asarray(to_mode(open_image(imagefiles.rgba_png()), 1))
    assert a[:, :10].min() == 255 and a[:, -10:].max() == 0


def test_palette_with_transparency():
    a = np.asarray(to_mode(open_image(imagefiles.palette_png()), 3))
    assert a.shape == (24, 24, 3) and a[:10].min() == 255 and a[-10:].max() == 0


def test_exif_orientation_applied():
    im = open_image(imagefiles.exif_rotated_jpeg())
    assert im.size == (20, 40)  # stored 40x20, displayed upright as 20x40
    a = np.asarray(im.convert("L"), dtype=float)
    assert a[:15].mean() > 200 and a[-15:].mean() < 60  # the white half moved from left to top


def test_one_pixel_image():
    x = image_to_tensor(imagefiles.one_pixel_png(), 32, channels=3)
    assert x.shape == (3, 32, 32) and torch.allclose(x, torch.ones_like(x))


def test_animated_gif_first_frame():
    import io

    assert Image.open(io.BytesIO(imagefiles.animated_gif())).n_frames == 3
    x = image_to_tensor(imagefiles.animated_gif(), 28)
    assert torch.allclose(x, torch.full_like(x, 60 / 127.5 - 1), atol=0.02)


@pytest.mark.parametrize("arr", [np.zeros((10, 12), np.uint8), np.ones((10, 12, 3), np.float32),
                                 np.full((10, 12, 4), 255, np.uint8), np.zeros((10, 12, 1), np.uint16)])
def test_arrays(arr):
    x = image_to_tensor(arr, 28, channels=3)
    assert x.shape == (3, 28, 28) and x.min() >= -1 and x.max() <= 1


def test_paths_and_pil(tmp_path):
    p = tmp_path / "g.png"
    p.write_bytes(imagefiles.gray_png())
    assert open_image(p).size == (40, 30) and open_image(str(p)).size == (40, 30)
    assert open_image(Image.new("RGB", (3, 4))).size == (3, 4)
