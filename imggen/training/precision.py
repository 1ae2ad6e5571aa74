"""Mixed precision for a training run, decided in one place (nanoGPT train.py: autocast + GradScaler)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ..device import amp_dtype, autocast_ctx


@dataclass(frozen=True)
class Precision:
    """bf16 autocast on GPUs that have it, fp16 autocast + loss scaling on older GPUs, fp32 on the CPU or with
    ``use_amp`` off. The loop runs every step under :meth:`step_ctx`; a trainer that scales its losses (the
    GANs) runs its forward passes under :meth:`autocast` and steps through :meth:`grad_scaler`."""
    device: torch.device
    dtype: torch.dtype | None  # None: fp32

    @classmethod
    def for_run(cls, device: torch.device, use_amp: bool = True) -> "Precision":
        return cls(device, amp_dtype(device) if use_amp else None)

    def autocast(self):
        """Autocast to ``dtype`` (a no-op in fp32)."""
        return autocast_ctx(self.device, self.dtype) if self.dtype else nullcontext()

    def step_ctx(self):
        """What the loop wraps every trainer step in: bf16 autocast only, since fp16 needs loss scaling, which
        only trainers built for it (``grad_scaler``) do."""
        return self.autocast() if self.dtype == torch.bfloat16 else nullcontext()

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled for fp16 only (bf16 and fp32 need none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
