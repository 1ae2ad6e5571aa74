"""Inverting a real digit into a model's latent space (imggen.invert), and the recipe that carries the latent."""
from __future__ import annotations

import pytest
import torch

from imggen import checkpoint, invert, latent, registry
from imggen.data import load_data

FAST = dict(num_samples=300, sweep_bases=8)


@pytest.fixture(scope="module")
def digits():
    d = load_data("mnist5k", split="test", limit=8)  # held out: never trained on
    return (d.images + 1) / 2, d.labels


def shipped(name):
    if name not in registry.model_paths():
        pytest.skip(f"{name} is not shipped")
    return registry.load(name, device="cpu")


def test_encoder_inversion_is_the_posterior_mean_and_reconstructs(digits):
    x, _ = digits
    m = shipped("vae-mnist")
    psnrs = []
    for i in range(len(x)):
        r = invert.invert(m, x[i:i + 1])
        assert r.method == "encoder" and r.label is None and r.z.shape == (1, m.config.latent_dim)
        assert torch.equal(r.z, m.net.encode(x[i:i + 1] * 2 - 1)[0])
        assert r.mse == pytest.approx(float((r.recon - x[i:i + 1]).pow(2).mean()))
        psnrs.append(r.psnr)
    # 22.3 dB mean measured on these 8 (bench/results/invert.md: 22.5 over 50); a broken encoder path gives < 12
    assert sum(psnrs) / len(psnrs) > 19 and min(psnrs) > 16


def test_conditional_vae_takes_the_classifier_class_or_the_given_one(digits):
    x, y = digits
    m = shipped("cvae-mnist")
    r = invert.invert(m, x[:1])
    assert r.label == int(y[0])  # the project classifier reads held-out digit 0 right
    assert invert.invert(m, x[:1], label=3).label == 3


@pytest.mark.slow
def test_gan_inversion_improves_and_is_deterministic(digits):
    x, _ = digits
    m = shipped("dcgan-mnist")
    steps = []
    a = invert.invert(m, x[1:2], seed=0, restarts=2, steps=40, on_step=lambda i, n: steps.append((i, n)))
    assert a.method == "optimisation" and steps[-1] == (40, 40) and len(steps) == 40
    assert a.mse < 0.5 * a.start_mse and a.psnr > 15
    b = invert.invert(m, x[1:2], seed=0, restarts=2, steps=40)
    assert torch.equal(a.z, b.z) and torch.equal(a.recon, b.recon)
    assert not torch.equal(invert.invert(m, x[1:2], seed=1, restarts=2, steps=40).z, a.z)


def test_conditional_gan_inverts_under_the_read_class(digits):
    x, y = digits
    m = shipped("cgan-mnist")
    r = invert.invert(m, x[2:3], restarts=1, steps=10)
    assert r.label == int(y[2]) and r.z.shape == (1, 64)


def test_tiny_cgan_without_classifier_tries_every_class(monkeypatch):
    net = registry.build("cgan", latent_dim=8, g_width=8, d_width=8, num_classes=3, image_size=28).eval()
    x = torch.rand(1, 1, 28, 28)
    r = invert.invert(net, x, restarts=2, steps=3)
    assert r.label in (0, 1, 2) and r.method == "optimisation"
    with pytest.raises(ValueError, match="class must be between 0 and 2"):
        invert.invert(net, x, label=5)


def test_bad_inputs():
    net = registry.build("vae", latent_dim=4, hidden=8, fc_dim=16).eval()
    with pytest.raises(ValueError, match="shape"):
        invert.invert(net, torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        invert.invert(net, torch.full((1, 1, 28, 28), 2.0))
    arf = shipped("arf-mnist")
    with pytest.raises(ValueError, match="no decoder"):
        invert.invert(arf, torch.rand(1, 1, 28, 28))


def test_recipe_with_latent_reproduces_an_edit_bit_for_bit(digits, tmp_path):
    x, _ = digits
    torch.manual_seed(0)
    net = registry.build("cvae", latent_dim=6, hidden=8, fc_dim=16, num_classes=10).eval()
    ex = latent.Explorer(net, latent.discover(net, **FAST), "tiny")
    r = invert.invert(net, x[:1], label=4)
    assert torch.equal(ex.render(r.z, [0.0] * ex.num_sliders, 4), r.recon)  # sliders at 0: the reconstruction
    values = [1.37, -0.5, 2.0, 0.01][:ex.num_sliders]
    img = ex.render(r.z, values, 4)
    text = latent.make_recipe("tiny", None, values, 4, latent=r.z)
    assert text.startswith("tiny:z=") and ":c4:" in text
    p = latent.parse_recipe(text)
    assert p["seed"] is None and p["label"] == 4 and p["values"] == values and torch.equal(p["latent"], r.z)
    assert torch.equal(ex.render(p["latent"], p["values"], p["label"]), img)
    assert torch.equal(latent.text_latent(latent.latent_text(r.z)), r.z)  # the PNG recipe's "latent" string
    assert not torch.equal(ex.render(r.z, [0.0] * ex.num_sliders, 4), img)  # the sliders did edit it
    with pytest.raises(ValueError, match="6"):
        ex.render(torch.zeros(1, 5), values, 4)


def test_old_recipes_still_parse_and_damaged_latents_are_refused():
    assert latent.parse_recipe("dcgan-mnist:42:0.5,-1.25") == {
        "model": "dcgan-mnist", "seed": 42, "label": None, "values": [0.5, -1.25], "latent": None}
    assert latent.parse_recipe("cgan-mnist:7:c3:1")["label"] == 3
    good = latent.latent_text(torch.ones(1, 4))
    for bad in ("m:z=not*base64:1", "m:z=AAA:1", f"m:z={latent.latent_text(torch.tensor([float('nan')]))}:1",
                f"m:z={latent.latent_text(torch.full((1, 2), 1e9))}:1", "m:z=:1"):
        with pytest.raises(ValueError, match="latent"):
            latent.parse_recipe(bad)
    assert latent.parse_recipe(f"m:z={good}:")["latent"].shape == (1, 4)
