"""Completion: every method on tiny CPU models, known pixels kept, empty/full masks, size mismatches."""
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import imggen
from imggen import registry
from imggen.complete import (MASK_PRESETS, complete_batch, mask_preset, poisson_blend, prepare, random_strokes,
                             run_completion)

QUICK = dict(steps=4)  # a few optimisation steps: tests check plumbing, the benchmark checks quality


def _tiny(family):
    torch.manual_seed(0)
    if family in ("dcgan", "cgan"):
        return registry.build(family, latent_dim=8, g_width=8, d_width=8).eval()
    return registry.build(family, latent_dim=6, hidden=8, fc_dim=16).eval()


@pytest.fixture(scope="module")
def digit():
    from imggen.data import load_data

    return (load_data("mnist5k", split="test", limit=1).images[0] + 1) / 2  # (1, 28, 28) in [0, 1]


@pytest.mark.parametrize("family,method", [("vae", "vae"), ("cvae", "vae"), ("ae", "vae"), ("vaegan", "gan"),
                                           ("dcgan", "gan"), ("cgan", "gan"), ("vae", "gan"),
                                           ("dcgan", "telea"), (None, "biharmonic"), ("vae", "auto")])
def test_every_method_keeps_known_pixels(family, method, digit):
    net = _tiny(family) if family else None
    mask = mask_preset("bottom")[0, 0]
    kw = dict(QUICK, iters=2) if method in ("vae", "auto") else QUICK if method == "gan" else {}
    res = run_completion(net, digit, mask, method, n=3, seed=1, **kw)
    out = res.images
    assert out.shape == (3, 1, 28, 28) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1 and torch.isfinite(out).all()
    known = ~mask.bool()
    assert (out[:, 0][:, known] - digit[0][known]).abs().max() < 1e-6
    assert res.method == (method if method != "auto" else "vae") and res.note == ""
    assert res.masked.shape == (1, 1, 28, 28) and (res.masked[0, 0][mask.bool()] == 0.5).all()  # grey hole


def test_seeded_and_diverse(digit):
    net = _tiny("dcgan")
    a = imggen.complete(net, digit, mask_preset("right")[0, 0], "gan", n=3, seed=5, **QUICK)
    b = imggen.complete(net, digit, mask_preset("right")[0, 0], "gan", n=3, seed=5, **QUICK)
    c = imggen.complete(net, digit, mask_preset("right")[0, 0], "gan", n=3, seed=6, **QUICK)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # several restarts -> different completions


def test_empty_and_full_masks(digit):
    net = _tiny("vae")
    with pytest.warns(UserWarning, match="empty"):
        out = imggen.complete(net, digit, torch.zeros(28, 28), n=2)
    assert torch.equal(out, digit[None].expand(2, -1, -1, -1))
    res = run_completion(net, digit, np.ones((28, 28)), "gan", n=2, seed=3)
    assert "whole image" in res.note and res.images.shape == (2, 1, 28, 28)
    assert torch.equal(res.images, run_completion(net, digit, np.ones((28, 28)), "vae", n=2, seed=3).images)
    with pytest.raises(ValueError, match="whole image"):
        run_completion(None, digit, torch.ones(28, 28), "telea")


def test_bad_arguments(digit):
    with pytest.raises(ValueError, match="encoder"):
        run_completion(_tiny("dcgan"), digit, mask_preset("top")[0, 0], "vae")
    with pytest.raises(ValueError, match="needs a model"):
        run_completion(None, digit, mask_preset("top")[0, 0], "gan")
    with pytest.raises(ValueError, match="unknown completion method"):
        run_completion(None, digit, mask_preset("top")[0, 0], "magic")
    with pytest.raises(ValueError, match="No mask"):
        run_completion(None, digit, None, "telea")
    with pytest.raises(ValueError, match="unknown mask preset"):
        mask_preset("diagonal")


def test_telea_without_opencv_says_what_to_install(digit, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if opencv-python-headless (an optional extra) were missing
    with pytest.raises(ValueError, match=r"Telea needs opencv-python-headless \(pip install opencv-python-headless\)"):
        imggen.complete(None, digit, mask_preset("top")[0, 0], "telea", n=1)
    assert imggen.complete(None, digit, mask_preset("top")[0, 0], "biharmonic", n=1).shape == (1, 1, 28, 28)


def test_size_mismatch_resized_consistently():
    # a 3-channel 60x40 image whose left half is white, masked by a 30x20 mask of its right half
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :30] = 255
    mask = np.zeros((20, 30), np.float32)
    mask[:, 15:] = 1
    x, m = prepare(Image.fromarray(img), mask, size=28, channels=1)
    assert x.shape == (1, 1, 28, 28) and m.shape == (1, 1, 28, 28)
    # after the same centre crop + resize, the mask edge sits on the image edge
    assert torch.equal(m[0, 0, 0], (x[0, 0, 0] < 0).float())
    out = imggen.complete(None, Image.fromarray(img), mask, "telea", n=1)
    assert out.shape == (1, 3, 40, 40)  # classical methods keep the (cropped) input size and mode
    out = imggen.complete(_tiny("vae"), torch.rand(1, 56, 56), mask_preset("centre", 100)[0, 0], "vae", n=2,
                          iters=1, steps=1)
    assert out.shape == (2, 1, 28, 28)


def test_mask_presets():
    for name in MASK_PRESETS:
        m = mask_preset(name, 28, seed=0)
        assert m.shape == (1, 1, 28, 28) and set(m.unique().tolist()) <= {0.0, 1.0}
        assert 0.05 < m.mean() < 0.6
    assert mask_preset("bottom")[0, 0, 14:].all() and not mask_preset("bottom")[0, 0, :14].any()
    assert torch.equal(random_strokes(28, seed=3), random_strokes(28, seed=3))
    assert not torch.equal(random_strokes(28, seed=3), random_strokes(28, seed=4))


def test_poisson_blend_is_seamless():
    ramp = torch.linspace(-1, 1, 20).expand(1, 1, 20, 20).clone()
    m = mask_preset("centre", 20)
    out = poisson_blend(ramp + 0.5, ramp, m)  # the generator is right up to an offset: the seam vanishes
    assert torch.allclose(out, ramp, atol=1e-5)
    assert torch.equal(out[~m.bool()], ramp[~m.bool()])


def test_batched_core_shapes():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    m = torch.cat([mask_preset("left"), mask_preset("top")])
    out = complete_batch(_tiny("cvae"), x, m, "vae", 3, generator=torch.Generator().manual_seed(0), iters=1, steps=1)
    assert out.shape == (2, 3, 1, 28, 28)
    assert torch.equal(torch.where(m[:, None].bool(), x[:, None], out), x[:, None].expand_as(out))


def test_bench_merge_prefers_rows_of_the_shipped_weights(tmp_path, load_bench):
    """Parallel benchmark runs each carry the other model's old rows; merging keeps the rows of today's weights."""
    import json

    from imggen.latent import weights_hash

    bench = load_bench("complete")
    name = "dcgan-mnist"
    row = dict(accuracy=0.5, any_of_n_accuracy=0.5, psnr=10.0, ssim=0.5, diversity=0.1, seconds_per_image=1.0,
               images=2, samples=1, model=name, family="dcgan", method="gan", mask="bottom")
    base = dict(images=2, samples=1, seed=0, data="mnist", threads=1, machine="x", masks=["bottom"],
                reference={"clean": 1.0, "masked_bottom": 0.5})
    fresh = {**base, "rows": [{**row, "accuracy": 0.9, "checkpoint": weights_hash(registry.model_paths()[name])}]}
    stale = {**base, "rows": [{**row, "accuracy": 0.1, "checkpoint": "replaced"}]}
    for order in ((fresh, stale), (stale, fresh)):
        files = []
        for i, r in enumerate(order):
            files.append(tmp_path / f"{i}.json")
            files[-1].write_text(json.dumps(r))
        bench.merge(files, tmp_path / "merged")
        assert [r["accuracy"] for r in json.loads((tmp_path / "merged.json").read_text())["rows"]] == [0.9]
    assert "90.0%" in (tmp_path / "merged.md").read_text()
