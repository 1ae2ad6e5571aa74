"""Safetensors checkpoints that carry their config, recipe and metrics (diffusers save_pretrained, nanoGPT model_args)."""
from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_model, load_model

from . import __version__


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
    valid = 0 < n <= 100_000_000 and head[8:9] == b"{" and n + 8 <= path.stat().st_size
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
