"""Style-based GAN: shapes for every config, seeded samples, truncation in W, style mixing by layer, mixing
regularisation while training, training through the one loop, checkpoint round trip, and the tabs."""
from dataclasses import asdict

import pytest
import torch

import imggen
from imggen import checkpoint
from imggen.data import load_data
from imggen.models.stylegan import StyleGAN, StyleGANConfig
from imggen.registry import load, register
from imggen.train import TrainConfig, train
from train_settings import settings

TINY = dict(g_width=8, d_width=8, latent_dim=16, w_dim=16, mapping_layers=2)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny style GAN trained 40 steps on 640 digits, saved and registered as "tiny-style"."""
    torch.manual_seed(0)
    data = load_data("mnist5k", split="train", limit=640)
    out = tmp_path_factory.mktemp("style") / "tiny-style.safetensors"
    events = list(train("stylegan", data, TrainConfig(epochs=4, batch_size=64, eval_samples=40, num_grid=4,
                                                      log_every=1), model_config=TINY, out=out, name="tiny-style"))
    register("tiny-style", out)
    return events, out


@pytest.mark.parametrize("channels,size,layers", [(1, 28, [7, 14, 14, 28, 28]), (3, 32, [4, 8, 8, 16, 16, 32, 32]),
                                                  (1, 64, [4] + [r for r in (8, 16, 32, 64) for _ in (0, 1)])])
def test_shapes_ranges_and_layers(channels, size, layers):
    m = StyleGAN(StyleGANConfig(channels=channels, image_size=size, **TINY)).eval()
    x = m.sample(3, generator=gen())
    assert x.shape == (3, channels, size, size) and x.min() >= -1 and x.max() <= 1
    assert m.layer_resolutions == layers and m.discriminate(x).shape == (3,)
    assert m.decode(torch.randn(2, 16)).shape == (2, channels, size, size)


def test_samples_are_seeded_and_truncation_pulls_toward_the_mean_style():
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(**TINY)).eval()
    a = m.sample(16, generator=gen(1))
    assert torch.equal(a, m.sample(16, generator=gen(1))) and not torch.equal(a, m.sample(16, generator=gen(2)))
    z = m.latents(16, generator=gen(1))
    w, wt = m.styles(z), m.styles(z, 0.3)
    assert torch.allclose(wt, m.w_avg() + 0.3 * (w - m.w_avg()), atol=1e-5)
    assert (wt - m.w_avg()).norm(dim=1).mean() < 0.35 * (w - m.w_avg()).norm(dim=1).mean()
    assert m.sample(16, generator=gen(1), truncation=0.3).std(0).mean() < a.std(0).mean()  # less varied
    with pytest.raises(ValueError, match="truncation must be > 0"):
        m.sample(2, truncation=0)


def test_style_mixing_takes_the_ticked_layers_from_the_columns():
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(**TINY)).eval()
    zr, zc = m.latents(2, generator=gen(1)), m.latents(3, generator=gen(2))
    own_r, own_c = m.render(zr, 1.0), m.render(zc, 1.0)
    every = m.mix(zr, zc, {7, 14, 28})
    assert every.shape == (2, 3, 1, 28, 28) and torch.allclose(every, own_c[None].expand(2, -1, -1, -1, -1), atol=1e-6)
    assert torch.allclose(m.mix(zr, zc, set()), own_r[:, None].expand(-1, 3, -1, -1, -1), atol=1e-6)
    coarse = m.mix(zr, zc, {7})
    assert not torch.allclose(coarse, every, atol=1e-3) and not torch.allclose(coarse[:, 0], own_r, atol=1e-3)
    pairs = m.mix_pairs(zr, zc[:2], {7})
    assert torch.allclose(pairs, torch.stack([coarse[0, 0], coarse[1, 1]]), atol=1e-5)  # the grid's diagonal
    grid = m.mixing_grid(zr, zc, {7})
    assert grid.shape == (3 * 4, 1, 28, 28) and (grid[0] == -1).all()  # blank corner
    assert torch.allclose(grid[1:4], own_c, atol=1e-6) and torch.allclose(grid[4], own_r[0], atol=1e-6)
    assert torch.allclose(grid[5:8], coarse[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"resolutions \[5\] are not among"):
        m.mix(zr, zc, {5})


def test_mixing_regularisation_only_while_training():
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(**TINY, style_mixing=1.0))
    z = torch.randn(8, 16)
    m.train()
    torch.manual_seed(1)
    mixed = m.G(z)
    m.G.style_mixing = 0.0
    torch.manual_seed(1)
    plain = m.G(z)  # noise strengths start at 0: only the mixing differs
    assert not torch.allclose(mixed, plain, atol=1e-4)
    m.eval()
    m.G.style_mixing = 1.0
    assert torch.equal(m.G(z), m.G(z)) and torch.allclose(m.G(z), m.render(z, 1.0), atol=1e-6)


@pytest.mark.slow
def test_training_runs_and_checkpoint_round_trip(fitted, tmp_path):
    events, out = fitted
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) + 4 >= 36 and all(set(e.losses) >= {"loss/D", "loss/G"} for e in steps)
    d_real = [e.losses["D(x)"] for e in steps]
    assert max(d_real[-10:]) > 0.5  # D learns to call real digits real
    assert {"fd", "coverage"} <= set([e for e in events if e.kind == "epoch"][-1].metrics)
    m = load(str(out))
    x = m.sample(4, seed=3, truncation=0.7)
    assert torch.equal(x, m.sample(4, seed=3, truncation=0.7)) and x.min() >= 0 and x.max() <= 1
    path = checkpoint.save(m.net, tmp_path / "again.safetensors", family="stylegan", config=asdict(m.net.config))
    assert torch.equal(load(str(path)).sample(4, seed=3, truncation=0.7), x)


def test_walk_in_style_space_runs_straight_between_the_endpoint_styles():
    from imggen.interpolate import has_style_space, interpolate, latent_path

    m = StyleGAN(StyleGANConfig(**TINY)).eval()
    za, zb = m.latents(2, generator=gen(4))
    ws = latent_path(m, za, zb, 5, "w")
    wa, wb = m.styles(torch.stack([za, zb]))
    assert ws.shape == (5, 16) and torch.allclose(ws[0], wa) and torch.allclose(ws[-1], wb, atol=1e-6)
    assert torch.allclose(ws[2], (wa + wb) / 2, atol=1e-6)
    frames = interpolate(m, za, zb, 5, "w")
    assert frames.shape == (5, 1, 28, 28) and frames.min() >= 0 and frames.max() <= 1
    ends = (m.render(torch.stack([za, zb])) + 1) / 2  # the end frames are the endpoints' own images
    assert torch.allclose(frames[[0, -1]], ends.clamp(0, 1), atol=1e-5)
    mid_z = interpolate(m, za, zb, 5, "lerp")[2]
    assert not torch.allclose(frames[2], mid_z, atol=1e-3)  # a straight line in W is not one in z
    assert has_style_space(m) and not has_style_space(build_dcgan())
    with pytest.raises(ValueError, match="no style space W"):
        latent_path(build_dcgan(), torch.zeros(8), torch.ones(8), 3, "w")
    with pytest.raises(ValueError, match="mode must be one of"):
        latent_path(m, za, zb, 3, "cubic")


def build_dcgan():
    from imggen.registry import build

    return build("dcgan", latent_dim=8, g_width=8, d_width=8)


@pytest.mark.slow
def test_tabs_list_and_use_it(fitted, monkeypatch, tmp_path):
    import numpy as np

    from imggen.convert import read_recipe
    from imggen.ui import common
    from imggen.ui import explore as et
    from imggen.ui import sample as st
    from imggen.ui import train_tab as tt

    assert "tiny-style" in common.model_choices(capability="mix")
    assert "tiny-style" in common.model_choices(capability="discriminate")
    grid, gallery, info, recipe = st.sample("tiny-style", 4, 1, None, 0.7)
    assert len(gallery) == 4 and recipe["truncation"] == 0.7
    classes, trunc, keep, refine, cand = st.model_options("tiny-style")
    assert trunc.visible and "average style" in trunc.info and refine.visible and not keep.visible and cand.visible
    from imggen.ui import interpolate as it

    paths = it.path_choices("tiny-style")
    assert paths.value == "w" and [v for _, v in paths.choices] == ["slerp", "lerp", "w"]
    strip, gif, mp4, mmap, winfo = it.walk("tiny-style", "Random seed", 1, None, None, "Random seed", 2, None, None,
                                           "w", 4, 5)
    assert read_recipe(strip)["mode"] == "w" and "|w| from" in winfo and mmap is None
    layers = et.mixing_layers("tiny-style")
    assert [v for _, v in layers.choices] == [7, 14, 28] and layers.value == [7]
    png, caption = et.style_mix("tiny-style", "1, 2", "5 6 7", [7], 0.8)
    assert png.width > png.height  # 4 columns (3 seeds + the row sources) by 3 rows (2 seeds + the top)
    assert "7×7 styles" in caption and "truncation 0.8" in caption
    rec = read_recipe(png)
    assert rec["row_seeds"] == [1, 2] and rec["column_seeds"] == [5, 6, 7] and rec["layers_from_columns"] == [7]
    m = load("tiny-style").net
    z = torch.cat([m.latents(1, generator=gen(s)) for s in (1, 2)]), torch.cat([m.latents(1, generator=gen(s))
                                                                                for s in (5, 6, 7)])
    again, _ = et.style_mix("tiny-style", "1, 2", "5 6 7", [7], 0.8)
    assert np.array_equal(np.asarray(again), np.asarray(png))  # seeded: the same grid again
    assert m.mixing_grid(*z, {7}, 0.8).shape == (12, 1, 28, 28)
    for bad, match in ((("", "1"), "Row seeds"), (("1,x", "1"), "not a seed"), (("1", " ".join("123456789")),
                                                                                    "Column seeds: 1 to 8")):
        with pytest.raises(Exception, match=match):
            et.style_mix("tiny-style", *bad, [7], 1.0)
    with pytest.raises(Exception, match="Tick at least one"):
        et.style_mix("tiny-style", "1", "2", [], 1.0)
    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path)
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 20)
    tt.arm()
    outs = list(tt.start_training(**settings(family="Style-based GAN (StyleGAN)", max_images=64, epochs=1,
                                             batch_size=32, name="tiny-style-tab")))
    assert "finished after 2 steps" in outs[-1][1]
    assert imggen.list_models()["tiny-style-tab"]["config"]["g_width"] == 8
    assert "tiny-style-tab" in common.model_choices(capability="mix")  # the new run can be style-mixed at once
    assert {imggen.list_models()[n]["family"] for n in common.model_choices(capability="mix")} == {"stylegan"}
    v = tt.preset_values("Style-based GAN (StyleGAN)", tt.QUICK)
    assert v["lr"] == 2e-4 and v["lr_d"] == 2e-4 and v["ema"]  # the GAN recipe: its init is the ordinary one
    assert tt.model_overrides("stylegan", 32, 16, True, 0) == {"latent_dim": 32, "g_width": 16, "d_width": 16,
                                                               "use_spectral_norm": True, "blocks": 0}


@pytest.mark.slow
def test_bench_rows_and_table(fitted, load_bench, tmp_path):
    """bench/stylegan.py, tiny: the model at two truncations, a shipped GAN beside it, a style GAN and a DCGAN
    trained here for the same seconds; JSON and markdown written."""
    import json

    out = tmp_path / "style"
    load_bench("stylegan").main(["--model", str(fitted[1]), "--others", "cgan-mnist", "--truncation", "0.5",
                                 "--samples", "40", "--pairs", "0", "--walks", "5", "--walk-steps", "4",
                                 "--train-seconds", "2", "--out", str(out)])
    res = json.loads(out.with_suffix(".json").read_text())
    names = [r["model"] for r in res["rows"]]
    assert names == [f"{fitted[1]}, truncation 1", f"{fitted[1]}, truncation 0.5", "cgan-mnist",
                     "stylegan trained 2 s here", "dcgan trained 2 s here"]
    rows = {r["model"]: r for r in res["rows"]}
    assert rows["cgan-mnist"]["coverage"] == 10 and rows["stylegan trained 2 s here"]["steps"] >= 1
    assert "| cgan-mnist |" in out.with_suffix(".md").read_text() and res["mixing"] == []


@pytest.mark.slow
def test_mixing_rows_on_the_shipped_model(load_bench):
    """Style mixing measured on stylegan-mnist: per layer resolution, shares that read as either digit."""
    if "stylegan-mnist" not in imggen.list_models():
        pytest.skip("stylegan-mnist is not shipped")
    bench = load_bench("stylegan")
    rows = bench.mixing_rows(load("stylegan-mnist").net, 60, 1.0)
    assert [r["layers"] for r in rows] == ["7×7", "14×14", "28×28"] and rows[0]["pairs"] > 0
    assert all(0 <= r["reads_as_b"] + r["reads_as_a"] <= 1 for r in rows)
    # the digit lives in the coarse styles, not the fine: fine styles from B move fewer pixels and keep A's digit
    assert rows[0]["pixel_change"] > rows[-1]["pixel_change"] and rows[-1]["reads_as_a"] > rows[0]["reads_as_a"]
    net = load("stylegan-mnist").net
    walks = {mode: bench.walk_row("s", net, mode, 40, 8) for mode in ("w", "slerp")}
    for r in walks.values():
        assert r["walks"] > 0 and r["steps"] == 8 and 0 <= r["third_digit"] <= 1 and 0 <= r["unclear_frames"] <= 1
        assert r["detour"] >= 1  # a path is never shorter than the straight distance between its ends
    assert walks["w"] != walks["slerp"]


def test_mapping_lr_mul_scales_the_stored_mapping_weights_and_is_checked():
    """The mapping network's learning-rate multiplier (a config field, default 0.1): weights are stored divided
    by it, so the same seed gives the same styles at any multiplier; out of (0, 1] is refused."""
    torch.manual_seed(0)
    slow = StyleGAN(StyleGANConfig(**TINY, mapping_lr_mul=0.01)).eval()
    torch.manual_seed(0)
    default = StyleGAN(StyleGANConfig(**TINY)).eval()
    assert default.config.mapping_lr_mul == 0.1
    w_slow, w_def = slow.G.mapping[0].weight, default.G.mapping[0].weight
    assert torch.allclose(w_slow * 0.01, w_def * 0.1, atol=1e-6) and w_slow.abs().mean() > 5 * w_def.abs().mean()
    z = torch.randn(4, TINY["latent_dim"], generator=gen())
    assert torch.allclose(slow.styles(z), default.styles(z), atol=1e-5)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="mapping_lr_mul"):
            StyleGAN(StyleGANConfig(**TINY, mapping_lr_mul=bad))


def test_best_of_candidates_does_not_depend_on_the_batch():
    """D picks each sample's best of k with the minibatch-std channel off, so how the candidates are batched (or
    what else is in the batch) cannot change a pick; k = 1 is the plain sampler."""
    torch.manual_seed(0)
    m = StyleGAN(StyleGANConfig(use_minibatch_std=True, **TINY)).eval()
    z = torch.randn(32, TINY["latent_dim"])
    make = lambda zb, _: m.render(zb)  # noqa: E731
    a, b = m.best_of(make, z, None, 4, chunk=8), m.best_of(make, z, None, 4, chunk=1024)
    assert a.shape == (8, 1, 28, 28) and torch.allclose(a, b, atol=1e-6)
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(m.sample(6, generator=g(), candidates=1), m.sample(6, generator=g()))
    with pytest.raises(ValueError, match="from 1 to 16"):
        m.sample(2, candidates=0)
