"""A tiny text -> image model (the dalle family) for tests: trained for a few steps by the real training loop on 64
captioned emoji (half the steps on the tokenizer, half on the transformer) in a temporary folder and registered for
the process, so no test waits on the shipped checkpoint. Seconds on one thread."""
from pathlib import Path

import torch

from imggen import registry

TINY = dict(hidden=8, codes=16, code_dim=8, n_layer=1, n_head=2, n_embd=16, text_len=8)


def train_tiny_text(folder: Path, name: str = "test-t2i", steps: int = 4, **cfg_over) -> list:
    """Train and register ``name``; returns the loop's events (their sample grids included)."""
    from imggen.data import load_data
    from imggen.train import TrainConfig, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data("emoji32", limit=64)
        cfg = TrainConfig(**{**dict(max_steps=steps, batch_size=16, eval_samples=0, num_grid=8, seed=0), **cfg_over})
        path = Path(folder) / f"{name}.safetensors"
        events = list(train("dalle", data, cfg, model_config=TINY, out=path, name=name))
        registry.register(name, path, owner=None)
        return events
    finally:
        torch.set_num_threads(threads)
