"""Colour models in Sample, Arena, Interpolate, Reconstruct and Complete (issue 27), on tiny colour models the training
loop makes in a temporary folder (tests/tiny_colour.py): no test waits on the shipped emoji checkpoints."""
from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_colour import train_tiny_colour

from imggen import anomaly, registry
from imggen.convert import png_bytes
from imggen.data import builtin_classes, emoji_arrays, load_data
from imggen.preprocess import model_input, prepare_digit
from imggen.ui import arena as arena_tab
from imggen.ui import build_app, detect, restore
from imggen.ui import complete as cmp_tab
from imggen.ui import interpolate as int_tab
from imggen.ui import reconstruct as rec_tab
from imggen.ui import sample as sm

CATEGORIES = builtin_classes("emoji32")


@pytest.fixture(scope="module")
def colour(tmp_path_factory):
    """{"cgan": name, "vae": name}: a tiny conditional GAN and a tiny VAE on 32-px RGB emoji (tests/tiny_colour.py)."""
    names = train_tiny_colour(tmp_path_factory.mktemp("colour-models"))
    yield names
    for name in names.values():
        registry.unregister(name, owner=None)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> tuple[str, str]:
    """😀 and 😡 (Noto, 64 px) as RGBA PNGs whose white background is transparent, as an emoji upload often is."""
    a, d = emoji_arrays(), tmp_path_factory.mktemp("faces")
    out = []
    for name in ("grinning face", "pouting face"):
        im = a["images"][np.flatnonzero(a["name"] == name)[0]]
        alpha = np.where(im.min(2) > 250, 0, 255).astype(np.uint8)
        rgba = np.dstack([np.where(alpha[..., None] == 0, 0, im), alpha]).astype(np.uint8)  # black under alpha 0
        Image.fromarray(rgba, "RGBA").save(d / f"{name}.png")
        out.append(str(d / f"{name}.png"))
    return out[0], out[1]


def colourful(im) -> bool:
    """Whether an image has clearly coloured (not grey) pixels."""
    a = np.asarray(im.convert("RGB") if isinstance(im, Image.Image) else Image.open(im).convert("RGB")).astype(int)
    return a.ndim == 3 and (a.max(2) - a.min(2) > 60).mean() > 0.02


def test_model_input_colour_on_white_and_padded(faces):
    x = model_input(faces[0], 3, 32)
    assert x.shape == (3, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert torch.allclose(x[:, 0, 0], torch.ones(3))  # transparent corners on white, not black
    c = x[:, 16, 8]
    assert c[0] > 0.8 and c[2] < 0.5  # the face's yellow survives
    wide = Image.new("RGB", (90, 30), (0, 0, 255))
    y = model_input(wide, 3, 32)
    assert torch.allclose(y[:, 0, 16], torch.ones(3)) and torch.allclose(y[:, 16, 16], torch.tensor([0., 0., 1.]))
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3"):
        model_input(wide, 4, 32)
    digit = np.full((280, 280), 255, np.uint8)
    digit[60:220, 130:150] = 0
    assert model_input(digit, 1, 28).equal((prepare_digit(digit) + 1) / 2)  # the digit path is unchanged


def test_class_names_from_card_or_data(colour):
    card = registry.list_models()[colour["cgan"]]
    assert card["classes"] == list(CATEGORIES) and registry.class_names(card) == CATEGORIES
    old = {"config": {"num_classes": 10}, "data": "emoji32"}  # a card written before the loop stored classes
    assert registry.class_names(old) == CATEGORIES
    assert registry.class_names({"config": {"num_classes": 10}, "data": "mnist5k"}) == tuple("0123456789")
    assert registry.class_names({"config": {"num_classes": 3}, "data": "emoji32"}) == ("0", "1", "2")
    assert registry.class_names({"config": {}}) == ()


def test_sample_colour_class_names_and_restore(colour, tmp_path):
    name = colour["cgan"]
    choices, value, shown, *_ = sm._options(name)
    assert choices == [sm.RANDOM, sm.EACH, *CATEGORIES] and value == sm.EACH and shown
    grid, gallery, info, recipe = sm.sample(name, 10, 7, sm.EACH, 1.0)
    assert grid.mode == "RGB" and colourful(grid)
    assert [c for _, c in gallery][:2] == [f"#0 · {CATEGORIES[0]}", f"#1 · {CATEGORIES[1]}"]
    _, gallery, info, _ = sm.sample(name, 3, 7, "Flags", 1.0)
    assert "class: Flags" in info and all(c.endswith("· Flags") for _, c in gallery)
    with pytest.raises(gr.Error, match="Unknown class 'Robots'.*Flags"):
        sm.sample(name, 3, 7, "Robots", 1.0)
    with pytest.raises(gr.Error, match="Prompts describe digits.*class picker"):
        sm.from_prompt(name, "a thick 7", 2, 0)
    _, gallery, _, _ = sm.sample("cgan-mnist", 2, 0, "3", 1.0)
    assert [c for _, c in gallery] == ["#0", "#1"]  # digit captions as before
    # the grid PNG dropped on the restore box: Sample comes back with the same model, class and pixels
    grid, *_ = sm.sample(name, 6, 11, "Flags", 1.0)
    path = tmp_path / "grid.png"
    path.write_bytes(png_bytes(grid))  # as a download keeps it: with the recipe
    io_map = build_app().imggen_io
    ups, tab, status = restore.restore(io_map, str(path))
    got = {k: ups[c] for k, c in io_map[tab].items() if c in ups}
    assert tab == "sample" and "identical pixels" in status and got["model"] == name
    assert got["classes"].value == "Flags" and ("Flags", "Flags") in got["classes"].choices


def test_arena_colour_beside_digits(colour):
    *_, (gallery, table, info) = arena_tab.run_arena([colour["cgan"], colour["vae"], "cgan-mnist"], 10, 0)
    assert [c.split(" · ")[0] for _, c in gallery] == [colour["cgan"], colour["vae"], "cgan-mnist"]
    (cg, _), (vae, _), (digits, _) = gallery
    assert colourful(cg) and not colourful(digits)
    assert cg.size[0] > digits.size[0]  # 32-px tiles beside 28-px ones, each at its own size
    assert f"(`{colour['cgan']}`) show the classes Activities, Animals & Nature, … Travel & Places in turn" in info
    assert "(`cgan-mnist`) show the classes 0, 1, … 9 in turn" in info


def test_interpolate_colour_uploads(colour, faces):
    strip, gif, mp4, mmap, info = int_tab.walk(colour["vae"], "Upload", 0, faces[0], None, "Upload", 1, faces[1],
                                               None, "slerp", 4, 8, progress=lambda *a, **k: None)
    assert strip.mode == "RGB" and "4 frames" in info and mmap is None
    frames = Image.open(gif)
    assert frames.n_frames >= 2 and frames.size == (32 * 8, 32 * 8)
    strip, *_ = int_tab.walk(colour["cgan"], "Random seed", 0, None, None, "Random seed", 1, None, None, "lerp", 3, 8,
                             progress=lambda *a, **k: None)
    assert colourful(strip)
    with pytest.raises(gr.Error, match="no encoder"):
        int_tab.walk(colour["cgan"], "Upload", 0, faces[0], None, "Random seed", 1, None, None, "slerp", 3, 8,
                     progress=lambda *a, **k: None)


def test_reconstruct_colour_upload_beside_a_digit_model(colour, faces, tmp_path):
    pre, strip, info, pct = rec_tab.reconstruct("Upload", None, faces[0], [colour["vae"], "vae-mnist"], None)
    assert colourful(pre)  # the picture itself, not MNIST's white-ink-on-black digit
    a = np.asarray(pre.convert("RGB"))
    assert a[:8, :8].min() > 240  # transparent corners on white
    assert colourful(strip) and strip.size[0] > 2.5 * strip.size[1]  # input, colour model, digit model
    assert colour["vae"] in info and "vae-mnist" in info and pct is None
    path = tmp_path / "strip.png"
    path.write_bytes(png_bytes(strip))  # dropped back: each model gets its own exact input from the recipe
    ups, tab, status = restore.restore(build_app().imggen_io, str(path))
    assert tab == "reconstruct" and "identical pixels" in status
    vae = registry.load(colour["vae"])  # a small reference (64 held-out emoji, k=8) instead of the 752-image one
    ref = anomaly.build_reference(vae.net, load_data("emoji32", split="test", limit=64).images, k=8,
                                  population="held-out emoji")
    anomaly.reference_path(registry.resolve(colour["vae"])).write_text(json.dumps(ref))
    _, _, info, pct = rec_tab.reconstruct("Upload", None, faces[1], [colour["vae"]], colour["vae"])
    assert 0 <= pct <= 100 and "%** of held-out emoji" in info and "digit" not in info.split("How typical")[1]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(gr.Error, match="Not an image"):
        rec_tab.reconstruct("Upload", None, str(bad), [colour["vae"]], None)


def test_complete_colour_inpainting(colour, faces):
    editor = cmp_tab.prepare_input(colour["vae"], "Upload", None, faces[0], 0)
    assert editor["background"].shape == (256, 256, 3)
    masked, outs, md = cmp_tab.complete(colour["vae"], "Upload", None, faces[0], 0, None, "bottom", 0, "vae", 2, 0,
                                        progress=lambda *a, **k: None)
    assert colourful(masked) and colourful(outs) and "512 of 1024 pixels missing" in md
    assert "Smileys & Emotion" in md.split("input (before masking)")[1].split("\n")[0]  # the emoji net reads it
    with pytest.raises(gr.Error, match="No file uploaded"):
        cmp_tab.complete(colour["vae"], "Upload", None, None, 0, None, "bottom", 0, "vae", 1, 0,
                         progress=lambda *a, **k: None)


def test_detection_of_a_colour_gan_compares_with_held_out_emoji(colour, faces):
    """A colour GAN's discriminator is judged against held-out emoji, not digits: the reference, plot and text say
    so, and the upload is read in colour."""
    prev, plot, md = sm.detect(colour["cgan"], faces[0])
    assert colourful(prev) and plot.width > 200
    assert "held-out emoji" in md and "digits" not in md
    real, fake, words = detect.reference_scores(colour["cgan"])
    assert words == "held-out emoji" and len(real) == len(fake) == detect.REFERENCE_N
