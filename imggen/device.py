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


def cpu_quota() -> int:
    """CPU cores this process may use: ``IMGGEN_THREADS``, else the container's quota (cgroup v2 ``cpu.max``, v1
    ``cfs_quota_us``; Spaces also set ``CPU_CORES``), else the cores it is allowed to run on. ``os.cpu_count()``
    reports the host's cores inside a container, which oversubscribes a 2-vCPU Space."""
    env = os.environ.get("IMGGEN_THREADS") or os.environ.get("CPU_CORES")
    if env:
        try:
            return max(1, int(float(env)))
        except ValueError:
            pass
    quota = None
    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda s: s.split()),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda s: [s.strip(), open(
                            "/sys/fs/cgroup/cpu/cpu.cfs_period_us").read().strip()])):
        try:
            q, period = parse(open(path).read())
            if q not in ("max", "-1"):
                quota = max(1, int(int(q) / int(period)))  # 150000/100000 -> 1 core (never round up a share)
                break
        except (OSError, ValueError, IndexError):
            continue
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    return min(quota or allowed, allowed)


def set_app_threads(reserve: int = 1) -> int:
    """Once at start-up: torch threads for interactive requests = the CPU quota less ``reserve`` cores kept for
    the training worker (at least one). Returns the count set."""
    n = max(1, cpu_quota() - reserve)
    torch.set_num_threads(n)
    return n
