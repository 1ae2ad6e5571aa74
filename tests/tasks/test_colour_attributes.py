"""Colour attributes (imggen.attributes) on synthetic shapes with known answers, hue as an angle, and the colour
directions of a tiny RGB model the training loop writes (cached next to its checkpoint, labelled by colour
attributes and emoji categories)."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from imggen import attributes, latent
from imggen.data import load_data
from imggen.train import TrainConfig, train


def shape(kind: str, rgb, r: float = 9.0, size: int = 32, aa: int = 4) -> torch.Tensor:
    """(1, 3, size, size) in [-1, 1]: a disc (radius r) or an axis-aligned square (half side r) of colour ``rgb``
    centred on white, anti-aliased by ``aa``x supersampling."""
    n = size * aa
    ys, xs = torch.meshgrid((torch.arange(n) + 0.5) / aa, (torch.arange(n) + 0.5) / aa, indexing="ij")
    c = size / 2
    m = ((xs - c) ** 2 + (ys - c) ** 2 <= r * r) if kind == "disc" else ((xs - c).abs() <= r) & ((ys - c).abs() <= r)
    m = F.avg_pool2d(m.float()[None, None], aa)[0]  # (1, size, size) coverage
    x01 = 1 - m * (1 - torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1))
    return (x01 * 2 - 1)[None]


def test_red_disc_vs_blue_square():
    disc, square = shape("disc", (1, 0, 0)), shape("square", (0, 0, 1))
    both = torch.cat([disc, square])
    h = attributes.hue(both)
    assert abs(h[0].item() - 0) < 0.5 or abs(h[0].item() - 360) < 0.5  # red
    assert abs(h[1].item() - 240) < 0.5  # blue
    rnd = attributes.roundness(both)
    assert 0.9 < rnd[0] < 1.05 and abs(rnd[1] - math.pi / 4) < 0.06 and rnd[0] > rnd[1] + 0.08
    area = torch.tensor([math.pi * 81, 18 * 18]) / 32 ** 2
    assert torch.allclose(attributes.size(both), area, rtol=0.06)  # its share of the image (edges count whole)
    assert torch.allclose(attributes.saturation(both), torch.ones(2), atol=0.1)
    assert attributes.brightness(both)[0] > attributes.brightness(both)[1]  # red's luma 0.30 > blue's 0.11
    assert attributes.size(shape("disc", (1, 0, 0), r=12)) > attributes.size(disc) * 1.7


def test_grey_dark_elongated_and_blank():
    grey = shape("disc", (0.5, 0.5, 0.5))
    assert attributes.saturation(grey) < 0.02 and abs(attributes.brightness(grey).item() - 0.5) < 0.05
    bar = torch.ones(1, 3, 32, 32)
    bar[..., 14:18, 4:28] = torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1)  # a green 24 x 4 bar on white
    assert attributes.roundness(bar) < 0.5 and abs(attributes.hue(bar).item() - 120) < 0.5
    blank = torch.ones(1, 3, 32, 32)
    assert attributes.size(blank) == 0 and attributes.roundness(blank) == 0


def test_hue_offsets_wrap_around_red():
    h = torch.tensor([350.0, 10.0, 0.0])
    off = attributes.offsets("hue", h)
    assert torch.allclose(off, torch.tensor([-10.0, 10.0, 0.0]), atol=1e-4)
    assert torch.equal(attributes.offsets("size", h), h)  # linear attributes unchanged
    sweep = torch.tensor([[340.0, 355.0, 10.0, 25.0]])  # one sweep through red: +15° per step
    assert torch.allclose(attributes.offsets("hue", sweep, dim=1), torch.tensor([[-22.5, -7.5, 7.5, 22.5]]),
                          atol=1e-3)


def test_measure_picks_the_attributes_by_channels():
    assert set(latent.measure(shape("disc", (1, 0, 0)))) == set(attributes.COLOUR_ATTRIBUTES)
    assert set(latent.measure(-torch.ones(1, 1, 28, 28))) == set(latent.ATTRIBUTES)  # grey: the digit's


@pytest.fixture(scope="module")
def tiny_colour(tmp_path_factory):
    """A tiny VAE on 32-px RGB emoji, trained for two steps by the loop and saved in a tmp dir."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("colour-dirs") / "vae-tiny-colour.safetensors"
    cfg = TrainConfig(max_steps=2, batch_size=16, eval_samples=0, num_grid=4, seed=0)
    for _ in train("vae", load_data("emoji32", limit=64), cfg, model_config=dict(latent_dim=8, hidden=8, fc_dim=32),
                   out=out, name="vae-tiny-colour"):
        pass
    torch.set_num_threads(threads)
    from imggen import registry

    return registry.load(str(out)).net, out


def test_directions_file_for_a_colour_model(tiny_colour):
    net, path = tiny_colour
    assert net.config.channels == 3 and latent.is_emoji_model(net)
    dirs = latent.directions_for(net, path, num_samples=300, sweep_bases=8)
    saved = json.loads(latent.cache_path(path).read_text())
    assert saved["key"] == dirs.key and saved["attributes"] == dirs.attributes
    cats = {f"category {c}" for c in latent.category_names()}
    assert set(dirs.attributes) <= set(attributes.COLOUR_ATTRIBUTES) | cats | {"none"}
    assert not set(dirs.attributes) & set(latent.ATTRIBUTES)  # never the digit attributes
    assert any(n.removeprefix("boundary ") in attributes.COLOUR_ATTRIBUTES for n in dirs.names)  # InterFaceGAN
    assert torch.allclose(dirs.vectors.norm(dim=1), torch.ones(len(dirs.vectors)), atol=1e-5)
    assert len(dirs.sliders) == latent.NUM_SLIDERS
    kinds = {dirs.attributes[i] for i in dirs.sliders} & set(attributes.COLOUR_ATTRIBUTES)
    first = [dirs.attributes[i] for i in dirs.sliders[:len(kinds)]]
    assert kinds and set(first) == kinds  # one slider for each colour attribute found comes first
    q = latent.direction_quality(net, dirs, num_samples=200, sweep_bases=8)
    assert len(q) == len(dirs.names) and all(math.isfinite(r["effect"]) for r in q)
    for row in q:  # "boundary hue" is measured on hue whatever it is labelled
        if row["direction"].startswith("boundary "):
            assert row["attribute"] == row["direction"].removeprefix("boundary ")
