"""Autoencoder family: shapes, IWAE bound, interpolation, GIF/MP4 export, trainers, checkpoint round trip."""
import io
import sys

import imageio.v3 as iio
import pytest
import torch
from PIL import Image

from imggen import checkpoint, interpolate as public_interpolate
from imggen.convert import from01, to01
from imggen.data import load_data
from imggen.interpolate import interpolate, latent_path, manifold_coords, manifold_map, manifold_positions, slerp, to_gif, to_mp4
from imggen.registry import build, load
from imggen.train import TrainConfig, train

TINY = dict(hidden=8, fc_dim=32)
FAMILIES = ["ae", "vae", "cvae", "vaegan"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_shapes(family, channels, size):
    m = build(family, channels=channels, image_size=size, latent_dim=4, **TINY)
    x = torch.rand(3, channels, size, size) * 2 - 1
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (3, 4)
    for out in (m.decode(mu), m.reconstruct(x), m.sample(3, generator=torch.Generator().manual_seed(0))):
        assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    if family != "ae":
        loss = m.loss(x, torch.zeros(3, dtype=torch.long))
        (loss["recon"] + loss["kl"]).mean().backward()
        assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    if family == "vaegan":
        assert m.discriminate(x).shape == (3,)


def test_sampling_is_seeded():
    m = build("vae", latent_dim=4, **TINY)
    a = m.sample(4, generator=torch.Generator().manual_seed(7))
    b = m.sample(4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.fixture(scope="module")
def mnist():
    return load_data("mnist5k", split="train"), load_data("mnist5k", split="test").images[:32]


def test_trainer_reports_elbo_terms(mnist):
    data = mnist[0]
    cfg = TrainConfig(epochs=1, batch_size=32, lr=1e-3, max_steps=2, eval_samples=0, num_grid=4)
    for family in FAMILIES:
        events = list(train(family, data, cfg, model_config=dict(latent_dim=4, **TINY)))
        losses = events[-1].losses
        assert "loss/recon" in losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values())
        if family in ("vae", "cvae", "vaegan"):
            assert "loss/kl" in losses
        if family == "vaegan":
            assert {"loss/D", "loss/G", "loss/fm"} <= set(losses)


def test_iwae_bound_tightens_with_k_and_exceeds_elbo(tmp_path, mnist):
    data, x = mnist
    cfg = TrainConfig(epochs=1, batch_size=32, lr=3e-3, betas=(0.9, 0.999), max_steps=60, eval_samples=0, num_grid=4)
    out = tmp_path / "v.safetensors"
    list(train("vae", data, cfg, model_config=dict(latent_dim=8, hidden=8, fc_dim=32), out=out))
    m = load(str(out)).net
    torch.manual_seed(0)
    elbo = torch.stack([m.elbo(x) for _ in range(20)]).mean(0)  # Monte-Carlo ELBO per image
    ll = {k: m.log_likelihood(x, k=k, generator=torch.Generator().manual_seed(1)) for k in (1, 10, 100)}
    assert ll[1].shape == (32,)
    ll1 = torch.stack([m.log_likelihood(x, k=1, generator=torch.Generator().manual_seed(s)) for s in range(20)])
    assert abs(ll1.mean() - elbo.mean()) < 1.5  # k=1 is an unbiased ELBO estimate
    assert elbo.mean() < ll[10].mean() < ll[100].mean()  # tighter bound as k grows (lower bounds on log p(x))
    assert (ll[100] >= elbo - 0.5).float().mean() >= 0.95
    mets = m.eval_metrics(x, iwae_k=50, iwae_images=8)
    assert mets["iwae_images"] == 8 and mets["iwae_k"] == 50
    assert -mets["iwae_nll"] > mets["elbo"] - 1.0 and mets["iwae_bits_per_dim"] > 0 and mets["recon_mse"] > 0
    assert 0 < mets["iwae_nll_sem"] < mets["iwae_nll"]  # standard error over the 8 images


def test_cvae_marginal_likelihood_and_labels():
    m = build("cvae", latent_dim=4, **TINY)
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    g = torch.Generator().manual_seed(0)
    assert m.log_likelihood(x, k=20, generator=g).shape == (5,)  # marginalises over labels
    assert m.log_likelihood(x, k=20, labels=3, generator=g).shape == (5,)
    s = m.sample(4, labels=[1, 2, 3, 4])
    assert s.shape == (4, 1, 28, 28)
    with pytest.raises(AssertionError, match="labels"):
        m.sample(4, labels=[1, 99, 3, 4])
    # q(z | x, y): the posterior depends on the label; unlabelled images use the label that explains them best
    assert not torch.allclose(m.encode(x, 3)[0], m.encode(x, 5)[0])
    best = m.best_labels(x)
    assert torch.equal(m.encode(x)[0], m.encode(x, best)[0])
    assert torch.equal(m.reconstruct(x), m.decode(m.encode(x, best)[0], best))


@pytest.mark.parametrize("family", ["ae", "vae", "cvae", "vaegan"])
def test_interpolation_endpoints(family):
    m = build(family, latent_dim=6, **TINY).eval()
    a, b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    for mode in ("slerp", "lerp"):
        frames = interpolate(m, a, b, steps=7, mode=mode)
        assert frames.shape == (7, 1, 28, 28) and frames.min() >= 0 and frames.max() <= 1
        ra = to01(m.reconstruct(from01(a)[None]))[0]
        rb = to01(m.reconstruct(from01(b)[None]))[0]
        assert torch.allclose(frames[0], ra, atol=1e-5) and torch.allclose(frames[-1], rb, atol=1e-5)
    za, zb = torch.randn(6), torch.randn(6)
    codes = latent_path(m, za, zb, 5, "lerp")
    assert torch.allclose(codes[0], za) and torch.allclose(codes[-1], zb)
    if family != "cvae":
        frames = interpolate(m, za, zb, 5)
        assert torch.allclose(frames[0], to01(m.decode(za[None]))[0], atol=1e-5)
    assert public_interpolate is interpolate


def test_slerp_keeps_norms():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(32, generator=g), torch.randn(32, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 9)
    path = slerp(z0, z1, t)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(9), rtol=1e-4)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    lin = (1 - t[:, None]) * z0 + t[:, None] * z1
    assert lin.norm(dim=1)[4] < 0.9 * z0.norm()  # lerp cuts through the middle; slerp does not
    z2 = 3 * z1 / z1.norm()  # different norms: slerp interpolates the norm linearly
    assert torch.allclose(slerp(z0, z2, t).norm(dim=1), (1 - t) * z0.norm() + t * 3, rtol=1e-4)


def test_gif_and_mp4_have_n_frames(tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="pyproject installs it; a bare GPU image may lack it")
    frames = torch.rand(6, 1, 28, 28)
    gif = Image.open(io.BytesIO(to_gif(frames, fps=5)))
    assert gif.n_frames == 6 and gif.size == (112, 112)
    path = to_mp4(frames, tmp_path / "walk.mp4", fps=5)
    video = list(iio.imiter(path))
    assert len(video) == 6 and video[0].shape[:2] == (224, 224)
    rgb = to_mp4(torch.rand(3, 3, 32, 32), tmp_path / "rgb.mp4")
    assert len(list(iio.imiter(rgb))) == 3


def test_mp4_without_imageio_ffmpeg_says_what_is_missing(monkeypatch, tmp_path):
    mod = sys.modules["imggen.interpolate"]
    monkeypatch.setattr(mod.importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else 1)
    assert not mod.mp4_available()
    with pytest.raises(RuntimeError, match="imageio-ffmpeg"):
        to_mp4(torch.rand(3, 1, 28, 28), tmp_path / "walk.mp4")
    assert not (tmp_path / "walk.mp4").exists()


def test_manifold_map_and_positions():
    m = build("vae", latent_dim=2, **TINY)
    tiles = manifold_map(m, 5)
    assert tiles.shape == (25, 1, 28, 28)
    q = manifold_coords(5)
    pos = manifold_positions(torch.tensor([[0.0, 0.0], [q[-1], q[0]], [50.0, 50.0]]), 5)
    assert torch.allclose(pos[0], torch.tensor([2.5, 2.5]), atol=1e-5)  # z = 0 is the centre cell
    assert torch.allclose(pos[1], torch.tensor([4.5, 4.5]), atol=1e-4)  # right column, bottom row centre
    assert (pos[2] >= 0).all() and (pos[2] <= 5).all()  # far codes stay on the map


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_round_trip(family, tmp_path):
    m = build(family, latent_dim=4, **TINY).eval()
    if family == "ae":
        m.z_mean.fill_(0.3)
    path = checkpoint.save(m, tmp_path / f"{family}.safetensors", family=family, config=vars(m.config).copy())
    loaded = load(str(path))
    assert vars(loaded.net.config) == vars(m.config)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(loaded.net.sample(4, generator=g1), m.sample(4, generator=g2))
    x01 = torch.rand(2, 1, 28, 28)
    assert torch.allclose(loaded.reconstruct(x01), to01(m.reconstruct(from01(x01))), atol=1e-6)
