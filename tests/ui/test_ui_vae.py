"""Reconstruct and Interpolate tabs: callbacks called directly (tiny models) and through gradio_client."""
import io
import json

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from imggen import anomaly, checkpoint, registry
from imggen.convert import read_recipe
from imggen.data import load_data
from imggen.ui import interpolate as int_tab
from imggen.ui import reconstruct as rec_tab

TINY = dict(hidden=8, fc_dim=32)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Untrained tiny AE / 2-D VAE / VAE-GAN registered under test names, with a small anomaly reference."""
    d = tmp_path_factory.mktemp("tiny-ae-models")
    names = {}
    for fam, kw in (("ae", {"latent_dim": 4}), ("vae", {"latent_dim": 2}), ("vaegan", {"latent_dim": 4})):
        torch.manual_seed(0)
        net = registry.build(fam, **kw, **TINY).eval()
        name = f"test-tiny-{fam}"
        path = checkpoint.save(net, d / f"{name}.safetensors", family=fam, config=vars(net.config).copy(), name=name)
        registry.register(name, path)
        names[fam] = name
    test = load_data("mnist5k", split="test").images[:64]
    vae = registry.load(names["vae"])
    ref = anomaly.build_reference(vae.net, test, k=8)
    anomaly.reference_path(d / f"{names['vae']}.safetensors").write_text(json.dumps(ref))
    return names


def drawn_digit(kind="seven", size=280) -> np.ndarray:
    """What gr.Sketchpad(image_mode="L") gives: black strokes on a white canvas, uint8 (H, W)."""
    im = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(im)
    if kind == "seven":
        d.line([(70, 60), (210, 60), (120, 230)], fill=0, width=18)
    else:
        d.ellipse([90, 50, 190, 230], outline=0, width=18)
    return np.asarray(im)


def test_reconstruct_drawing(tiny_models):
    models = [tiny_models["ae"], tiny_models["vae"], tiny_models["vaegan"]]
    pre, strip, info, pct = rec_tab.reconstruct("Drawing", {"composite": drawn_digit(), "layers": [], "background": None},
                                                None, models, tiny_models["vae"])
    assert pre.size == (224, 224) and strip.size[1] == 28 * 4 + 2 * 2 * 2 + 0 or strip.size[1] > 100
    assert strip.size[0] > 4 * strip.size[1] - 40  # input + three reconstructions side by side
    assert read_recipe(Image.open(io.BytesIO(_png(strip))))["models"] == models
    assert 0 <= pct <= 100 and "MSE" in info and all(m in info for m in models)
    a = np.asarray(pre)
    assert a[:16].max() < 10 and a.max() > 200  # preprocessed: white ink on black


def _gif_ms(path) -> int:
    im = Image.open(path)
    total = 0
    for i in range(im.n_frames):
        im.seek(i)
        total += im.info["duration"]
    return total


def _png(im):
    from imggen.convert import png_bytes

    return png_bytes(im)


def test_reconstruct_upload_and_errors(tiny_models, tmp_path):
    p = tmp_path / "digit.png"
    Image.fromarray(drawn_digit("zero")).save(p)
    pre, strip, info, pct = rec_tab.reconstruct("Upload", None, str(p), [tiny_models["ae"]], None)
    assert pct is None and tiny_models["ae"] in info
    blank = {"composite": np.full((280, 280), 255, np.uint8), "layers": [], "background": None}
    with pytest.raises(gr.Error, match="No ink"):
        rec_tab.reconstruct("Drawing", blank, None, [tiny_models["ae"]], None)
    with pytest.raises(gr.Error, match="canvas is empty"):
        rec_tab.reconstruct("Drawing", None, None, [tiny_models["ae"]], None)
    with pytest.raises(gr.Error, match="No file uploaded"):
        rec_tab.reconstruct("Upload", None, None, [tiny_models["ae"]], None)
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(gr.Error, match="Not an image"):
        rec_tab.reconstruct("Upload", None, str(bad), [tiny_models["ae"]], None)
    with pytest.raises(gr.Error, match="at least one model"):
        rec_tab.reconstruct("Upload", None, str(p), [], None)
    with pytest.raises(gr.Error, match="unknown model"):
        rec_tab.reconstruct("Upload", None, str(p), ["no-such-model"], None)


def test_anomaly_percentile_orders_scores(tiny_models):
    ref = {"quantiles": list(np.linspace(-200, -100, 1001))}
    p = anomaly.percentile(ref, torch.tensor([-300.0, -150.0, -50.0]))
    assert p.tolist() == pytest.approx([0.0, 50.0, 100.0], abs=0.11)


def test_interpolate_without_mp4_codec_keeps_strip_and_gif(tiny_models, monkeypatch):
    monkeypatch.setattr(int_tab, "mp4_available", lambda: False)
    strip, gif, mp4, mmap, info = int_tab.walk(tiny_models["vae"], "Random seed", 1, None, None, "Random seed", 2,
                                               None, None, "lerp", 4, 5)
    assert mp4 is None and "imageio-ffmpeg" in info
    assert Image.open(gif).n_frames == 4 and read_recipe(Image.open(io.BytesIO(_png(strip))))["a"] == {"seed": 1}


def test_interpolate_seeds_gives_strip_gif_mp4_and_map(tiny_models):
    import imageio.v3 as iio

    strip, gif, mp4, mmap, info = int_tab.walk(tiny_models["vae"], "Random seed", 1, None, None, "Random seed", 2,
                                               None, None, "slerp", 6, 5)
    assert Image.open(gif).n_frames == 6 and len(list(iio.imiter(mp4))) == 6
    assert mmap is not None and mmap.size == (15 * 28 * 2, 15 * 28 * 2)
    assert read_recipe(Image.open(io.BytesIO(_png(strip))))["b"] == {"seed": 2}
    again = int_tab.walk(tiny_models["vae"], "Random seed", 1, None, None, "Random seed", 2, None, None, "slerp", 6, 5)
    assert np.array_equal(np.asarray(strip), np.asarray(again[0]))  # same seeds, same frames
    paths = int_tab.path_choices(tiny_models["vae"])
    assert paths.value == "slerp" and [v for _, v in paths.choices] == ["slerp", "lerp"]  # no style space
    with pytest.raises(Exception, match="no style space W"):
        int_tab.walk(tiny_models["vae"], "Random seed", 1, None, None, "Random seed", 2, None, None, "w", 6, 5)


def test_interpolate_images_and_errors(tiny_models, tmp_path):
    p = tmp_path / "d.png"
    Image.fromarray(drawn_digit()).save(p)
    pad = {"composite": drawn_digit("zero"), "layers": [], "background": None}
    strip, gif, mp4, mmap, info = int_tab.walk(tiny_models["ae"], "Upload", 0, str(p), None, "Drawing", 0, None, pad,
                                               "lerp", 4, 10)
    assert _gif_ms(gif) == 4 * 100 and mmap is None  # identical frames of an untrained AE are merged by the encoder
    with pytest.raises(gr.Error, match="canvas is empty"):
        int_tab.walk(tiny_models["ae"], "Drawing", 0, None, None, "Random seed", 0, None, None, "lerp", 4, 8)
    with pytest.raises(gr.Error, match="Steps"):
        int_tab.walk(tiny_models["ae"], "Random seed", 0, None, None, "Random seed", 0, None, None, "lerp", 1, 8)
    with pytest.raises(gr.Error, match="Steps must be a whole number"):
        int_tab.walk(tiny_models["ae"], "Random seed", 0, None, None, "Random seed", 0, None, None, "lerp", "x", 8)
    with pytest.raises(gr.Error, match="Frames per second must be a number"):
        int_tab.walk(tiny_models["ae"], "Random seed", 0, None, None, "Random seed", 0, None, None, "lerp", 4, None)
    with pytest.raises(gr.Error, match="No model"):
        int_tab.walk(None, "Random seed", 0, None, None, "Random seed", 0, None, None, "lerp", 4, 8)


SHIPPED = ["ae-mnist", "vae-mnist", "vaegan-mnist", "vae2d-mnist"]
needs_shipped = pytest.mark.skipif(not all(m in registry.model_paths() for m in SHIPPED),
                                   reason="shipped autoencoder checkpoints missing")


@needs_shipped
def test_reconstruct_through_client(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    p = tmp_path / "seven.png"
    Image.fromarray(drawn_digit()).save(p)
    pad = {"background": None, "layers": [], "composite": handle_file(str(p))}
    pre, strip, info, pct = client.predict("Drawing", pad, None, SHIPPED[:3], "vae-mnist", api_name="/reconstruct")
    assert Image.open(pre).size == (224, 224) and 0 <= pct <= 100 and "vaegan-mnist" in info
    pre, strip, info, pct = client.predict("Upload", None, handle_file(str(p)), ["vae-mnist"], "vae-mnist",
                                           api_name="/reconstruct")
    assert Image.open(strip).size[0] > Image.open(strip).size[1]
    blank = tmp_path / "blank.png"
    Image.new("L", (280, 280), 255).save(blank)
    with pytest.raises(AppError, match="No ink"):
        client.predict("Upload", None, handle_file(str(blank)), ["vae-mnist"], "vae-mnist", api_name="/reconstruct")


@needs_shipped
def test_interpolate_through_client(client):
    strip, gif, mp4, mmap, info = client.predict("vae2d-mnist", "Random seed", 3, None, None, "Random seed", 4, None,
                                                 None, "slerp", 5, 6, api_name="/interpolate")
    assert Image.open(gif).n_frames == 5 and mmap is not None
    assert str(mp4["video"] if isinstance(mp4, dict) else mp4).endswith(".mp4")
