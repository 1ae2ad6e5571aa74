"""Drop a PNG the studio made: its tab comes back with the same settings and the image is made again, bit-for-bit.
Each tab's output PNG goes through PNG bytes (as a download would), then imggen.ui.restore."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from photo_corpus import photo

from imggen.convert import pack_tensor, png_bytes, read_recipe, to_pil
from imggen.data import load_data
from imggen.preprocess import model_input
from imggen.ui import build_app, restore
from imggen.ui import complete as ct
from imggen.ui import explore as ex
from imggen.ui import interpolate as it
from imggen.ui import reconstruct as rc
from imggen.ui import sample as sm


@pytest.fixture(scope="module")
def io_map():
    return build_app().imggen_io


@pytest.fixture(scope="module")
def digit_photo(tmp_path_factory):
    d = load_data("mnist5k", split="test", limit=8)
    path = tmp_path_factory.mktemp("restore") / "seven.jpg"
    path.write_bytes(photo(d.images[0], "ruled", seed=3))
    return str(path)


def dropped(img, tmp_path, name="dropped.png") -> str:
    """The PNG file a visitor would download and drop back."""
    im = img if isinstance(img, Image.Image) else Image.open(img)
    path = tmp_path / name
    path.write_bytes(png_bytes(im))
    return str(path)


def same(a, b) -> bool:
    a, b = (np.asarray((x if isinstance(x, Image.Image) else Image.open(x)).convert("RGB")) for x in (a, b))
    return a.shape == b.shape and np.array_equal(a, b)


def run(io_map, path):
    ups, tab, status = restore.restore(io_map, path)
    by_name = {name: ups[c] for name, c in io_map[tab].items() if c in ups}
    return by_name, tab, status


def test_sample_grid_and_one_sample(io_map, tmp_path):
    grid, gallery, _, recipe = sm.sample("dcgan-mnist", 9, 1234, None, 0.7, 0, 1.0)
    got, tab, status = run(io_map, dropped(grid, tmp_path))
    assert tab == "sample" and "identical pixels" in status
    assert same(got["grid_img"], grid) and got["seed"] == 1234 and got["count"] == 9 and got["truncation"] == 0.7
    assert got["recipe"]["restored"] and got["model"] == "dcgan-mnist"
    # the Sample tab's model change keeps the restored settings (not the card's start values)
    _, trunc, *_ = sm.model_options("dcgan-mnist", got["recipe"])
    assert trunc.value == 0.7
    one = gallery[5][0]
    got, _, status = run(io_map, dropped(one, tmp_path, "one.png"))
    assert "identical pixels" in status and same(got["gallery"][5][0], one) and got["zoom"] is not None


def test_arena_tile(io_map, tmp_path):
    from imggen.ui import arena

    *_, (gallery, _, _) = arena.run_arena(["dcgan-mnist", "cgan-mnist"], 6, 21)
    tile = gallery[1][0]
    got, tab, status = run(io_map, dropped(tile, tmp_path))
    assert tab == "arena" and "identical pixels" in status and got["models"] == ["cgan-mnist"] and got["seed"] == 21


@pytest.mark.slow
def test_conditional_class_prompt_and_detect(io_map, tmp_path, digit_photo):
    grid, *_ = sm.sample("cgan-mnist", 4, 7, "3", 1.0, 0, 1.0)
    got, _, status = run(io_map, dropped(grid, tmp_path))
    assert "identical pixels" in status and got["classes"].value == "3"
    img, _ = sm.from_prompt("cgan-mnist", "a thin 2 leaning left", 4, 11)
    got, tab, status = run(io_map, dropped(img, tmp_path, "prompt.png"))
    assert tab == "sample" and "identical pixels" in status and got["ptext"] == "a thin 2 leaning left"
    prev, _, md = sm.detect("dcgan-mnist", digit_photo)
    got, _, status = run(io_map, dropped(prev, tmp_path, "detect.png"))
    assert "identical pixels" in status and got["dmd"] == md


def test_explore_sliders_and_sweep(io_map, tmp_path):
    png, text = ex.update("vae-mnist", 42, 0, 1.5, -0.75, *[0.0] * (ex.NUM - 2))
    got, tab, status = run(io_map, dropped(png, tmp_path))
    assert tab == "explore" and "identical pixels" in status
    assert got["seed"] == 42 and got["sliders0"] == 1.5 and got["sliders1"] == -0.75 and got["recipe"] == text
    sweep = ex.sweep("vae-mnist", 42, 0, 1, 1.5, *[0.0] * (ex.NUM - 1))
    got, _, status = run(io_map, dropped(sweep, tmp_path, "sweep.png"))
    assert "identical pixels" in status and got["which"] == 1


@pytest.mark.slow
def test_complete_drawing_with_strokes(io_map, tmp_path, digit_photo):
    editor = ct.prepare_input("vae-mnist", "Upload", None, digit_photo, 0)
    strokes = np.zeros((28, 28), dtype=np.float32)
    strokes[3:9, 10:20] = 1
    editor["layers"] = [ct.stroke_layer(torch.from_numpy(strokes), editor["background"].shape[0])]
    masked, outs, md = ct.complete("vae-mnist", "Upload", None, digit_photo, 0, editor, "right", 0, "auto", 3, 5)
    got, tab, status = run(io_map, dropped(outs, tmp_path))
    assert tab == "complete" and "identical pixels" in status and same(got["masked"], masked)
    assert got["preset"] == "right" and got["source"] == "Upload" and got["n"] == 3
    # the restored upload is the dropped PNG: completing again (the button) gives the same images
    again = ct.complete("vae-mnist", got["source"], None, got["upload"], 0, got["editor"], got["preset"], 0, "auto",
                        3, 5)[1]
    assert same(again, outs)


@pytest.mark.slow
def test_complete_model_sample_source(io_map, tmp_path):
    masked, outs, _ = ct.complete("vae-mnist", "Model sample", None, None, 9, None, "bottom", 0, "auto", 2, 1)
    got, _, status = run(io_map, dropped(masked, tmp_path))
    assert "identical pixels" in status and got["source"] == "Model sample" and got["sample_seed"] == 9


def test_reconstruct_and_interpolate_uploads(io_map, tmp_path, digit_photo):
    pre, strip, md, pct = rc.reconstruct("Upload", None, digit_photo, ["ae-mnist", "vae-mnist"], None)
    got, tab, status = run(io_map, dropped(strip, tmp_path))
    assert tab == "reconstruct" and "identical pixels" in status and got["models"] == ["ae-mnist", "vae-mnist"]
    s, gif, mp4, mmap, info = it.walk("vae-mnist", "Upload", 0, digit_photo, None, "Random seed", 5, None, None,
                                      "slerp", 6, 8)
    got, tab, status = run(io_map, dropped(s, tmp_path, "walk.png"))
    assert tab == "interpolate" and "identical pixels" in status
    assert got["a0"] == "Upload" and got["b0"] == "Random seed" and got["b1"] == 5


def test_exact_input_travels_in_the_png(digit_photo):
    x = model_input(digit_photo, 1, 28)
    carrier = png_bytes(to_pil(x, scale=8, recipe={"input": pack_tensor(x)}))
    assert model_input(carrier, 1, 28).equal(x)  # not re-preprocessed: the same floats
    plain = png_bytes(to_pil(x, scale=8))
    assert not model_input(plain, 1, 28).equal(x)  # a plain PNG goes through the digit pipeline


@pytest.mark.parametrize("make, match", [
    (lambda: png_bytes(Image.new("L", (20, 20))), "no imggen recipe"),
    (lambda: _jpeg(), "only PNGs carry a recipe"),
    (lambda: b"not an image at all", "not a readable PNG"),
    (lambda: _with_recipe({"tab": "sample", "model": "nobody-has-this", "seed": 1}), "not available here"),
    (lambda: _with_recipe({"tab": "somewhere"}), "unknown part of the studio"),
    (lambda: _with_recipe({"tab": "train", "model": "x", "step": 40}), "training snapshot"),
    (lambda: _with_recipe({"tab": "explore", "inversion": True, "model": "vae-mnist"}), "drop the edited image"),
    (lambda: _with_recipe({"tab": "reconstruct", "models": ["vae-mnist"],
                           "input": {"shape": [1, 28, 28], "f32": "AAAA"}}), "damaged"),
    (lambda: _with_recipe({"tab": "sample", "model": "dcgan-mnist", "n": 10**6, "seed": 1}), "Count must be"),
])
def test_bad_files_get_a_clear_message(io_map, tmp_path, make, match):
    path = tmp_path / "bad.png"
    path.write_bytes(make())
    with pytest.raises(Exception, match=match):  # ValueError from the core, gr.Error from a tab's own checks
        restore.restore(io_map, str(path))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buf, "JPEG")
    return buf.getvalue()


def _with_recipe(recipe: dict) -> bytes:
    out = png_bytes(to_pil(torch.zeros(1, 4, 4), recipe=recipe))
    assert read_recipe(Image.open(io.BytesIO(out))) == recipe
    return out
