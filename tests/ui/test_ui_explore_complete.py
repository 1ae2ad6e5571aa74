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
@pytest.mark.slow
def test_explore_load_update_and_recipe(tiny_models):
    name = tiny_models["cgan"]
    out = ex.load_model(name, 5, 3, None, *[0.0] * NUM)
    sliders, cls, which, info, png, recipe = out[:NUM], out[NUM], out[NUM + 1], out[NUM + 2], out[NUM + 3], out[NUM + 4]
    assert out[NUM + 5] is None  # no inverted digit
    assert all("↑ r=" in s["label"] or "no measured" in s["label"] for s in sliders if s["visible"])
    assert cls["visible"] is True and "| slider | label |" in info and recipe.startswith(f"{name}:5:c3:")
    vals = [0.5, -1.25, 0.0, 2.0, 0.0, 0.0, 0.0, -3.0]
    png, recipe = ex.update(name, 5, 3, *vals)
    assert read_recipe(png)["recipe"] == recipe
    again = ex.apply_recipe(recipe)
    assert again[:3] == (name, 5, 3) and list(again[3:3 + NUM]) == vals and again[-2] is None
    assert np.array_equal(pixels(again[3 + NUM]), pixels(png))  # pasting the recipe reproduces the exact pixels
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
    with pytest.raises(gr.Error, match="this latent has 3 values"):  # a latent recipe of another model
        ex.apply_recipe(f"{name}:z={latent.latent_text(torch.zeros(1, 3))}:0")
    with pytest.raises(gr.Error, match="latent"):
        ex.apply_recipe(f"{name}:z=damaged*:0")
    with pytest.raises(gr.Error, match="No model"):
        ex.update(None, 0, 0, *[0.0] * NUM)
    with pytest.raises(gr.Error, match="unknown model"):
        ex.apply_recipe("no-such-model:1:0,0")


# ---- Complete callbacks -------------------------------------------------------------------------------------
def digit_file(tmp_path, i: int = 0) -> str:
    """A held-out MNIST test digit saved as an upload would arrive (a PNG, 4x upscaled)."""
    from imggen.convert import to_pil
    from imggen.data import load_data

    d = load_data("mnist5k", split="test", limit=i + 1)
    path = tmp_path / f"digit{i}.png"
    to_pil((d.images[i] + 1) / 2, scale=4).save(path)
    return str(path)


def test_explore_invert_then_edit_with_sliders(tiny_models, tmp_path):
    name = tiny_models["vae"]
    compare, note, state, cls, png, recipe, *sliders = ex.invert_digit(name, "Upload", None, digit_file(tmp_path),
                                                                        "auto")
    assert "PSNR" in note and "encoder" in note and state["model"] == name and sliders == [0.0] * NUM
    assert compare.width > 1.8 * compare.height  # your digit | its reconstruction
    rec = read_recipe(png)
    assert rec["seed"] is None and rec["tab"] == "explore" and recipe.startswith(f"{name}:z=")
    assert torch.equal(latent.text_latent(rec["latent"]), state["z"])
    vals = [1.5, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    edited, text = ex.edit(name, 0, 0, state, *vals)
    assert not np.array_equal(pixels(edited), pixels(png))  # a slider edits the inverted digit
    assert np.array_equal(pixels(ex.edit(name, 123, 0, state, *vals)[0]), pixels(edited))  # the seed plays no part
    assert not np.array_equal(pixels(ex.update(name, 0, 0, *vals)[0]), pixels(edited))  # seed mode differs
    again = ex.apply_recipe(text)  # the text recipe reproduces the edit, and brings the inversion back
    assert again[0] == name and list(again[3:3 + NUM]) == vals and torch.equal(again[-2]["z"], state["z"])
    assert np.array_equal(pixels(again[3 + NUM]), pixels(edited))
    r = read_recipe(edited)  # so does the PNG's recipe dict
    assert (r["seed"], r["class"], r["values"][:2]) == (None, None, [1.5, -2.0])
    inv = {"model": name, "z": latent.text_latent(r["latent"]), "label": None, "target": None}
    assert np.array_equal(pixels(ex.edit(name, 0, 0, inv, *r["values"])[0]), pixels(edited))
    grid = ex.sweep_from(name, 0, 0, state, 1, *vals)
    assert ":z=" in read_recipe(grid)["recipe"]
    seed_png, seed_recipe, inv, note = ex.back_to_seed(name, 5, 0, *vals)
    assert inv is None and note == "" and seed_recipe.startswith(f"{name}:5:")


def test_explore_invert_a_drawing(tiny_models):
    """The Sketchpad's composite (dark strokes on a white canvas) is prepared like MNIST, then inverted."""
    canvas = np.full((280, 280), 255, dtype=np.uint8)
    canvas[60:220, 130:150] = 0  # a "1"
    compare, note, state, *_ = ex.invert_digit(tiny_models["cgan"], "Drawing", {"composite": canvas}, None, "1")
    assert state["label"] == 1 and "as a **1**" in note and state["target"].shape == (1, 1, 28, 28)
    assert state["target"].max() > 0.9 and state["target"][0, 0, 0, 0] < 0.1  # light ink on black, like MNIST


@pytest.mark.slow
def test_explore_example_photo_inverts_under_its_class():
    """An example photo (assets/examples) into the shipped conditional GAN: the class the classifier reads."""
    from imggen.ui import examples

    if "cgan-mnist" not in registry.model_paths():
        pytest.skip("cgan-mnist is not shipped")
    name = "photo-7-shadow.jpg"
    _, note, state, cls, *_ = ex.invert_digit("cgan-mnist", "Upload", None, examples.path(name), "auto")
    assert state["label"] == examples.digit(name) == cls["value"] and "PSNR" in note


def test_explore_model_change_reinverts(tiny_models, tmp_path):
    _, _, state, *_ = ex.invert_digit(tiny_models["vae"], "Upload", None, digit_file(tmp_path, 1), "auto")
    out = ex.load_model(tiny_models["cgan"], 0, 0, state, *[0.0] * NUM)
    new = out[NUM + 5]
    assert new["model"] == tiny_models["cgan"] and torch.equal(new["target"], state["target"])
    assert "optimisation" in out[NUM + 7] and "PSNR" in out[NUM + 7] and out[NUM]["value"] == new["label"]
    assert out[NUM + 4].startswith(f"{tiny_models['cgan']}:z=")


def test_explore_invert_bad_input(tiny_models, tmp_path):
    name = tiny_models["vae"]
    with pytest.raises(gr.Error, match="canvas is empty"):
        ex.invert_digit(name, "Drawing", None, None, "auto")
    with pytest.raises(gr.Error, match="No file uploaded"):
        ex.invert_digit(name, "Upload", None, None, "auto")
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    with pytest.raises(gr.Error):
        ex.invert_digit(name, "Upload", None, str(junk), "auto")
    with pytest.raises(gr.Error, match="class of your digit"):
        ex.invert_digit(tiny_models["cgan"], "Upload", None, digit_file(tmp_path), "12")
    if "arf-mnist" in registry.model_paths():
        with pytest.raises(gr.Error, match="no decoder"):
            ex.invert_digit("arf-mnist", "Upload", None, digit_file(tmp_path), "auto")


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
    assert np.array_equal(pixels(out[3 + NUM]), pixels(img))
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


def test_explore_invert_through_client(client, tmp_path):
    """A visitor inverts an upload, then a slider edits it; another visitor's sliders still start from the seed."""
    from gradio_client import Client, handle_file

    name = shipped("encode")
    out = client.predict(name, "Upload", None, handle_file(digit_file(tmp_path, 2)), "auto", api_name="/explore_invert")
    assert "PSNR" in out[1] and out[4].startswith(f"{name}:z=")
    vals = [2.0] + [0.0] * (NUM - 1)
    img, recipe = client.predict(name, 0, 0, *vals, api_name="/explore_update")
    assert recipe.startswith(f"{name}:z=") and read_recipe(img)["latent"]
    assert not np.array_equal(pixels(img), pixels(out[3]))
    back = client.predict(recipe, api_name="/explore_recipe")
    assert np.array_equal(pixels(back[3 + NUM]), pixels(img))
    other = Client(client.src, verbose=False, download_files=str(tmp_path))
    assert other.predict(name, 0, 0, *vals, api_name="/explore_update")[1].startswith(f"{name}:0:")
    img2, recipe2, _ = client.predict(name, 4, 0, *vals, api_name="/explore_seed")
    assert recipe2.startswith(f"{name}:4:")


def test_dropped_png_of_an_edited_digit_restores_the_edit(tmp_path):
    """imggen.ui.restore: an edited inverted digit (and its sweep) dropped back gives the same pixels and the
    inversion back, so the sliders keep editing that digit."""
    from imggen.convert import png_bytes
    from imggen.ui import build_app, restore

    name = shipped("encode")
    _, _, state, *_ = ex.invert_digit(name, "Upload", None, digit_file(tmp_path, 3), "auto")
    vals = [1.0, 0.5] + [0.0] * (NUM - 2)
    io = build_app().imggen_io
    for i, img in enumerate((ex.edit(name, 0, 0, state, *vals)[0], ex.sweep_from(name, 0, 0, state, 1, *vals))):
        path = tmp_path / f"dropped{i}.png"
        path.write_bytes(png_bytes(img))
        ups, tab, status = restore.restore(io, str(path))
        got = {k: ups[c] for k, c in io["explore"].items() if c in ups}
        assert tab == "explore" and "identical pixels" in status, status
        assert got["inverted"]["model"] == name and torch.equal(got["inverted"]["z"], state["z"])
