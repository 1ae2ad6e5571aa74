"""Sample tab: callbacks directly (tiny registered GANs) and through gradio_client (shipped GANs)."""
from dataclasses import asdict

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from imggen import checkpoint, registry
from imggen.convert import read_recipe
from imggen.data import load_data
from imggen.ui import detect
from imggen.ui import sample as tab

TINY = dict(latent_dim=8, g_width=8, d_width=8)


@pytest.fixture(scope="module")
def tiny_gans(tmp_path_factory):
    d = tmp_path_factory.mktemp("gans")
    names = {}
    for fam in ("dcgan", "cgan"):
        torch.manual_seed(0)
        net = registry.build(fam, **TINY)
        path = checkpoint.save(net, d / f"{fam}.safetensors", family=fam, config=asdict(net.config))
        names[fam] = f"test-{fam}-sample"
        registry.register(names[fam], path)
    return names


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory):
    x = load_data("mnist5k", split="test", limit=1).images[0, 0]
    p = tmp_path_factory.mktemp("up") / "digit.png"
    Image.fromarray(((x + 1) * 127.5).round().byte().numpy()).save(p)
    return str(p)


def _arr(im):
    return np.asarray(im.convert("L"))


def test_sample_grid_gallery_and_recipe(tiny_gans):
    grid, gallery, info, recipe = tab.sample(tiny_gans["cgan"], 6, 11, tab.EACH, 0.7)
    assert isinstance(grid, Image.Image) and len(gallery) == 6
    assert "Seed 11" in info and "truncation 0.7" in info
    assert recipe == {"tab": "sample", "model": tiny_gans["cgan"], "n": 6, "seed": 11, "class": tab.EACH,
                      "truncation": 0.7}
    assert read_recipe(grid)["seed"] == 11
    grid2, *_ = tab.sample(tiny_gans["cgan"], 6, 11, tab.EACH, 0.7)
    assert np.array_equal(_arr(grid), _arr(grid2))  # same seed, same samples
    grid3, *_ = tab.sample(tiny_gans["cgan"], 6, 12, tab.EACH, 0.7)
    assert not np.array_equal(_arr(grid), _arr(grid3))
    big = tab.enlarge(recipe, 2)
    small = gallery[2][0]
    assert big.width > small.width
    assert np.array_equal(_arr(big.resize(small.size, Image.Resampling.NEAREST)), _arr(small))


def test_class_truncation_keep_and_refine_controls(tiny_gans):
    cls, trunc, keep, refine, cand = tab.model_options(tiny_gans["cgan"])
    assert cls.visible and "7" in [c[0] if isinstance(c, tuple) else c for c in cls.choices]
    assert trunc.visible and refine.visible and cand.visible and not keep.visible  # Jacobian: unconditional only
    cls, trunc, keep, refine, _ = tab.model_options(tiny_gans["dcgan"])
    assert not cls.visible and trunc.visible and keep.visible and refine.visible and "redrawn" in trunc.info
    assert tab._labels("3", 4, 10) == [3, 3, 3, 3]
    assert tab._labels(tab.EACH, 12, 10)[10:] == [0, 1]
    assert tab._labels(tab.RANDOM, 4, 10) is None
    _, _, _, r = tab.sample(tiny_gans["dcgan"], 2, 0, tab.RANDOM, 1.0)
    assert r["model"] == tiny_gans["dcgan"] and "refine_steps" not in r


def test_refined_grid_carries_its_steps_and_reproduces(tiny_gans):
    plain, *_ = tab.sample(tiny_gans["dcgan"], 4, 3, tab.RANDOM, 1.0, 0)
    grid, gallery, info, recipe = tab.sample(tiny_gans["dcgan"], 4, 3, tab.RANDOM, 1.0, 5)
    assert recipe["refine_steps"] == 5 and read_recipe(grid)["refine_steps"] == 5 and "refined 5 steps" in info
    assert not np.array_equal(_arr(grid), _arr(plain))
    again, *_ = tab.sample(tiny_gans["dcgan"], 4, 3, tab.RANDOM, 1.0, 5)
    assert np.array_equal(_arr(grid), _arr(again))
    big = tab.enlarge(recipe, 1)  # redrawn with the same refinement
    assert np.array_equal(_arr(big.resize(gallery[1][0].size, Image.Resampling.NEAREST)), _arr(gallery[1][0]))


def test_keep_slider_starts_at_the_cards_recommended_setting(tmp_path):
    """A checkpoint whose card recommends keep=0.65 opens the Sample tab's keep slider there; others at 1."""
    torch.manual_seed(0)
    net = registry.build("dcgan", **TINY)
    path = checkpoint.save(net, tmp_path / "rec.safetensors", family="dcgan", config=asdict(net.config),
                           card={"sampling": {"keep": 0.65}})
    registry.register("test-dcgan-recommended", path)
    _, trunc, keep, refine, _ = tab.model_options("test-dcgan-recommended")
    assert keep.visible and keep.value == 0.65 and trunc.value == 1.0 and refine.value == 0
    _, _, keep, _, _ = tab.model_options(None)
    assert not keep.visible and keep.value == 1.0


def test_a_fitted_prior_is_named_in_the_info_and_recipe(tmp_path):
    torch.manual_seed(0)
    net = registry.build("dcgan", **TINY).eval()
    net.fit_prior(3, 300)
    path = checkpoint.save(net, tmp_path / "mix.safetensors", family="dcgan", config=asdict(net.config))
    registry.register("test-dcgan-mixture", path)
    grid, gallery, info, recipe = tab.sample("test-dcgan-mixture", 4, 2, tab.RANDOM, 1.0, 0, 1.0)
    assert "latents from its fitted 3-Gaussian mixture" in info and read_recipe(grid)["prior_components"] == 3
    big = tab.enlarge(recipe, 1)  # the same latent again
    assert np.array_equal(_arr(big.resize(gallery[1][0].size, Image.Resampling.NEAREST)), _arr(gallery[1][0]))


def test_kept_grid_carries_its_fraction_and_reproduces(tiny_gans):
    plain, *_ = tab.sample(tiny_gans["dcgan"], 4, 3, tab.RANDOM, 1.0, 0, 1.0)
    grid, gallery, info, recipe = tab.sample(tiny_gans["dcgan"], 4, 3, tab.RANDOM, 1.0, 0, 0.5)
    assert recipe["keep"] == 0.5 and read_recipe(grid)["keep"] == 0.5 and "kept the 50 % least steep" in info
    assert not np.array_equal(_arr(grid), _arr(plain))
    big = tab.enlarge(recipe, 3)  # redrawn with the same selection
    assert np.array_equal(_arr(big.resize(gallery[3][0].size, Image.Resampling.NEAREST)), _arr(gallery[3][0]))
    _, _, info, r = tab.sample(tiny_gans["cgan"], 2, 0, tab.EACH, 1.0, 0, 0.5)  # a model without it: ignored
    assert "keep" not in r and "steep" not in info


def test_d_ranked_candidates_follow_the_class_and_reproduce(tiny_gans):
    """Best of N by the discriminator: each kept sample is the candidate D scores highest for its class; the grid
    names N, carries it in its recipe and is made again from it."""
    name = tiny_gans["cgan"]
    plain, *_ = tab.sample(name, 4, 3, "7", 1.0)
    grid, gallery, info, recipe = tab.sample(name, 4, 3, "7", 1.0, 0, 1.0, 4)
    assert recipe["candidates"] == 4 and read_recipe(grid)["candidates"] == 4 and "best of 4 by the discrim" in info
    assert not np.array_equal(_arr(grid), _arr(plain))
    big = tab.enlarge(recipe, 2)
    assert np.array_equal(_arr(big.resize(gallery[2][0].size, Image.Resampling.NEAREST)), _arr(gallery[2][0]))
    m = registry.load(name)
    with torch.no_grad():
        y = torch.full((16,), 7)
        every = m.net.sample(16, generator=m.generator(3), labels=[7], candidates=1)  # the same 16 draws
        best = m.net.sample(4, generator=m.generator(3), labels=[7], candidates=4)
        d = m.net.D(every, y).view(4, 4)
    assert torch.equal(best, every.view(4, 4, *every.shape[1:])[torch.arange(4), d.argmax(1)])
    with pytest.raises(ValueError, match="from 1 to 16"):
        m.net.sample(2, candidates=17)
    with pytest.raises(gr.Error, match="Candidates"):
        tab.sample(name, 4, 3, "7", 1.0, 0, 1.0, 9)
    with pytest.raises(gr.Error, match="network passes"):  # each bound allowed, together too much work
        tab.sample(tiny_gans["dcgan"], 64, 3, tab.RANDOM, 1.0, 0, 0.3, 8)


@pytest.mark.parametrize("args, match", [
    ((None, 4, 0, tab.RANDOM, 1.0), "No model"),
    (("MODEL", 0, 0, tab.RANDOM, 1.0), "Count"),
    (("MODEL", 200, 0, tab.RANDOM, 1.0), "Count"),
    (("MODEL", 4, -3, tab.RANDOM, 1.0), "Seed"),
    (("MODEL", 4, 0, "12", 1.0), "Class"),
    (("MODEL", 4, 0, tab.RANDOM, 1.0, 500), "Refinement steps"),
    (("MODEL", 4, 0, tab.RANDOM, 1.0, "many"), "Refinement steps"),
    (("MODEL", 4, 0, tab.RANDOM, 1.0, 0, 0.0), "Keep"),
    (("MODEL", 4, 0, tab.RANDOM, 1.0, 0, tab.MIN_KEEP - 0.05), "Keep must be between"),
    (("MODEL", 4, 0, tab.RANDOM, 1.0, 0, "most"), "Keep"),
    (("MODEL", 4, 0, tab.RANDOM, "low"), "Truncation must be a number"),
    (("MODEL", 4, 0, tab.RANDOM, 0.0), "Truncation must be between"),
    (("MODEL", 4, 0, tab.RANDOM, float("nan")), "Truncation"),
])
def test_sample_errors(tiny_gans, args, match):
    args = tuple(tiny_gans["cgan"] if a == "MODEL" else a for a in args)
    with pytest.raises(gr.Error, match=match):
        tab.sample(*args)
    with pytest.raises(gr.Error, match="Generate samples first"):
        tab.enlarge(None, 0)


def test_detect_scores_upload_against_references(tiny_gans, digit_png, tmp_path):
    prev, plot, md = tab.detect(tiny_gans["cgan"], digit_png)
    assert prev.size == (112, 112) and plot.width > 200
    score = float(md.split("**Score ")[1].split("**")[0])
    assert 0 <= score <= 1 and "held-out test digits" in md
    real, fake, words = detect.reference_scores(tiny_gans["cgan"])
    assert len(real) == detect.REFERENCE_N and len(fake) == detect.REFERENCE_N and words == "held-out test digits"
    bad = tmp_path / "x.png"
    bad.write_bytes(b"definitely not an image")
    with pytest.raises(gr.Error):
        tab.detect(tiny_gans["dcgan"], str(bad))
    with pytest.raises(gr.Error, match="No image"):
        tab.detect(tiny_gans["dcgan"], None)


SHIPPED = ("dcgan-mnist", "cgan-mnist")
needs_shipped = pytest.mark.skipif(not all(m in registry.model_paths() for m in SHIPPED),
                                   reason="shipped GAN checkpoints missing")


@pytest.mark.slow
@needs_shipped
def test_sample_through_client(client):
    grid, gallery, info = client.predict("cgan-mnist", 10, 5, "3", 1.0, 0, api_name="/sample")
    assert "Seed 5" in info and len(gallery) == 10
    assert read_recipe(grid)["class"] == "3"
    grid, gallery, info = client.predict("dcgan-mnist", 4, 5, tab.RANDOM, 1.0, 10, api_name="/sample")
    assert "refined 10 steps" in info and read_recipe(grid)["refine_steps"] == 10
    grid, gallery, info = client.predict("dcgan-mnist", 4, 5, tab.RANDOM, 1.0, 0, 0.65, api_name="/sample")
    assert "kept the 65 % least steep" in info and read_recipe(grid)["keep"] == 0.65
    grid, gallery, info = client.predict("cgan-mnist", 4, 5, "3", 1.0, 0, 1.0, 4, api_name="/sample")
    assert "best of 4 by the discriminator" in info and read_recipe(grid)["candidates"] == 4
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="minimum"):  # the slider's own bound check
        client.predict("dcgan-mnist", 0, 5, tab.RANDOM, 1.0, 0, api_name="/sample")
    with pytest.raises(AppError, match="Class must be"):
        client.predict("cgan-mnist", 4, 5, "12", 1.0, 0, api_name="/sample")


@needs_shipped
def test_detect_through_client(client, digit_png, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    prev, plot, md = client.predict("dcgan-mnist", handle_file(digit_png), api_name="/detect")
    assert "Score" in md and Image.open(plot).width > 200
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(AppError):
        client.predict("dcgan-mnist", handle_file(str(bad)), api_name="/detect")
