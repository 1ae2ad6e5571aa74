"""Device and mixed-precision selection in one place (nanoGPT train.py top block)."""
from __future__ import annotations

import os
from contextlib import nullcontext

import torch


def pick_device(name: str | None = None) -> torch.device:
    """CUDA when present, else CPU; ``IMGGEN_DEVICE`` (or ``name``) overrides."""
    name = name or os.environ.get("IMGGEN_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it, fp16 on older GPUs, none (fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast_ctx(device: torch.device, dtype: torch.dtype | None = None):
    """Autocast on CUDA, a no-op on CPU (fp32 there for correctness)."""
    dtype = dtype or amp_dtype(device)
    if device.type == "cpu" or dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def randn(*shape: int, generator: torch.Generator | None = None, device: torch.device | str | None = None):
    """N(0, 1) drawn on the generator's own device, then moved to ``device``: a CPU generator gives the same
    numbers for a CUDA model as for a CPU one, so a seed means the same image on every machine."""
    src = generator.device if generator is not None else device
    return torch.randn(*shape, generator=generator, device=src).to(device)


def rand(*shape: int, generator: torch.Generator | None = None, device: torch.device | str | None = None):
    """Like ``randn``: U[0, 1) drawn on the generator's device, then moved to ``device``."""
    src = generator.device if generator is not None else device
    return torch.rand(*shape, generator=generator, device=src).to(device)


def randint(high: int, shape: tuple, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Like ``randn``: integers in [0, high) drawn on the generator's device, then moved to ``device``."""
    src = generator.device if generator is not None else device
    return torch.randint(0, high, shape, generator=generator, device=src).to(device)


def multinomial(weights: torch.Tensor, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Like ``randn``: n indices drawn by ``weights`` (with replacement) on the generator's device, then moved."""
    src = generator.device if generator is not None else device
    if n == 0:  # torch.multinomial refuses to draw nothing
        return torch.zeros(0, dtype=torch.long, device=device)
    return torch.multinomial(weights.to(src), n, replacement=True, generator=generator).to(device)


def describe(device: torch.device, amp: bool = False) -> str:
    """What a model card records as hardware: "NVIDIA H200 (bf16 autocast)", "CPU, 2 threads"."""
    if device.type == "cuda":
        dtype = amp_dtype(device) if amp else None
        suffix = f" ({'bf16' if dtype == torch.bfloat16 else 'fp16'} autocast)" if dtype else ""
        return torch.cuda.get_device_name(device) + suffix
    n = torch.get_num_threads()
    return f"CPU, {n} thread{'s' * (n > 1)}"
