"""Small image files of every awkward kind, built in memory for data/preprocess tests."""
import io
import struct
import zlib

import numpy as np
from PIL import Image


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gray_png(size=(40, 30)) -> bytes:
    a = (np.arange(size[0] * size[1]) % 256).astype(np.uint8).reshape(size[1], size[0])
    return _save(Image.fromarray(a), "PNG")


def rgb_jpeg(size=(50, 50)) -> bytes:
    return _save(Image.new("RGB", size, (200, 30, 40)), "JPEG")


def cmyk_jpeg(size=(32, 32)) -> bytes:
    return _save(Image.new("CMYK", size, (0, 255, 255, 0)), "JPEG")


def png16(size=(20, 20)) -> bytes:
    a = np.full((size[1], size[0]), 40000, dtype=np.uint16)
    return _save(Image.fromarray(a), "PNG")  # uint16 -> mode I;16


def rgba_png(size=(30, 30)) -> bytes:
    im = Image.new("RGBA", size, (255, 255, 255, 0))
    im.paste((255, 255, 255, 255), (0, 0, size[0] // 2, size[1]))  # left half opaque white
    return _save(im, "PNG")


def palette_png(size=(24, 24)) -> bytes:
    im = Image.new("P", size, 0)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.paste(1, (0, 0, size[0], size[1] // 2))
    return _save(im, "PNG", transparency=0)


def exif_rotated_jpeg(size=(40, 20)) -> bytes:
    """Stored 40x20 (wide) with EXIF orientation 6: displayed upright it is 20x40 (tall)."""
    im = Image.new("L", size, 0)
    im.paste(255, (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(im, "JPEG", exif=exif.tobytes())


def animated_gif(size=(16, 16), frames=3) -> bytes:
    ims = [Image.new("L", size, 60 * (i + 1)) for i in range(frames)]
    return _save(ims[0], "GIF", save_all=True, append_images=ims[1:], duration=100, loop=0)


def one_pixel_png() -> bytes:
    return _save(Image.new("L", (1, 1), 255), "PNG")


def truncated_png() -> bytes:
    full = _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)), "PNG")
    return full[: len(full) // 2]


def not_an_image() -> bytes:
    return b"this is a text file, not a picture\n" * 10


def bomb_png(width=20000, height=20000) -> bytes:
    """A tiny valid-looking PNG whose header claims width x height (never decoded: refused before)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 1024)  # far too little data, but the size check comes first
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


GOOD = {  # name -> builder: every one must load
    "gray.png": gray_png, "rgb.jpg": rgb_jpeg, "cmyk.jpg": cmyk_jpeg, "deep16.png": png16, "rgba.png": rgba_png,
    "palette.png": palette_png, "rotated.jpg": exif_rotated_jpeg, "anim.gif": animated_gif, "dot.png": one_pixel_png,
}
BAD = {  # name -> builder: every one must be skipped/refused with a clear error
    "truncated.png": truncated_png, "text.png": not_an_image, "empty.jpg": lambda: b"", "bomb.png": bomb_png,
}
