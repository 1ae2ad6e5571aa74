"""Tiny GANs for tests: a build with a fixed seed, one saved and registered under a name, one thread per test."""
import pytest
import torch

from imggen import checkpoint
from imggen.registry import build

TINY = dict(latent_dim=8, g_width=8, d_width=8)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads; on a busy shared machine oversubscription costs minutes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(family="dcgan", **kw):
    torch.manual_seed(0)
    return build(family, **{**TINY, **kw})


def register_tiny(family: str, name: str, folder) -> str:
    """A tiny untrained model saved under ``folder`` and registered as ``name`` (for benches and imggen eval)."""
    from dataclasses import asdict

    from imggen import registry

    net = tiny(family)
    registry.register(name, checkpoint.save(net, folder / f"{name}.safetensors", family=family,
                                            config=asdict(net.config)))
    return name


def gen(seed=0):
    return torch.Generator().manual_seed(seed)

