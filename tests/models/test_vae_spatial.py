"""A VAE with a spatial code (latent_channels > 0): flat latents outside, a K×s×s code inside; the FC default is
unchanged."""
from __future__ import annotations

import pytest
import torch

from imggen import checkpoint
from imggen.registry import build
from imggen.training.recipes import get


def test_spatial_code_is_flat_outside_and_local_inside(tmp_path):
    net = build("vae", channels=3, image_size=32, latent_dim=4 * 8 * 8, latent_channels=4, hidden=8,
                decoder="gaussian")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mu, logvar = net.encode(x)
    assert mu.shape == logvar.shape == (2, 256)
    assert net.decode(mu).shape == (2, 3, 32, 32) and net.sample(3).shape == (3, 3, 32, 32)
    out = net.loss(x)
    assert out["recon"].shape == out["kl"].shape == (2,)
    assert not any(isinstance(m, torch.nn.Linear) for m in net.modules())
    # a code entry in one corner changes the decoded corner, not the opposite one (3x3 convs, two 2x ups)
    z = torch.zeros(1, 256)
    dz = z.clone().view(1, 4, 8, 8)
    dz[0, :, 0, 0] = 3.0
    diff = (net.decode(dz.view(1, 256)) - net.decode(z)).abs()
    assert diff[..., :8, :8].sum() > 0 and diff[..., 16:, 16:].sum() == 0
    path = checkpoint.save(net, tmp_path / "v.safetensors", family="vae", config=net.config.__dict__)
    from imggen.registry import load

    assert torch.equal(load(str(path)).net.encode(x)[0], mu)


def test_bad_spatial_settings_are_clear_errors():
    with pytest.raises(ValueError, match="latent_dim 256, not 100"):
        build("vae", channels=3, image_size=32, latent_dim=100, latent_channels=4)
    with pytest.raises(ValueError, match="unconditional"):
        build("cvae", channels=3, image_size=32, latent_dim=256, latent_channels=4, num_classes=10)


def test_fc_default_unchanged():
    net = build("vae", latent_dim=32)
    assert net.config.latent_channels == 0 and any(isinstance(m, torch.nn.Linear) for m in net.modules())


def test_emoji_recipe_uses_the_spatial_code():
    r = get("vae-emoji32")
    net = build("vae", channels=3, image_size=32, **r.model)
    assert net.encode(torch.zeros(1, 3, 32, 32))[0].shape == (1, r.model["latent_dim"])
