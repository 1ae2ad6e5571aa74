"""Safetensors checkpoints that carry their config, recipe and metrics (diffusers save_pretrained, nanoGPT model_args)."""
from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import threading
from dataclasses import fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_model, load_model
from torch.overrides import TorchFunctionMode

from . import __version__

MAX_HEADER_BYTES = 8_000_000  # safetensors JSON header (shipped checkpoints: < 10 KB)
MAX_TENSORS = 4_096  # tensors in one checkpoint (shipped: < 100)
MAX_PARAMS = 50_000_000  # elements of all its tensors (shipped: < 5 million)
MAX_CONFIG_INT = 65_536  # any whole-number config setting (widths, layers, classes, leaves)


class CheckpointError(ValueError):
    """A file that is not a readable imggen safetensors checkpoint."""


def save(module: torch.nn.Module, path: str | os.PathLike, *, family: str, config: dict,
         name: str = "", metrics: dict | None = None, recipe: dict | None = None, card: dict | None = None) -> Path:
    """Write ``module`` weights + metadata atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": "imggen",
        "imggen_version": __version__,
        "family": family,
        "name": name or path.stem,
        "config": json.dumps(config),
        "metrics": json.dumps(metrics or {}),
        "recipe": json.dumps(recipe or {}),
        "card": json.dumps(card or {}),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_model(module, tmp, metadata=meta)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files; checkpoints are meant to be shared/served
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from e
    if len(head) < 9:
        raise CheckpointError(f"{path} is not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", head[:8])
    valid = 0 < n <= MAX_HEADER_BYTES and head[8:9] == b"{" and n + 8 <= path.stat().st_size
    # a safetensors header length can start with byte 0x80 too, so only an invalid header is called a pickle
    if not valid and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError(f"{path} looks like a pickle/torch.save file; imggen only loads safetensors "
                              "checkpoints (pickles can run code). Convert it with safetensors.torch.save_model.")
    if not valid:
        raise CheckpointError(f"{path} is not a valid safetensors file (bad header)")


def read_metadata(path: str | os.PathLike) -> dict:
    """The decoded metadata: family, name, config/metrics/recipe/card as dicts."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    _check_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {e}") from e
    if raw.get("format") != "imggen":
        raise CheckpointError(f"{path} is a safetensors file but not an imggen checkpoint (no imggen metadata)")
    meta = dict(raw)
    for key in ("config", "metrics", "recipe", "card"):
        meta[key] = json.loads(raw.get(key, "{}"))
    return meta


def tensor_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor in a safetensors file, read from its header (no weights are loaded)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            if len(keys) > MAX_TENSORS:
                raise CheckpointError(f"{path} holds {len(keys):,} tensors; imggen loads at most {MAX_TENSORS:,}")
            return {k: tuple(f.get_slice(k).get_shape()) for k in keys}
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {e}") from e


def check_config(family: str, config: dict, path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose config is out of range, too big, or would build a network other than the one
    its weights fit, before any real network is allocated: an uploaded file's config is untrusted (issue 24:
    268 bytes declaring a huge network grew the process by 450 MB). CheckpointError says what is wrong."""
    from .registry import FAMILIES, family_classes

    if family not in FAMILIES:
        raise CheckpointError(f"{path} declares an unknown model family {family!r}")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: its config is not a set of named settings")
    known = {f.name: f.default for f in fields(family_classes(family)[0])}
    for k, v in config.items():
        if k not in known:
            raise CheckpointError(f"{path}: its config has a setting {family} models do not know: {k!r}")
        d, shown = known[k], repr(v)[:40]
        if isinstance(d, bool) and not isinstance(v, bool) or isinstance(d, str) and not isinstance(v, str):
            raise CheckpointError(f"{path}: config setting {k!r} = {shown} is not a {type(d).__name__}")
        if isinstance(d, int) and not isinstance(d, bool) and (
                not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_CONFIG_INT):
            raise CheckpointError(f"{path}: config setting {k!r} = {shown} is out of range (a whole number from 0 "
                                  f"to {MAX_CONFIG_INT:,})")
        if isinstance(d, float) and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)):
            raise CheckpointError(f"{path}: config setting {k!r} = {shown} is not a finite number")
    shapes = tensor_shapes(path)
    total = sum(math.prod(s) for s in shapes.values())
    if total > MAX_PARAMS:
        raise CheckpointError(f"{path} holds {total:,} weights; imggen loads at most {MAX_PARAMS:,}")
    want = _meta_shapes(family, config, path, shapes)
    if want is not None and want != shapes:
        k = [k for k in want if want[k] != shapes.get(k)] or sorted(set(shapes) - set(want))
        k = k[0]
        raise CheckpointError(f"{path}: its config does not match its weights (the {family} network it declares "
                              f"has {len(want)} tensors, {sum(math.prod(s) for s in want.values()):,} weights; "
                              f"the file {len(shapes)}, {total:,}; first difference: {k!r}, shape "
                              f"{want.get(k, 'absent')} in the network, {shapes.get(k, 'absent')} in the file). "
                              "Not loaded.")


class _TooBig(Exception):
    pass


_meta_lock, _meta_left = threading.Lock(), threading.local()
_INIT_OPS = {getattr(torch.nn.init, n) for n in ("uniform_", "normal_", "trunc_normal_", "kaiming_uniform_",
                                                  "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
                                                  "orthogonal_")} | {torch.Tensor.normal_, torch.Tensor.uniform_}


class _MetaShapes(TorchFunctionMode):
    """Inside a meta-device build, give the ops that dominate its time their result's shape without running them:
    weight init, and normalize / mv / vdot (spectral norm's 15 power iterations per layer). On meta most ops
    run torch's Python decompositions (~0.3 ms each; their first use in a process imports torch's compiler stack,
    a few seconds once); values mean nothing there."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = args[0] if args else kwargs.get("tensor", kwargs.get("input"))
        if isinstance(t, torch.Tensor) and t.is_meta:
            if func in _INIT_OPS:
                return t
            if func is F.normalize:
                return kwargs["out"] if kwargs.get("out") is not None else t.new_empty(t.shape)
            if func is torch.mv:
                return t.new_empty(t.shape[:1])
            if func is torch.vdot:
                return t.new_empty(())
        return func(*args, **kwargs)


def _count_registration(module, name, value):
    left = getattr(_meta_left, "budget", None)  # [tensors, elements] this thread's meta build may still register
    if left is None or value is None or name in module._parameters or name in module._buffers:  # or re-assigned
        return
    left[0], left[1] = left[0] - 1, left[1] - value.numel()
    if min(left) < 0:
        raise _TooBig()


def _meta_shapes(family: str, config: dict, path, shapes: dict) -> dict[str, tuple[int, ...]] | None:
    """name -> shape of the state dict ``config`` builds, built on the meta device (no memory). The build stops
    as soon as it has registered far more parameters and buffers, or elements, than the file's tensors ``shapes``
    hold (a config declaring a bigger network than its weights: milliseconds, not seconds). None when the family
    cannot be built on meta (NotImplementedError; every family can today): then only the header checks protect
    it."""
    from torch.nn.modules import module as m

    from .registry import build

    with _meta_lock:  # the registration hooks are process-wide; each counts for its own thread only
        hooks = [m.register_module_parameter_registration_hook(_count_registration),
                 m.register_module_buffer_registration_hook(_count_registration)]
        # slack: spectral norm registers 5 tensors for its 4 (its weight twice), some buffers are not saved
        _meta_left.budget = [2 * len(shapes) + 64, 2 * sum(math.prod(s) for s in shapes.values()) + 1_000_000]
        try:
            with torch.device("meta"), _MetaShapes():
                net = build(family, **config)
            return {k: tuple(v.shape) for k, v in net.state_dict().items()}
        except _TooBig:
            raise CheckpointError(f"{path}: its config does not match its weights (it declares a far bigger {family} "
                                  f"network than the {len(shapes)} tensors the file holds). Not loaded.") from None
        except NotImplementedError:
            return None
        except Exception as e:
            raise CheckpointError(f"{path}: its config cannot build a {family} network: {e}") from None
        finally:
            _meta_left.budget = None
            for h in hooks:
                h.remove()


def load_weights(module: torch.nn.Module, path: str | os.PathLike, device: torch.device | str = "cpu") -> None:
    """Load weights into an already built module (strict)."""
    try:
        load_model(module, str(path), strict=True, device=str(device))
    except Exception as e:
        raise CheckpointError(f"{path}: weights do not match the model config: {e}") from e


def update_metadata(path: str | os.PathLike, module: torch.nn.Module, **fields) -> None:
    """Rewrite a checkpoint with merged metrics/card fields (used after evaluation)."""
    meta = read_metadata(path)
    for k, v in fields.items():
        if isinstance(meta.get(k), dict) and isinstance(v, dict):
            meta[k] = {**meta[k], **v}
        else:
            meta[k] = v
    save(module, path, family=meta["family"], config=meta["config"], name=meta["name"],
         metrics=meta["metrics"], recipe=meta["recipe"], card=meta["card"])
