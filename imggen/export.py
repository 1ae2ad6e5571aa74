"""Explorable decoders -> ONNX + a JSON sidecar, for decoding latents in the browser (onnxruntime-web).

The graph takes the slider state, not a latent: ``base`` (1, D) (a seed's latent or an inverted image's),
``alpha`` (1, K) slider values and, for conditional models, ``label`` (1,) int64; it computes
``z = base + scale * alpha @ V`` (V = the K slider directions) exactly as :meth:`imggen.latent.Explorer.latent`
does, runs the decoder and returns (1, C, H, W) in [0, 1] (``to01``). Pixels are ``round(255 * x)``, as in
:func:`imggen.convert.to_uint8`. Packages are cached by the directions' key (weights hash + discovery version)
plus :data:`EXPORT_VERSION`, so new weights build a new package; memory memo by ``registry.file_key``."""
from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import latent
from .convert import to01

OPSET = 17  # fixed: onnxruntime-web 1.30 runs it, and the legacy exporter writes it
EXPORT_VERSION = 1  # bump when the graph or sidecar changes: cached packages are rebuilt
CACHE_DIR = Path(os.environ.get("IMGGEN_BROWSER_CACHE", Path(__file__).resolve().parent.parent / "runs" / "browser"))
MAX_CACHED = 64  # packages kept on disk (visitors' models come and go; ~2 MB each), the least recently built dropped
MAX_IN_MEMORY = 24


class SliderDecoder(nn.Module):
    """(base, alpha[, label]) -> image in [0, 1]: the Explorer's latent arithmetic + the model's decoder."""

    def __init__(self, ex: latent.Explorer):
        super().__init__()
        self.net, self.conditional = ex.net, bool(ex.num_classes)
        self.register_buffer("vectors", ex.slider_vectors.detach().float().clone())
        self.scale = float(ex.scale)

    def forward(self, base, alpha, label=None):
        z = base + self.scale * (alpha @ self.vectors)
        return to01(self.net.decode(z, label if self.conditional else None))


@dataclass
class Package:
    onnx_path: Path
    meta: dict

    @property
    def onnx_bytes(self) -> int:
        return self.onnx_path.stat().st_size


def sidecar(ex: latent.Explorer, name: str) -> dict:
    """What the page needs besides the graph: shapes, slider labels and directions, sampler settings, pixel map."""
    c, d = ex.net.config, ex.dirs
    mean, std = latent.latent_prior(ex.net)
    return {"version": EXPORT_VERSION, "opset": OPSET, "key": d.key, "model": name,
            "latent_dim": int(c.latent_dim), "num_sliders": ex.num_sliders, "num_classes": ex.num_classes,
            "class_names": list(ex.class_names()) if ex.num_classes else [],
            "channels": int(c.channels), "height": int(c.image_size), "width": int(c.image_size),
            "inputs": ["base", "alpha"] + (["label"] if ex.num_classes else []), "output": "image",
            "scale": ex.scale, "round": latent.ROUND, "span": latent.SLIDER_SPAN,
            "slider_labels": d.slider_labels(), "directions": ex.slider_vectors.tolist(),
            "prior": {"mean": mean.tolist(), "std": std.tolist(),
                      "mixture": hasattr(ex.net, "prior_transform")},  # seeds' latents come from the server
            "pixels": "uint8 = round(255 * clamp(image, 0, 1)); image is NCHW float32 in [0, 1]"}


def export(ex: latent.Explorer, path: str | Path) -> Path:
    """Write ``ex``'s slider decoder to ``path`` (ONNX, opset :data:`OPSET`), checked by onnx.checker."""
    import onnx

    path = Path(path)
    mod = SliderDecoder(ex).eval()
    D, K = ex.net.config.latent_dim, ex.num_sliders
    args = (torch.zeros(1, D), torch.zeros(1, K))
    names = ["base", "alpha"]
    if ex.num_classes:
        args, names = args + (torch.zeros(1, dtype=torch.long),), names + ["label"]
    dev = next(ex.net.parameters()).device
    if dev.type != "cpu":
        raise ValueError("export a model loaded on the CPU (the browser package is built from CPU weights)")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(mod, args, str(tmp), input_names=names, output_names=["image"], opset_version=OPSET,
                          dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(tmp)))
    tmp.replace(path)
    return path


_packages: dict[tuple, Package] = {}
_lock = threading.Lock()


def package(name: str) -> Package:
    """The browser package of a registered model or checkpoint path: built once per weights, then cached on disk
    (``CACHE_DIR/<directions key>-e<EXPORT_VERSION>.{onnx,json}``) and in memory."""
    from . import registry

    ex = latent.explorer(name)
    fkey = registry.file_key(registry.resolve(name))
    with _lock:
        if fkey in _packages and _packages[fkey].onnx_path.exists():  # (pruned from disk: built again)
            return _packages[fkey]
        stem = f"{ex.dirs.key or latent.weights_hash(registry.resolve(name))}-e{EXPORT_VERSION}"
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        onnx_path, json_path = CACHE_DIR / f"{stem}.onnx", CACHE_DIR / f"{stem}.json"
        meta = sidecar(ex, str(name))
        if onnx_path.exists():
            onnx_path.touch()  # recently used: pruned last
        else:
            export(ex, onnx_path)
            prune(keep=onnx_path)
        json_path.write_text(json.dumps(meta))
        pkg = _packages[fkey] = Package(onnx_path, meta)
        while len(_packages) > MAX_IN_MEMORY:
            _packages.pop(next(iter(_packages)))
        return pkg


def prune(keep: Path | None = None, limit: int | None = None) -> int:
    """Drop the oldest packages beyond ``limit`` (default :data:`MAX_CACHED`) from the cache; how many went."""
    limit = MAX_CACHED if limit is None else limit
    onnx = sorted(CACHE_DIR.glob("*.onnx"), key=lambda f: f.stat().st_mtime, reverse=True)
    gone = 0
    for f in onnx[limit:]:
        if f != keep:
            f.unlink(missing_ok=True)
            f.with_suffix(".json").unlink(missing_ok=True)
            gone += 1
    return gone


def explorable() -> list[str]:
    """Registered models whose Explore tab decodes latents (those with a ``decode``)."""
    from . import registry

    return [n for n in registry.list_models() if hasattr(registry.load(n).net, "decode")]
