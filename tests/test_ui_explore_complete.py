"""Explore and Complete tabs: the callbacks directly (tiny registered models), then the running app through
gradio_client (a shipped model)."""
from __future__ import annotations

import sys

import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client.exceptions import AppError
from PIL import Image

from imggen import checkpoint, latent, registry
from imggen.convert import read_recipe
from imggen.ui import common
from imggen.ui import complete as ct
from imggen.ui import explore as ex

FAST = dict(num_samples=300, sweep_bases=8)
NUM = ex.NUM


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Tiny untrained VAE and CGAN registered under names, with fast direction discovery."""
    mp = pytest.MonkeyPatch()
    mp.setattr(latent, "DISCOVER_DEFAULTS", FAST)
    mp.setattr(ct, "METHOD_KW", {"vae": {"iters": 2, "steps": 5}, "gan": {"steps": 5}})
    d = tmp_path_factory.mktemp("ui-models")
    names = {}
    for fam, kw in (("vae", dict(latent_dim=6, hidden=8, fc_dim=16)), ("cgan", dict(latent_dim=8, g_width=8, d_width=8))):
        torch.manual_seed(0)
        net = registry.build(fam, **kw)
        name = f"ui-tiny-{fam}"
        registry.register(name, checkpoint.save(net, d / f"{name}.safetensors", family=fam, config=vars(net.config)))
        names[fam] = name
    yield names
    mp.undo()


def pixels(img) -> np.ndarray:
    im = img if isinstance(img, Image.Image) else Image.open(img["path"] if isinstance(img, dict) else img)
    return np.asarray(im.convert("L"))


def shipped(capability: str) -> str:
    for name in ("vae-mnist", "ae-mnist", "cvae-mnist", "dcgan-mnist", "vaegan-mnist", "cgan-mnist"):
        if name in common.model_choices(capability=capability):
            return name
    pytest.skip("no shipped MNIST model yet")


# ---- Explore callbacks --------------------------------------------------------------------------------------
def test_explore_load_update_and_recipe(tiny_models):
    name = tiny_models["cgan"]
    out = ex.load_model(name, 5, 3, *[0.0] * NUM)
    sliders, cls, which, info, png, recipe = out[:NUM], out[NUM], out[NUM + 1], out[NUM + 2], out[NUM + 3], out[-1]
    assert all("↑ r=" in s["label"] or "no measured" in s["label"] for s in sliders if s["visible"])
    assert cls["visible"] is True and "| slider | label |" in info and recipe.startswith(f"{name}:5:c3:")
    vals = [0.5, -1.25, 0.0, 2.0, 0.0, 0.0, 0.0, -3.0]
    png, recipe = ex.update(name, 5, 3, *vals)
    assert read_recipe(png)["recipe"] == recipe
    again = ex.apply_recipe(recipe)
    assert again[:3] == (name, 5, 3) and list(again[3:3 + NUM]) == vals
    assert np.array_equal(pixels(again[-2]), pixels(png))  # pasting the recipe reproduces the exact pixels
    assert not np.array_equal(pixels(ex.update(name, 6, 3, *vals)[0]), pixels(png))
    reset = ex.reset(name, 5, 3)
    assert list(reset[:NUM]) == [0.0] * NUM and reset[-1].endswith(":" + ",".join(["0"] * ex._explorer(name).num_sliders))
    grid = ex.sweep(name, 5, 3, 1, *vals)
    assert grid.width > grid.height * 4  # one row of 9 images


def test_explore_bad_input(tiny_models):
    name = tiny_models["vae"]
    for bad in ("nonsense", "vae:1", f"{name}:x:1,2"):
        with pytest.raises(gr.Error):
            ex.apply_recipe(bad)
    with pytest.raises(gr.Error, match="between"):
        ex.update(name, 0, 0, 9.0, *[0.0] * (NUM - 1))
    with pytest.raises(gr.Error, match="No model"):
        ex.update(None, 0, 0, *[0.0] * NUM)
    with pytest.raises(gr.Error, match="unknown model"):
        ex.apply_recipe("no-such-model:1:0,0")


# ---- Complete callbacks -------------------------------------------------------------------------------------
def test_complete_from_sample_with_preset_and_brush(tiny_models):
    name = tiny_models["vae"]
    ed = ct.prepare_input(name, "Model sample", None, None, 3)
    assert ed["background"].shape == (280, 280)
    layer = np.zeros((280, 280, 4), np.uint8)
    layer[:40, :, 3] = 255  # brush over the top rows
    editor = {"background": ed["background"], "layers": [layer], "composite": ed["background"]}
    masked, outs, md = ct.complete(name, "Model sample", None, None, 3, editor, "bottom", 0, "telea", 2, 0)
    m = pixels(masked)
    assert masked.size == (224, 224) and (m[:24] == 128).all() and (m[-100:] == 128).all()  # brush + preset greyed
    assert "**Method:** telea" in md and "completion 2" in md and "classifier reads" in md
    masked, outs, md = ct.complete(name, "Model sample", None, None, 3, None, ct.NO_PRESET, 0, "vae", 1, 0)
    assert "mask is empty" in md


def test_complete_from_drawing_and_errors(tiny_models):
    name = tiny_models["cgan"]
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[60:220, 130:150] = 0  # a dark "1" on white
    drawing = {"background": None, "layers": [], "composite": canvas}
    masked, outs, md = ct.complete(name, "Drawing", drawing, None, 0, None, "right", 0, "gan", 2, 1)
    assert outs.width > outs.height and "**Method:** gan" in md
    with pytest.raises(gr.Error, match="canvas is empty"):
        ct.complete(name, "Drawing", None, None, 0, None, "right", 0, "gan", 2, 1)
    with pytest.raises(gr.Error, match="No file uploaded"):
        ct.complete(name, "Upload", None, None, 0, None, "right", 0, "gan", 2, 1)
    with pytest.raises(gr.Error, match="encoder"):
        ct.complete(name, "Model sample", None, None, 0, None, "right", 0, "vae", 2, 1)
    with pytest.raises(gr.Error, match="between 1"):
        ct.complete(name, "Model sample", None, None, 0, None, "right", 0, "gan", 99, 1)


def test_complete_telea_without_opencv(tiny_models, monkeypatch):
    """OpenCV is an optional extra: without it Telea says what to install, and biharmonic still runs."""
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    name = tiny_models["vae"]
    with pytest.raises(gr.Error, match=r"Telea needs opencv-python-headless \(pip install .*biharmonic works"):
        ct.complete(name, "Model sample", None, None, 0, None, "right", 0, "telea", 1, 0)
    assert "**Method:** biharmonic" in ct.complete(name, "Model sample", None, None, 0, None, "right", 0,
                                                    "biharmonic", 1, 0)[2]


# ---- through the running app --------------------------------------------------------------------------------
def test_explore_through_client(client):
    name = shipped("decode")
    vals = [1.0, -0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0]
    img, recipe = client.predict(name, 11, 0, *vals, api_name="/explore_update")
    assert recipe.startswith(f"{name}:11:") and read_recipe(img)["recipe"] == recipe
    out = client.predict(recipe, api_name="/explore_recipe")
    assert out[0] == name and out[1] == 11 and list(out[3:3 + NUM]) == vals
    assert np.array_equal(pixels(out[-2]), pixels(img))
    grid = client.predict(name, 11, 0, 0, *vals, api_name="/explore_sweep")
    assert Image.open(grid).width > Image.open(grid).height * 4
    with pytest.raises(AppError, match="recipe"):
        client.predict("garbage", api_name="/explore_recipe")


def test_complete_through_client(client):
    name = shipped("decode")
    masked, outs, md = client.predict(name, "Model sample", None, None, 2, None, "bottom", 0, "telea", 2, 0,
                                      api_name="/complete")
    assert "**Method:** telea" in md and Image.open(outs).width > Image.open(outs).height
    masked, outs, md = client.predict(name, "Model sample", None, None, 2, None, "centre", 0, "auto", 2, 0,
                                      api_name="/complete")
    assert "completion 2" in md and "**Method:** " in md
    with pytest.raises(AppError, match="canvas is empty"):
        client.predict(name, "Drawing", None, None, 2, None, "bottom", 0, "telea", 2, 0, api_name="/complete")
