"""Explore with a colour model: the callbacks render RGB images and label the sliders by colour attributes (hue,
saturation, brightness, size, roundness, emoji category); a conditional colour model names its categories."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from imggen import attributes, latent, registry
from imggen.data import builtin_classes, load_data
from imggen.train import TrainConfig, train
from imggen.ui import explore as ex

NUM = ex.NUM
COLOUR = attributes.COLOUR_ATTRIBUTES


@pytest.fixture(scope="module")
def colour_models(tmp_path_factory):
    """A tiny VAE and conditional GAN on 32-px RGB emoji, two steps of the loop each, registered by name."""
    mp = pytest.MonkeyPatch()
    mp.setattr(latent, "DISCOVER_DEFAULTS", dict(num_samples=300, sweep_bases=8))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("explore-colour")
    cfg = TrainConfig(max_steps=2, batch_size=16, eval_samples=0, num_grid=4, seed=0)
    names = {}
    for fam, kw in (("vae", dict(latent_dim=8, hidden=8, fc_dim=32)), ("cgan", dict(latent_dim=8, g_width=8, d_width=8))):
        name = f"explore-colour-{fam}"
        for _ in train(fam, load_data("emoji32", limit=64), cfg, model_config=kw, out=d / f"{name}.safetensors",
                       name=name):
            pass
        registry.register(name, d / f"{name}.safetensors", owner=None)
        names[fam] = name
    torch.set_num_threads(threads)
    yield names
    for name in names.values():
        registry.unregister(name, owner=None)
    mp.undo()


def rgb(img) -> np.ndarray:
    im = img if isinstance(img, Image.Image) else Image.open(img["path"] if isinstance(img, dict) else img)
    return np.asarray(im)


def test_explore_colour_vae_sliders_labelled_by_colour(colour_models):
    name = colour_models["vae"]
    out = ex.load_model(name, 3, 0, None, *[0.0] * NUM)
    sliders, cls, info, png = out[:NUM], out[NUM], out[NUM + 2], out[NUM + 3]
    labels = [s["label"] for s in sliders if s["visible"]]
    assert len(labels) == NUM and any(lab.startswith(COLOUR) for lab in labels)
    assert not any(lab.startswith(latent.ATTRIBUTES) for lab in labels)  # no digit attributes on colour
    assert cls["visible"] is False and "hue" in info and "roundness" in info
    img = rgb(png)
    assert img.ndim == 3 and img.shape[2] >= 3 and img.shape[0] == 32 * 8
    k = next(k for k, lab in enumerate(labels) if lab.startswith(COLOUR))
    vals = [0.0] * NUM
    vals[k] = 3.0
    moved, recipe = ex.update(name, 3, 0, *vals)
    assert not np.array_equal(rgb(moved), img) and recipe.startswith(f"{name}:3:")
    assert ex.sweep(name, 3, 0, k, *vals).width > 32 * 4 * 8  # nine steps in a row


def test_explore_colour_cgan_names_its_categories(colour_models):
    name = colour_models["cgan"]
    out = ex.load_model(name, 0, 2, None, *[0.0] * NUM)
    cls, klass = out[NUM], out[-1]
    cats = builtin_classes("emoji32")
    assert cls["visible"] is True and f"2: {cats[2]}" in cls["info"]
    assert (cats[7], "7") in klass["choices"]
    assert all(s["label"].split(" ↑")[0] in COLOUR or "no measured" in s["label"]
               for s in out[:NUM] if s["visible"])  # its category is its input, not a direction
