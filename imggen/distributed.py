"""torchrun/DDP helpers, EDM torch_utils/distributed.py style: rank 0 when not initialised."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> None:
    """Initialise the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag OR-ed over all ranks (one all-reduce), so every rank takes the same branch: a rank that
    stops, or rolls back a NaN step, alone would leave its peers waiting in the next collective forever."""
    if not is_dist():
        return tuple(bool(f) for f in flags)
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(f) for f in flags], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """DDP-wrap a module when distributed, else return it unchanged."""
    if not is_dist():
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = next(module.parameters()).device
    return DDP(module, device_ids=[dev.index] if dev.type == "cuda" else None, broadcast_buffers=False)

