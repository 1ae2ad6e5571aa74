"""Pixel GPT (autoregressive): tokens round-trip, the likelihood is exact and normalised (with and without
classes), seeded and label-respecting samples, completion follows the exact conditional, training through the one
loop lowers the NLL, checkpoint round trip, the Complete API and the tabs."""
import itertools
from dataclasses import asdict

import pytest
import torch

import imggen
from imggen import checkpoint
from imggen.complete import run_completion
from imggen.data import load_data
from imggen.models.gpt import PixelGPT, PixelGPTConfig
from imggen.registry import load, register
from imggen.train import TrainConfig, train
from train_settings import settings

TINY = dict(n_layer=1, n_head=2, n_embd=32)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def every_image(size: int, levels: int = 2) -> torch.Tensor:
    """All (levels ** size²) gray images of side ``size``, at each level's value in [-1, 1]."""
    vals = torch.linspace(-1, 1, levels)
    return vals[torch.tensor(list(itertools.product(range(levels), repeat=size * size)))].view(-1, 1, size, size)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny class-conditional pixel GPT trained 60 steps on 640 MNIST digits, saved and registered."""
    torch.manual_seed(0)
    data = load_data("mnist5k", split="train", limit=640)
    out = tmp_path_factory.mktemp("gpt") / "tiny-gpt.safetensors"
    events = list(train("pixelgpt", data, TrainConfig(epochs=6, batch_size=64, lr=3e-3, eval_samples=40, num_grid=4,
                                                      log_every=1), model_config=TINY, out=out, name="tiny-gpt"))
    register("tiny-gpt", out)
    return events, out


def test_tokens_round_trip_for_levels_patches_and_colour():
    torch.manual_seed(0)
    for cfg in (dict(), dict(levels=4, patch=1), dict(channels=3, levels=2, patch=2, image_size=8),
                dict(channels=3, levels=3, patch=1, image_size=8)):
        m = PixelGPT(PixelGPTConfig(**{"image_size": 28, **cfg, **TINY}))
        c = m.config
        x = torch.rand(3, c.channels, c.image_size, c.image_size) * 2 - 1
        tok = m.tokens(x)
        assert tok.shape == (3, c.num_tokens) and 0 <= tok.min() and tok.max() < c.vocab
        back = m.images(tok)
        assert torch.equal(m.quantize(back), m.quantize(x))  # a level comes back as itself
    m = PixelGPT(PixelGPTConfig(**TINY))
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert torch.equal(m.images(m.tokens(x)), torch.where((x + 1) / 2 >= 0.5, 1.0, -1.0))  # levels 2: binarized


@pytest.mark.parametrize("cfg", [dict(image_size=2, patch=1), dict(image_size=2, patch=2),
                                 dict(image_size=2, patch=1, levels=3), dict(image_size=2, patch=1, num_classes=3)])
def test_likelihood_is_exact_and_normalised(cfg):
    """Small enough to list every image: the probabilities sum to 1 (per class too for a conditional model)."""
    torch.manual_seed(1)
    m = PixelGPT(PixelGPTConfig(**cfg, **TINY)).eval()
    for p in m.parameters():  # an untrained net is near uniform; make it opinionated
        torch.nn.init.normal_(p, std=0.5)
    every = every_image(2, cfg.get("levels", 2))
    ll = m.log_likelihood(every)
    assert torch.allclose(ll.exp().sum(), torch.tensor(1.0), atol=1e-4) and ll.std() > 0.1
    assert m.log_likelihood(every, k=100, generator=gen()).equal(ll)  # the VAEs' arguments change nothing
    if cfg.get("num_classes"):
        per = [m.log_likelihood(every, labels=torch.full((len(every),), y)) for y in range(3)]
        prior = m._class_log_prior().exp()
        assert torch.allclose(prior.sum(), torch.tensor(1.0), atol=1e-5)
        for y in range(3):  # log p(x, y): summed over x it is p(y)
            assert torch.allclose(per[y].exp().sum(), prior[y], atol=1e-4)
        assert torch.allclose(torch.stack(per).logsumexp(0), ll, atol=1e-4)  # p(x) sums the classes out


def test_samples_follow_the_model_distribution():
    """On 2x2 binary images, sample frequencies match the exact probabilities; temperature sharpens them."""
    torch.manual_seed(2)
    m = PixelGPT(PixelGPTConfig(image_size=2, patch=1, **TINY)).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)
    every = every_image(2)
    probs = m.log_likelihood(every).exp()
    x = m.sample(4000, generator=gen(3))
    idx = ((x.flatten(1) > 0).long() * torch.tensor([8, 4, 2, 1])).sum(1)  # image -> row of every_image
    freq = torch.bincount(idx, minlength=16).float() / len(x)
    assert (freq - probs).abs().sum() < 0.08  # total variation (x2) within sampling noise
    cold = m.sample(2000, generator=gen(3), truncation=0.05)
    top = ((cold.flatten(1) > 0).long() * torch.tensor([8, 4, 2, 1])).sum(1)
    assert torch.bincount(top).max() > 0.9 * len(cold)  # near-greedy: nearly always one image
    with pytest.raises(ValueError, match="truncation must be > 0"):
        m.sample(2, truncation=0)


@pytest.mark.slow
def test_completion_follows_the_exact_conditional():
    """The first pixel missing, the other three known: importance resampling must account for how well each draw
    predicts the known pixels after it (sampling the first pixel from its marginal would be wrong)."""
    torch.manual_seed(27)  # a net whose conditional (0.71) is far from the first pixel's marginal (0.42)
    m = PixelGPT(PixelGPTConfig(image_size=2, patch=1, **TINY)).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = torch.tensor([[[[-1.0, 1.0], [1.0, -1.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    pair = x.repeat(2, 1, 1, 1)
    pair[1, 0, 0, 0] = 1.0
    ll = m.log_likelihood(pair)
    exact_on = (ll[1] - ll.logsumexp(0)).exp().item()  # p(first pixel on | the three known)
    marginal_on = m.sample(4000, generator=gen(0))[:, 0, 0, 0].gt(0).float().mean().item()
    assert abs(exact_on - marginal_on) > 0.2  # the test can tell the two apart
    out = m.complete(x.repeat(600, 1, 1, 1), mask.repeat(600, 1, 1, 1), n=1, particles=32, generator=gen(5))
    assert out.shape == (600, 1, 1, 2, 2)
    assert torch.equal(out[:, 0, 0, 0, 1], x[0, 0, 0, 1].expand(600))  # known pixels kept
    assert torch.equal(out[:, 0, 0, 1], x[0, 0, 1].expand(600, -1))
    assert abs(out[:, 0, 0, 0, 0].gt(0).float().mean().item() - exact_on) < 0.07


def test_partly_known_patches_are_respected():
    m = PixelGPT(PixelGPTConfig(**TINY)).eval()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    mask = (torch.rand(2, 1, 28, 28) < 0.5).float()  # scattered: most 2x2 patches are partly known
    out = m.complete(x, mask, n=3, generator=gen(0), particles=2)
    known = (mask == 0).unsqueeze(1).expand_as(out)
    assert torch.equal(out[known], x.unsqueeze(1).expand_as(out)[known])
    assert torch.equal(out, m.complete(x, mask, n=3, generator=gen(0), particles=2))  # seeded


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="at most 4,096"):
        PixelGPTConfig(channels=3, levels=4, patch=2)
    with pytest.raises(ValueError, match="at most 1024"):
        PixelGPTConfig(image_size=64, patch=1)
    with pytest.raises(ValueError, match="patch dividing the image size"):
        PixelGPTConfig(image_size=28, patch=3)
    with pytest.raises(ValueError, match="multiple of n_head"):
        PixelGPTConfig(n_embd=30, n_head=4)
    m = PixelGPT(PixelGPTConfig(**TINY))
    with pytest.raises(ValueError, match="trained without classes"):
        m.sample(2, labels=[1, 2])
    cm = PixelGPT(PixelGPTConfig(num_classes=10, **TINY))
    with pytest.raises(ValueError, match="class indices in 0..9"):
        cm.sample(2, labels=[1, 10])
    assert cm._labels([1, 2], 5).tolist() == [1, 2, 1, 2, 1]  # cycled, as the GANs do


@pytest.mark.slow
def test_training_lowers_the_nll_and_samples_are_seeded(fitted, tmp_path):
    events, out = fitted
    steps = [e for e in events if e.kind == "step"]
    first = sum(e.losses["loss/nll"] for e in steps[:5]) / 5
    last = sum(e.losses["loss/nll"] for e in steps[-5:]) / 5
    assert last < 0.6 * first  # from ~543 nats (uniform bits) down
    assert {"fd", "coverage"} <= set([e for e in events if e.kind == "epoch"][-1].metrics)
    m = load(str(out))
    assert m.config.num_classes == 10 and m.family == "pixelgpt"
    x = m.sample(4, seed=3, labels=[1, 2, 3, 4])
    assert x.shape == (4, 1, 28, 28) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, m.sample(4, seed=3, labels=[1, 2, 3, 4])) and not torch.equal(x, m.sample(4, seed=4))
    assert m.sample(0).shape == (0, 1, 28, 28)
    path = checkpoint.save(m.net, tmp_path / "again.safetensors", family="pixelgpt", config=asdict(m.net.config))
    assert torch.equal(load(str(path)).sample(4, seed=3, labels=[1, 2, 3, 4]), x)


@pytest.mark.slow
def test_held_out_metrics_and_typicality(fitted):
    from imggen import anomaly
    from imggen.evaluate import evaluate_model

    res = evaluate_model("tiny-gpt", n=40, data="mnist5k", iwae_images=30)
    assert res["nll_images"] == 30 and 0 < res["nll_nats"] < 543.5
    assert res["bits_per_dim"] == pytest.approx(res["nll_nats"] / (784 * 0.6931471805599453))
    m = load("tiny-gpt")
    test = load_data("mnist5k", split="test").images[:50]
    ref = anomaly.build_reference(m.net, test)
    noise = (torch.rand(1, 1, 28, 28) > 0.5).float()
    assert anomaly.percentile(ref, m.log_likelihood(noise)).item() == 0.0  # noise is less typical than any digit


@pytest.mark.slow
def test_complete_api_and_method_errors(fitted):
    x = (load_data("mnist5k", split="test").images[:1] + 1) / 2
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 14:, :] = 1
    res = run_completion("tiny-gpt", x, mask, "auto", n=3, seed=0)
    assert res.method == "gpt" and res.images.shape == (3, 1, 28, 28)
    assert torch.allclose(res.images[:, 0, :14], x[0, 0, :14].expand(3, -1, -1), atol=1e-6)  # known half kept
    assert set(res.images[:, 0, 14:].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(res.images, run_completion("tiny-gpt", x, mask, "auto", n=3, seed=0).images)
    with pytest.raises(ValueError, match="'arf' method needs .* a pixelgpt model completes with 'gpt'"):
        run_completion("tiny-gpt", x, mask, "arf", n=2)
    with pytest.raises(ValueError, match="'gpt' method needs"):
        run_completion("vae-mnist", x, mask, "gpt", n=2)


@pytest.mark.slow
def test_tabs_list_and_use_it(fitted, monkeypatch, tmp_path):
    from imggen.ui import common
    from imggen.ui import complete as ct
    from imggen.ui import reconstruct as rt
    from imggen.ui import sample as st
    from imggen.ui import train_tab as tt

    assert "tiny-gpt" in common.model_choices(capability="decode|complete")
    assert "tiny-gpt" in common.model_choices(capability="log_likelihood")
    masked, outs, md = ct.complete("tiny-gpt", "Model sample", None, None, 3, None, "bottom", 0, "auto", 2, 0)
    assert "**Method:** gpt" in md
    grid, gallery, info, recipe = st.sample("tiny-gpt", 4, 1, "7", 0.8)
    assert len(gallery) == 4 and recipe["truncation"] == 0.8
    classes, trunc, keep, refine, cand = st.model_options("tiny-gpt")
    assert classes.visible and trunc.visible and "temperature" in trunc.info and not keep.visible and not cand.visible
    assert hasattr(rt, "reconstruct")
    v = tt.preset_values("Pixel GPT (autoregressive)", tt.QUICK)
    assert v["width"] == 64 and v["lr"] == 1e-3
    assert tt.model_overrides("pixelgpt", 16, 64, True, 1) == {"n_embd": 64}
    with pytest.raises(Exception, match="multiple of 4"):
        tt.model_overrides("pixelgpt", 16, 30, True, 0)
    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path)
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 20)
    tt.arm()
    outs = list(tt.start_training(**settings(family="Pixel GPT (autoregressive)", max_images=64, epochs=1,
                                             batch_size=32, lr=1e-3, lr_d=1e-3, width=16, loss="bce", ema=False,
                                             name="tiny-gpt-tab")))
    assert "finished after 2 steps" in outs[-1][1]
    assert imggen.list_models()["tiny-gpt-tab"]["config"]["n_embd"] == 16


@pytest.mark.slow
def test_bench_rows_and_table(fitted, load_bench, tmp_path):
    """bench/gpt.py, tiny: independent pixels, the forest, the GPT at two temperatures and with labels, and two
    GPTs trained here (patch 1 and 2); the GPT beats independent pixels on NLL; JSON and markdown written."""
    import json

    out = tmp_path / "gpt"
    load_bench("gpt").main(["--gpt", str(fitted[1]), "--truncation", "0.8", "--samples", "40", "--nll-images", "20",
                            "--complete-images", "4", "--train-seconds", "2", "--out", str(out)])
    res = json.loads(out.with_suffix(".json").read_text())
    rows = {r["model"]: r for r in res["rows"]}
    g = str(fitted[1])
    assert list(rows) == ["independent pixels", "arf-mnist", "arf-mnist, truncation 0.2 (its card's)",
                          f"{g}, truncation 1", f"{g}, truncation 0.8", f"{g}, labels cycling, truncation 1",
                          "trained 2 s here, patch 1", "trained 2 s here, patch 2"]
    assert rows[f"{g}, truncation 1"]["nll_nats"] < rows["independent pixels"]["nll_nats"]
    assert rows[f"{g}, truncation 0.8"]["nll_nats"] == rows[f"{g}, truncation 1"]["nll_nats"]  # sampling only
    assert 0 <= rows[f"{g}, labels cycling, truncation 1"]["label_accuracy"] <= 1
    assert rows[f"{g}, truncation 1"]["completion"]["images"] == 4
    assert rows["trained 2 s here, patch 1"]["steps"] >= 1 and rows["trained 2 s here, patch 2"]["patch"] == 2
    md = out.with_suffix(".md").read_text()
    assert "| independent pixels |" in md and "Ratios against `arf-mnist`" in md


def test_large_draws_come_in_chunks(monkeypatch):
    """Sampling more than SAMPLE_CHUNK sequences runs chunk after chunk (bounded caches), seeded, labels kept."""
    from imggen.models import gpt

    m = PixelGPT(PixelGPTConfig(image_size=4, patch=2, num_classes=3, **TINY)).eval()
    seen = []
    real = m._generate
    monkeypatch.setattr(m, "_generate", lambda n, g, y, t, *a: seen.append(y.tolist()) or real(n, g, y, t, *a))
    monkeypatch.setattr(gpt, "SAMPLE_CHUNK", 3)
    x = m.sample(7, generator=gen(1), labels=[0, 1, 2])
    assert x.shape == (7, 1, 4, 4) and seen == [[0, 1, 2], [0, 1, 2], [0]]
    assert torch.equal(x, m.sample(7, generator=gen(1), labels=[0, 1, 2]))
