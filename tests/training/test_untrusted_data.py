"""Issue 24: uploaded folders/zips are untrusted: pixel and time budgets, Stop, bad zips, cheap JPEG decoding."""
import io
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from imggen import data
from imggen.data import DataBudgetError, DecodeCancelled, ZipError, load_data, zip_bytes

import imagefiles


def blank_png(w: int, h: int) -> bytes:
    """A valid all-black grayscale PNG, built with zlib (no 16 MP array in memory)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (w + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def deflated_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


def small_zip(tmp_path, n=12, name="small.zip") -> str:
    path = tmp_path / name
    path.write_bytes(zip_bytes({f"{i:03d}.png": imagefiles.gray_png() for i in range(n)}))
    return str(path)


def test_zip_of_600_blank_4096px_pngs_is_refused_from_headers_in_milliseconds(tmp_path):
    png = blank_png(4096, 4096)
    raw = deflated_zip({f"blank/{i:03d}.png": png for i in range(600)})
    assert len(raw) < 250_000  # the issue's ~143 KB bomb: ~10 gigapixels once decoded
    path = tmp_path / "bomb.zip"
    path.write_bytes(raw)
    t = time.perf_counter()
    with pytest.raises(DataBudgetError, match="megapixels") as e:
        load_data(str(path), image_size=28)
    assert time.perf_counter() - t < 2.0
    assert isinstance(e.value, ValueError)
    with pytest.raises(DataBudgetError, match="more than 50 megapixels"):  # an explicit budget
        load_data(str(path), image_size=28, max_pixels=50_000_000)


def test_pixel_budget_counts_and_allows_what_fits(tmp_path):
    path = small_zip(tmp_path)  # 12 images of 40 x 30 = 14,400 pixels
    assert len(load_data(path, split="train", max_pixels=14_400)) + len(load_data(path, split="test")) == 12
    with pytest.raises(DataBudgetError):
        load_data(path, max_pixels=14_399)


def test_should_stop_cancels_before_the_next_image(tmp_path):
    path = small_zip(tmp_path, n=40)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 5

    t = time.perf_counter()
    with pytest.raises(DecodeCancelled) as e:
        load_data(path, should_stop=stop)
    assert time.perf_counter() - t < 2.0 and len(calls) == 6
    assert not isinstance(e.value, ValueError)  # callers tell a Stop from bad data
    calls.clear()
    with pytest.raises(DecodeCancelled):  # stopped while decoding (the second pass), not only in the header pass
        load_data(path, should_stop=lambda: calls.append(1) or len(calls) > 45)
    assert len(load_data(path, should_stop=lambda: False)) == 36


def test_deadline(tmp_path):
    path = small_zip(tmp_path)
    with pytest.raises(DataBudgetError, match="longer than the time allowed"):
        load_data(path, deadline=time.monotonic() - 1)
    assert len(load_data(path, deadline=time.monotonic() + 60)) == 11


def test_builtin_mnist_ignores_the_upload_limits(monkeypatch):
    monkeypatch.setattr(data, "_mnist5k", lambda split: data._digits(np.zeros((3, 784)), np.zeros(3), "mnist5k"))
    d = load_data("mnist5k", split="test", limit=3, should_stop=lambda: True, max_pixels=1, deadline=0.0)
    assert len(d) == 3


def test_oversized_images_are_skipped_and_counted(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"ok{i}.png").write_bytes(imagefiles.gray_png())
    (folder / "huge.png").write_bytes(imagefiles.bomb_png(20000, 20000))  # over PIL's 2x limit: an error there
    (folder / "big.png").write_bytes(imagefiles.bomb_png(5000, 4000))  # 20 MP: between 1x and 2x (a warning)
    d = load_data(str(folder))
    assert len(d) == 3 and d.skipped == 2 and d.oversized == 2
    for p in folder.glob("ok*"):
        p.unlink()
    with pytest.raises(ValueError, match=r"2 files could not be read, 2 of them larger than 16,777,216 pixels"):
        load_data(str(folder))


def _encrypted(raw: bytes) -> bytes:
    """Set the 'encrypted' flag (bit 0) in every local and central header, as a password-protected zip has."""
    b = bytearray(raw)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        for info in zf.infolist():
            b[info.header_offset + 6] |= 1
        start = zf.start_dir
    i = b.find(b"PK\x01\x02", start)
    while i >= 0:
        b[i + 8] |= 1
        i = b.find(b"PK\x01\x02", i + 4)
    return bytes(b)


def test_encrypted_zip_is_a_clear_error(tmp_path):
    path = tmp_path / "secret.zip"
    path.write_bytes(_encrypted(zip_bytes({"a.png": imagefiles.gray_png(), "b.png": imagefiles.gray_png()})))
    with zipfile.ZipFile(path) as zf:
        assert all(i.flag_bits & 1 for i in zf.infolist())
    with pytest.raises(ZipError, match=r"encrypted \(password-protected\); imggen reads plain zips only"):
        load_data(str(path))


def test_truncated_and_corrupt_zips_are_clear_errors(tmp_path):
    raw = deflated_zip({f"{i}.png": imagefiles.gray_png((64, 64)) for i in range(4)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ZipError, match="corrupt or truncated"):
        load_data(str(cut))
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        first = zf.infolist()[0]
        start = first.header_offset + 30 + len(first.filename)  # this entry's compressed bytes
    bad = bytearray(raw)
    bad[start + 5: start + 25] = bytes(20)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(bad))
    with pytest.raises(ZipError, match="the zip is corrupt"):
        load_data(str(broken))
    mangled = bytearray(raw)  # central directory overwritten
    cd = raw.rfind(b"PK\x01\x02")
    mangled[cd: cd + 4] = b"XXXX"
    (tmp_path / "mangled.zip").write_bytes(bytes(mangled))
    with pytest.raises(ZipError, match="corrupt"):
        load_data(str(tmp_path / "mangled.zip"))


def test_big_jpeg_decodes_at_reduced_scale(tmp_path):
    board = (np.indices((3, 4)).sum(0) % 2 * 255).astype(np.uint8)  # 1000 px squares once enlarged
    buf = io.BytesIO()
    Image.fromarray(board).resize((4000, 3000), Image.Resampling.NEAREST).convert("RGB").save(buf, "JPEG")
    raw = buf.getvalue()
    im = data._open_image(raw, 28, 1)
    assert im.size == (500, 375) and im.mode == "L"  # 1/8 scale: the short side still >= 4 x 28
    im = data._open_image(raw, 64, 3)
    assert im.size == (500, 375) and min(im.size) >= data.DRAFT_SCALE * 64
    path = tmp_path / "photos.zip"
    path.write_bytes(zip_bytes({f"{i}.jpg": raw for i in range(3)}))
    t = time.perf_counter()
    d = load_data(str(path), image_size=28, max_pixels=3 * 500 * 375)  # counted at the decoded (draft) size
    assert time.perf_counter() - t < 3.0 and len(d) == 3 and d.images.shape[1:] == (1, 28, 28)
    assert d.images.min() < -0.5 and d.images.max() > 0.5  # the checkerboard survived
