"""Tensor <-> PIL/numpy for outputs, in one place; PNGs carry their recipe as text metadata."""
from __future__ import annotations

import base64
import json
import uuid
import zlib

import numpy as np
import torch
from PIL import Image, PngImagePlugin


def to01(x: torch.Tensor) -> torch.Tensor:
    """Core range [-1, 1] -> public range [0, 1]."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def from01(x: torch.Tensor) -> torch.Tensor:
    """Public range [0, 1] -> core range [-1, 1]."""
    return x.float().clamp(0, 1) * 2 - 1


def from_uint8(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Pixel values 0..255 (uint8 or float, array or tensor, any shape) -> float32 tensor in the core range [-1, 1]."""
    x = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.array(a))
    return x.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) or (H, W) tensor in [0, 1] -> HxW or HxWx3 uint8 array."""
    x = x.detach().float().cpu().clamp(0, 1)
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)
    return (x * 255).round().to(torch.uint8).numpy()


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 0.2) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> one (C, H', W') grid image."""
    n = images.shape[0]
    nrow = nrow or max(1, int(np.ceil(np.sqrt(n))))
    return _make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=pad_value)


def _make_grid(x: torch.Tensor, nrow: int, padding: int, pad_value: float) -> torch.Tensor:
    """torchvision.utils.make_grid's layout (gray -> 3 channels, one image returned as is) without importing
    torchvision, whose import pulls in torch._dynamo and costs seconds of app start-up."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[0] == 1:
        return x[0].clone()
    n, C, H, W = x.shape
    cols, rows = min(nrow, n), int(np.ceil(n / min(nrow, n)))
    h, w = H + padding, W + padding
    out = torch.full((C, rows * h + padding, cols * w + padding), float(pad_value), dtype=x.dtype)
    for k in range(n):
        r, c = divmod(k, cols)
        out[:, r * h + padding:r * h + padding + H, c * w + padding:c * w + padding + W] = x[k]
    return out


def to_pil(x: torch.Tensor, *, scale: int = 1, recipe: dict | None = None) -> Image.Image:
    """(C, H, W) in [0, 1] -> PIL image (nearest-neighbour upscaled), with ``recipe`` stored for PNG text chunks.

    Gradio copies string ``info`` entries into PNG text chunks; the request id keeps bytes unique per call.
    """
    im = Image.fromarray(to_uint8(x))
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    if recipe is not None:
        im.info["imggen"] = json.dumps(recipe, sort_keys=True, default=str)
        im.info["request"] = uuid.uuid4().hex
    return im


def png_bytes(im: Image.Image) -> bytes:
    """Encode as PNG with every string in ``im.info`` as a text chunk."""
    import io

    meta = PngImagePlugin.PngInfo()
    for k, v in im.info.items():
        if isinstance(v, str):
            meta.add_text(k, v)
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=meta)
    return buf.getvalue()


def read_recipe(path_or_image) -> dict:
    """The recipe stored in an imggen PNG ({} when absent)."""
    im = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    raw = getattr(im, "text", {}).get("imggen") or im.info.get("imggen")
    return json.loads(raw) if raw else {}


# ---- exact tensors inside recipes ----------------------------------------------------------------------------
MAX_PACKED = 3 * 64 * 64  # values: the largest image a model takes (a 64-px RGB input)


def pack_tensor(x: torch.Tensor) -> dict:
    """A float tensor -> {"shape", "f32"} (zlib-compressed float32 bytes, base64) for a recipe: unpacked exactly."""
    a = x.detach().float().cpu().contiguous().numpy()
    return {"shape": list(a.shape), "f32": base64.b64encode(zlib.compress(a.tobytes(), 9)).decode("ascii")}


def unpack_tensor(d, *, shape: tuple[int, ...] | None = None, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`pack_tensor` for untrusted recipes: the size, the ``shape`` (when given), finiteness and the
    range [lo, hi] are checked before use; ValueError with a clear text otherwise."""
    try:
        dims = [int(v) for v in d["shape"]]
        n = int(np.prod(dims)) if dims else 1
        if not 0 < n <= MAX_PACKED or any(v < 1 for v in dims):
            raise ValueError
        z = zlib.decompressobj()
        raw = z.decompress(base64.b64decode(d["f32"], validate=True), 4 * n + 1)
        if len(raw) != 4 * n or z.unconsumed_tail:
            raise ValueError
    except (KeyError, TypeError, ValueError, zlib.error, base64.binascii.Error):
        raise ValueError("The recipe's stored image data is damaged (or not from imggen).") from None
    x = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy()).reshape(dims)
    if shape is not None and tuple(dims) != tuple(shape):
        raise ValueError(f"The recipe's stored image is {'x'.join(map(str, dims))}; this model takes "
                         f"{'x'.join(map(str, shape))}.")
    if not torch.isfinite(x).all() or x.min() < lo or x.max() > hi:
        raise ValueError("The recipe's stored image has values out of range.")
    return x
