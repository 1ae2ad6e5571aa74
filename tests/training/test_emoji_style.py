"""Emoji classes by category and style (issue 27's style picker): the data's labelling, the warm start that splits a
conditional GAN's classes, the category a style class asks for, and the Sample tab's picker on such a model."""
from __future__ import annotations

import pytest
import torch

from imggen import checkpoint, registry
from imggen.data import STYLE_SEP, asked_category, load_data
from imggen.models.gan import CGAN, CGANConfig
from imggen.train import TrainConfig, train
from imggen.ui import sample as sm


def test_by_style_labels_every_category_and_style():
    d = load_data("emoji32", limit=200)
    s = d.by_style()
    styles = d.extras["styles"]
    assert len(s.classes) == len(d.classes) * len(styles) and s.classes[1] == f"{d.classes[0]}{STYLE_SEP}{styles[1]}"
    assert torch.equal(s.labels, d.labels * len(styles) + d.extras["style"])
    assert torch.equal(asked_category(s.labels, s.classes), d.labels)  # a style class asks for its category
    assert torch.equal(asked_category(d.labels, d.classes), d.labels)  # plain classes ask for themselves
    for lab, y, st in zip(s.labels[:20].tolist(), d.labels[:20].tolist(), d.extras["style"][:20].tolist()):
        assert s.classes[lab] == f"{d.classes[y]}{STYLE_SEP}{styles[st]}"


def test_split_classes_starts_each_style_from_its_category():
    torch.manual_seed(0)
    net = CGAN(CGANConfig(channels=3, image_size=32, latent_dim=8, g_width=8, d_width=8, num_classes=3)).eval()
    split = net.split_classes(2).eval()
    assert split.num_classes == 6
    z = torch.randn(6, 8)
    with torch.no_grad():
        a = net.G(z, torch.tensor([0, 0, 1, 1, 2, 2]))
        b = split.G(z, torch.arange(6))
    assert torch.allclose(a, b)
    with torch.no_grad():  # D's projection gives both styles of a category the same score
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        assert torch.allclose(split.D(x, torch.tensor([2, 2])), split.D(x, torch.tensor([3, 3])))


def test_warm_start_splits_classes_to_the_recipes(tmp_path):
    path = tmp_path / "tiny-cat.safetensors"
    net = CGAN(CGANConfig(channels=3, image_size=32, latent_dim=8, g_width=8, d_width=8, num_classes=3))
    checkpoint.save(net, path, family="cgan", config=vars(net.config).copy())
    model, _ = registry.warm_start(path, "cgan", 6)  # what `imggen train --recipe cgan-emoji32-style --init` asks
    assert model.num_classes == 6 and model.config.num_classes == 6
    assert registry.warm_start(path, "cgan")[0].num_classes == 3
    with pytest.raises(ValueError, match="cannot be split into 4"):
        registry.warm_start(path, "cgan", 4)


def test_sample_tab_offers_categories_and_styles(tmp_path):
    data = load_data("emoji32", limit=64).by_style()
    path = tmp_path / "tiny-style.safetensors"
    cfg = TrainConfig(max_steps=1, batch_size=16, eval_samples=0, num_grid=4, seed=0)
    for _ in train("cgan", data, cfg, model_config=dict(latent_dim=8, g_width=8, d_width=8), out=path,
                   name="tiny-style"):
        pass
    registry.register("tiny-style", path, owner=None)
    try:
        names = registry.load("tiny-style").classes
        assert names == data.classes
        choices = sm._options("tiny-style")[0]
        cat = data.classes[0].split(STYLE_SEP)[0]
        assert choices[2:5] == [cat, data.classes[0], data.classes[1]]  # the bare category, then its styles
        assert sm._labels(cat, 4, names) == [0, 1, 0, 1]  # either style, in turn
        assert sm._labels(data.classes[3], 2, names) == [3, 3]
        x, recipe = sm.draw("tiny-style", 4, 7, data.classes[3], 1.0)
        assert x.shape == (4, 3, 32, 32) and recipe["class"] == data.classes[3]
    finally:
        registry.unregister("tiny-style", owner=None)
