"""Tiny colour models for tests: trained for two steps on emoji32 by the real training loop (which writes the card,
class names included) into a temporary folder and registered for the process, so no test waits on the shipped
emoji checkpoints."""
from pathlib import Path

import torch

from imggen import registry

TINY = {"cgan": dict(latent_dim=8, g_width=8, d_width=8), "vae": dict(latent_dim=8, hidden=8, fc_dim=32)}


def train_tiny_colour(folder: Path, families=("cgan", "vae")) -> dict[str, str]:
    """{family: registered name} of tiny 32-px RGB models (conditional on the 10 emoji categories for cgan)."""
    from imggen.data import load_data
    from imggen.train import TrainConfig, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = load_data("emoji32", limit=64)
        cfg = TrainConfig(max_steps=2, batch_size=16, eval_samples=0, num_grid=4, seed=0)
        names = {}
        for fam in families:
            name = f"test-colour-{fam}"
            path = Path(folder) / f"{name}.safetensors"
            for _ in train(fam, data, cfg, model_config=TINY[fam], out=path, name=name):
                pass
            registry.register(name, path, owner=None)
            names[fam] = name
        return names
    finally:
        torch.set_num_threads(threads)
