"""Latent directions: measurements, discovery (unit, deterministic, labelled), recipes, disk cache."""
import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from imggen import checkpoint, latent, registry

FAST = dict(num_samples=300, sweep_bases=8)


def _overlap(c, lo, hi):
    return (torch.minimum(c + 0.5, hi) - torch.maximum(c - 0.5, lo)).clamp(0, 1)


class BarDecoder(nn.Module):
    """Test double with a known answer: two vertical strokes; z[0] sets their thickness (linearly), z[1] the
    gap between them (width), z[2] their length (height, ink); z[3:] do nothing. 32 px, so the digit
    classifier is not involved."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(channels=1, image_size=32, latent_dim=5)
        self.fc = nn.Linear(5, 4, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.diag(torch.tensor([1.5, 1.0, 0.8, 0.5])) @ torch.eye(4, 5))  # distinct SeFa order

    def decode(self, z, labels=None):
        p = self.fc(z)
        w = (2.5 + 0.3 * p[:, :1]).clamp(1.2, 4.5)  # stroke width
        gap = 6 + 3 * torch.tanh(p[:, 1:2])
        L = 16 + 5 * torch.tanh(p[:, 2:3])
        xs = torch.arange(32.0)[None]
        a, b = 16 - (gap + w) / 2, 16 + (gap + w) / 2
        cols = _overlap(xs, a - w / 2, a + w / 2) + _overlap(xs, b - w / 2, b + w / 2)
        rows = _overlap(xs, 16 - L / 2, 16 + L / 2)
        return (rows[:, :, None] * cols[:, None, :])[:, None] * 2 - 1


def _bar(x0, x1, y0=4, y1=24, size=28):
    img = -torch.ones(1, 1, size, size)
    img[..., y0:y1, x0:x1] = 1
    return img


def _tiny(family):
    torch.manual_seed(0)
    if family in ("dcgan", "cgan"):
        return registry.build(family, latent_dim=8, g_width=8, d_width=8).eval()
    return registry.build(family, latent_dim=6, hidden=8, fc_dim=16).eval()


def test_measurements_on_known_shapes():
    thin, thick = _bar(12, 14), _bar(10, 16)
    assert latent.thickness(thick) > latent.thickness(thin) * 2.5
    assert latent.ink(thick) > latent.ink(thin)
    assert torch.allclose(latent.height(thin), torch.tensor([20.0]), atol=0.1)  # sqrt(12 var) of a 20 px bar
    assert torch.allclose(latent.width(thick), torch.tensor([6.0]), atol=0.1)
    lean = -torch.ones(1, 1, 28, 28)
    for r in range(4, 24):  # "/" : the top row is furthest right
        c = 8 + (24 - r) // 2
        lean[..., r, c:c + 2] = 1
    assert latent.slant(lean) > 0.3 and latent.slant(thin).abs() < 1e-4
    assert set(latent.measure(thin, digits=True)) >= {"thickness", "digit 0", "digit 9"}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vae", "dcgan", "cgan"])
def test_directions_unit_and_deterministic(family):
    net = _tiny(family)
    a = latent.discover(net, **FAST)
    assert torch.allclose(a.vectors.norm(dim=1), torch.ones(len(a.vectors)), atol=1e-5)
    if family == "cgan":  # a second run (the slowest part of this file) once, on the conditional model
        b = latent.discover(net, **FAST)
        assert torch.equal(a.vectors, b.vectors) and a.names == b.names and a.attributes == b.attributes
    assert a.vectors.shape[1] == net.config.latent_dim and len(a.sliders) >= 6
    assert any(n.startswith("SeFa") for n in a.names) and any(n.startswith("GANSpace") for n in a.names)
    assert all(("↑ r=" in lab) or lab == "no measured change" for lab in (a.label(i) for i in a.sliders))


def test_sefa_is_eigenvectors_of_first_weight():
    net = _tiny("vae")
    W = net.decoder.fc[0].weight.detach()  # (F, D): the first layer the latent meets
    v = latent.sefa(net, 2)
    evecs = torch.linalg.eigh(W.T @ W).eigenvectors[:, -2:].flip(1).T
    assert torch.allclose((v * evecs).sum(1).abs(), torch.ones(2), atol=1e-4)


def _ink_change(net, vec, n=64):
    z = latent.prior_latents(net, n, torch.Generator().manual_seed(1))
    step = 1.5 * vec
    return (latent.ink(latent.decode(net, z + step)) - latent.ink(latent.decode(net, z - step))).mean().item()


def test_thickness_direction_increases_ink_known_case():
    net = BarDecoder()
    dirs = latent.discover(net, **FAST)
    thick = [i for i, a in enumerate(dirs.attributes) if a == "thickness"]
    assert thick, dirs.attributes
    assert any(i in dirs.sliders for i in thick)
    for i in thick:
        assert _ink_change(net, dirs.vectors[i]) > 0
        assert abs(float(dirs.vectors[i][0])) > 0.8  # the planted thickness axis
    sefa = {dirs.names[i]: i for i in range(len(dirs.names)) if dirs.names[i].startswith("SeFa")}
    assert dirs.attributes[sefa["SeFa 1"]] == "thickness"  # the first layer's strongest axis is z[0]
    assert "no measured change" in [dirs.label(i) for i in sefa.values()]  # the unused output


@pytest.mark.parametrize("name", ["vae-mnist", "dcgan-mnist"])
def test_thickness_direction_increases_ink_shipped(name):
    path = registry.CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"{name} not shipped")
    ex = latent.explorer(name)
    thick = [i for i, a in enumerate(ex.dirs.attributes) if a == "thickness"]
    if not thick:
        pytest.skip(f"no direction of {name} is labelled thickness: {ex.dirs.attributes}")
    assert sum(_ink_change(ex.net, ex.dirs.vectors[i]) for i in thick) / len(thick) > 0


@pytest.mark.slow
def test_recipe_round_trip_reproduces_pixels(tmp_path):
    net = _tiny("cgan")
    ex = latent.Explorer(net, latent.discover(net, **FAST), "tiny")
    values = [0.123456, -1.5, 2.999, 0, 0, 0.05, -0.25, 1][:ex.num_sliders]
    img = ex.render(7, values, label=3)
    text = latent.make_recipe("tiny", 7, values, label=3)
    r = latent.parse_recipe(text)
    assert r["model"] == "tiny" and r["seed"] == 7 and r["label"] == 3 and len(r["values"]) == len(values)
    assert torch.equal(ex.render(r["seed"], r["values"], r["label"]), img)
    assert not torch.equal(ex.render(8, values, label=3), img)
    assert latent.parse_recipe("a:b:c:1:0.5,0")["model"] == "a:b:c"  # names may contain ':'
    for bad in ("", "m:x:1", "m:1:a,b", "m:1:nan"):
        with pytest.raises(ValueError):
            latent.parse_recipe(bad)


@pytest.mark.slow
def test_sweep_moves_one_slider():
    net = _tiny("vae")
    ex = latent.Explorer(net, latent.discover(net, **FAST))
    vals = [0.0] * ex.num_sliders
    grid = ex.sweep(3, vals, 0, steps=5)
    assert grid.shape == (5, 1, 28, 28) and 0 <= grid.min() and grid.max() <= 1
    assert torch.allclose(grid[2:3], ex.render(3, vals), atol=1e-6)  # the middle step is the current value
    with pytest.raises(ValueError):
        ex.sweep(3, vals, 99)


@pytest.mark.slow
def test_cache_written_reused_and_invalidated(tmp_path, monkeypatch):
    net = _tiny("dcgan")
    ckpt = checkpoint.save(net, tmp_path / "tiny.safetensors", family="dcgan", config=vars(net.config))
    d1 = latent.directions_for(net, ckpt, **FAST)
    cache = latent.cache_path(ckpt)
    assert cache == tmp_path / "tiny.directions.json" and cache.exists()
    assert json.loads(cache.read_text())["key"] == d1.key

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(latent, "discover", boom)
    d2 = latent.directions_for(net, ckpt, **FAST)
    assert torch.equal(d1.vectors, d2.vectors) and d1.sliders == d2.sliders
    checkpoint.update_metadata(ckpt, net, metrics={"fd": 1.0}, card={"description": "re-evaluated"})
    assert latent.directions_for(net, ckpt, **FAST).key == d1.key  # a metadata rewrite keeps the cache
    monkeypatch.undo()
    with torch.no_grad():
        net.G.fc.weight.mul_(-1)
    checkpoint.save(net, ckpt, family="dcgan", config=vars(net.config))  # the checkpoint changes
    d3 = latent.directions_for(net, ckpt, **FAST)
    assert d3.key != d1.key and json.loads(cache.read_text())["key"] == d3.key


@pytest.mark.slow
def test_explorer_by_registered_name(tmp_path, monkeypatch):
    monkeypatch.setattr(latent, "DISCOVER_DEFAULTS", FAST)
    net = _tiny("ae")
    ckpt = checkpoint.save(net, tmp_path / "ae-tiny.safetensors", family="ae", config=vars(net.config))
    registry.register("ae-tiny-latent-test", ckpt)
    ex = latent.explorer("ae-tiny-latent-test")
    assert ex is latent.explorer("ae-tiny-latent-test")  # in-memory cache
    assert ex.render(0, [0.5] * ex.num_sliders).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match="unknown model"):
        latent.explorer("no-such-model")
