"""GAN networks (imggen.models.gan): shapes/ranges for every config, architecture options, determinism and
truncation, refinement, steepness and keep, conditioning, checkpoints, the fitted latent mixture (and
`imggen fit-prior`). Tiny models, CPU, seconds."""
import pytest
import torch

from imggen import checkpoint
from imggen.models.gan import CGAN, CGANConfig, DCGAN, DCGANConfig, minibatch_std, sampling_passes
from imggen.registry import build, load
from imggen.train import TrainConfig
from imggen.training.trainers import make_trainer
from tiny_gan import gen, one_thread, register_tiny, tiny  # noqa: F401  (one_thread: an autouse fixture)


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_shapes_and_ranges(family, channels, size):
    m = tiny(family, channels=channels, image_size=size, use_minibatch_std=True)
    x = m.sample(4, generator=gen())
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert m.decode(torch.randn(3, m.latent_dim)).shape == (3, channels, size, size)
    assert m.discriminate(x).shape == (4,)
    # forward + backward through D and G are finite
    m.D(m.G(torch.randn(2, 8), torch.tensor([0, 1]) if family == "cgan" else None),
        torch.tensor([0, 1]) if family == "cgan" else None).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


@pytest.mark.parametrize("upsample", ["conv_transpose", "nearest"])
@pytest.mark.parametrize("d_norm", ["batch", "none"])
@pytest.mark.parametrize("g_norm", ["batch", "none"])
def test_architecture_options(upsample, d_norm, g_norm):
    m = tiny("dcgan", upsample=upsample, d_norm=d_norm, g_norm=g_norm, use_spectral_norm=False)
    assert m.sample(2, generator=gen()).shape == (2, 1, 28, 28)
    assert any(isinstance(b, torch.nn.BatchNorm2d) for b in m.G.modules()) == (g_norm == "batch")
    with pytest.raises(ValueError):
        tiny("dcgan", upsample="bilinear-ish")
    with pytest.raises(ValueError, match="g_norm"):
        tiny("dcgan", g_norm="layer")
    with pytest.raises(ValueError):
        tiny("dcgan", image_size=48)


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_blocks_add_depth_at_every_resolution(family, size):
    """blocks=N adds N 3x3 convs per resolution to G and D; blocks=0 is the classic layout (old checkpoints)."""
    convs = lambda mod: sum(isinstance(c, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for c in mod.modules())  # noqa: E731
    base, deep = tiny(family, image_size=size), tiny(family, image_size=size, blocks=2)
    k = {28: 2, 32: 3, 64: 4}[size]  # resolutions below the image's
    assert convs(base.G) == k and convs(base.D) == k
    assert convs(deep.G) == k + 2 * (k + 1) and convs(deep.D) == k + 2 * k
    labels = [0, 1, 2] if family == "cgan" else None
    x = deep.sample(3, generator=gen(), labels=labels)
    assert x.shape == (3, 1, size, size) and x.min() >= -1 and x.max() <= 1
    deep.D(x, torch.tensor(labels) if labels else None).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in deep.D.parameters() if p.grad is not None)


def test_minibatch_std_channel():
    x = torch.randn(8, 3, 4, 4)
    y = minibatch_std(x)
    assert y.shape == (8, 4, 4, 4)
    assert (y[:, 3] > 0).all()
    assert minibatch_std(torch.zeros(5, 2, 3, 3))[:, 2].max() < 1e-3  # no diversity -> ~0 std


def test_seeded_determinism_and_truncation():
    m = tiny("cgan").eval()
    a, b = m.sample(6, generator=gen(1)), m.sample(6, generator=gen(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, m.sample(6, generator=gen(2)))
    z = m.latents(2000, generator=gen(0), truncation=0.5)
    assert z.abs().max() <= 1.0 and z.std() < 0.8
    assert m.latents(2000, generator=gen(0), truncation=None).abs().max() > 2.5
    with pytest.raises(ValueError):
        m.latents(2, truncation=0)


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
def test_refine_moves_latents_toward_what_d_finds_real(family):
    """Discriminator-guided refinement lowers the DDLS energy |z|^2/2 - D(G(z)), is seeded, and is validated."""
    m = tiny(family).eval()
    y = torch.arange(8) % 10 if family == "cgan" else None
    z = m.latents(8, generator=gen(3))

    def energy(v):
        with torch.no_grad():
            return (0.5 * v.pow(2).sum(1) - m.D(m.G(v, y), y).flatten()).mean().item()

    zr = m.refine(z, y, steps=5, step_size=0.05, batch_size=3)  # batches of 3: the split must not matter
    assert zr.shape == z.shape and not zr.requires_grad and energy(zr) < energy(z)
    assert torch.allclose(zr, m.refine(z, y, steps=5, step_size=0.05), atol=1e-5)
    two_then_three = m.refine(m.refine(z, y, steps=2, step_size=0.05), y, steps=3, step_size=0.05)
    assert torch.allclose(zr, two_then_three, atol=1e-5)  # what bench/refine.py relies on to continue a setting
    assert all(p.grad is None for p in m.parameters())  # only the latents get gradients
    assert torch.equal(m.refine(z, y, steps=0), z)
    kw = {"labels": [1, 2]} if family == "cgan" else {}
    a = m.sample(4, generator=gen(5), refine_steps=3, **kw)
    assert torch.equal(a, m.sample(4, generator=gen(5), refine_steps=3, **kw))  # seeded
    assert not torch.equal(a, m.sample(4, generator=gen(5), **kw)) and a.abs().max() <= 1
    for bad in ({"steps": -1}, {"steps": 10_000}, {"step_size": 0.0}):
        with pytest.raises(ValueError, match="refine"):
            m.refine(z, y, **bad)


@pytest.mark.parametrize("family", ["dcgan", "cgan"])
def test_steepness_is_the_relative_jacobian_norm(family):
    """With every latent direction as a probe, steepness is |J|_F^2 / (latent_dim · |x|^2), x = G(z) in [0, 1]
    (checked against torch.func.jacrev); fewer probes estimate it, seeded."""
    m = tiny(family).eval()
    y = torch.tensor([3, 7]) if family == "cgan" else None
    z = m.latents(2, generator=gen(1))
    s = m.steepness(z, y, probes=m.latent_dim, eps=1e-3, generator=gen(2), batch_size=1)
    for i in range(2):
        yi = None if y is None else y[i:i + 1]
        J = torch.func.jacrev(lambda v: m.G(v[None], yi).flatten())(z[i])  # (pixels, latent_dim)
        x01 = (m.G(z[i:i + 1], yi) + 1) / 2
        assert s[i].item() == pytest.approx((J.pow(2).sum() / (m.latent_dim * x01.pow(2).sum())).item(), rel=0.05)
    a = m.steepness(z, y, probes=4, generator=gen(3))
    assert a.shape == (2,) and (a > 0).all() and torch.equal(a, m.steepness(z, y, probes=4, generator=gen(3)))
    with pytest.raises(ValueError, match="probes"):
        m.steepness(z, y, probes=m.latent_dim + 1)


def test_keep_drops_the_steepest_latents():
    """Jacobian-based truncation: keep=q draws ceil(n/q) latents and keeps the n least steep, in drawing order;
    keep=1 is the plain sampler exactly."""
    m = tiny("dcgan").eval()
    assert torch.equal(m.sample(5, generator=gen(4), keep=1.0), m.sample(5, generator=gen(4)))
    x = m.sample(5, generator=gen(4), keep=0.5)
    assert torch.equal(x, m.sample(5, generator=gen(4), keep=0.5))  # seeded
    g = gen(4)
    z = m.latents(10, generator=g)
    s = m.steepness(z, generator=g)
    kept = s.argsort()[:5].sort().values
    assert torch.allclose(x, m.G(z[kept]), atol=1e-6)
    assert s[kept].max() <= s.sort().values[4]
    assert m.sample(3, generator=gen(4), keep=0.4, refine_steps=2).shape == (3, 1, 28, 28)
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="keep"):
            m.sample(2, keep=bad)


def test_keep_then_best_of_k_by_d():
    """keep and candidates together: ceil(n·k/keep) latents, the n·k least steep kept in drawing order, then each
    run of k reduced to the one D scores highest; k = 1 is the keep sampler exactly."""
    m = tiny("dcgan").eval()
    assert torch.equal(m.sample(4, generator=gen(2), keep=0.5, candidates=1), m.sample(4, generator=gen(2), keep=0.5))
    x = m.sample(4, generator=gen(2), keep=0.5, candidates=3)
    pool = m.sample(12, generator=gen(2), keep=0.5)  # the same 24 latents, the same 12 kept
    d = m.D(pool).view(4, 3)
    assert torch.equal(x, pool.view(4, 3, *pool.shape[1:])[torch.arange(4), d.argmax(1)])
    assert sampling_passes(64, keep=0.3, refine_steps=50) < sampling_passes(64, keep=0.3, candidates=8)


def test_conditional_labels_respected():
    m = tiny("cgan").eval()
    with torch.no_grad():  # give each class its own conditional-BN gain/bias, as training does
        for mod in m.G.modules():
            if hasattr(mod, "gain"):
                mod.gain.weight.normal_(1, 0.5)
                mod.bias.weight.normal_(0, 0.5)
    z = torch.randn(4, 8, generator=gen())
    x0, x1 = m.decode(z, torch.zeros(4, dtype=torch.long)), m.decode(z, torch.ones(4, dtype=torch.long))
    assert (x0 - x1).abs().mean() > 1e-3
    onehot = torch.nn.functional.one_hot(torch.ones(4, dtype=torch.long), 10).float()
    assert torch.allclose(m.decode(z, onehot), x1, atol=1e-5)  # soft labels = embedding mixtures
    # labels cycle, are validated, and the projection D depends on them
    assert m._labels(5, [3, 7], None).tolist() == [3, 7, 3, 7, 3]
    with pytest.raises(ValueError):
        m.sample(2, labels=[10])
    xr = torch.rand(3, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        m.D.embed.weight.normal_()
    assert not torch.allclose(m.discriminate(xr, torch.zeros(3, dtype=torch.long)),
                              m.discriminate(xr, torch.ones(3, dtype=torch.long)))
    assert m.discriminate(xr).shape == (3,)  # no labels: max over classes


def test_checkpoint_round_trip(tmp_path):
    from dataclasses import asdict

    m = tiny("cgan").eval()
    path = checkpoint.save(m, tmp_path / "c.safetensors", family="cgan", config=asdict(m.config))
    loaded = load(str(path))
    assert loaded.config == m.config and isinstance(loaded.net, CGAN)
    expect = (m.sample(5, generator=gen(3), labels=[1, 2]) + 1) / 2
    assert torch.allclose(loaded.sample(5, seed=3, labels=[1, 2]), expect.clamp(0, 1), atol=1e-6)
    x01 = torch.rand(2, 1, 28, 28)
    assert torch.allclose(loaded.discriminate(x01), m.discriminate(x01 * 2 - 1), atol=1e-5)
    assert checkpoint.read_metadata(path)["config"] == asdict(m.config)


def test_fit_prior_replaces_the_normal_by_a_mixture_fitted_to_g(tmp_path, monkeypatch):
    from dataclasses import asdict

    from imggen.models import gan

    m = tiny().eval()
    plain = m.sample(6, generator=gen(1))
    info = m.fit_prior(4, 400, seed=0)
    assert info["components"] + info["dropped_small_clusters"] == 4 and info["samples"] == 400
    K = m.config.prior_components
    assert K == info["components"] >= 2 and m.prior_means.shape == (K, 8) and m.prior_scale_tril.shape == (K, 8, 8)
    assert torch.allclose(m.prior_weights.sum(), torch.tensor(1.0)) and (m.prior_weights > 0).all()
    again = tiny().eval()
    torch.manual_seed(123)  # the global RNG's state does not matter: the fit is seeded
    again.fit_prior(4, 400, seed=0)
    assert all(torch.equal(getattr(m, b), getattr(again, b)) for b in ("prior_weights", "prior_means", "prior_scale_tril"))
    # each latent is mean_k + L_k e for the e the plain sampler would draw, so it moved; seeded, so repeatable
    z = m.latents(500, generator=gen(2), truncation=None)
    e = torch.randn(500, 8, generator=gen(2))
    assert not torch.allclose(z, e)
    assert torch.allclose(z.mean(0), m.prior_weights @ m.prior_means, atol=0.25)  # the mixture's mean
    assert torch.equal(m.sample(6, generator=gen(1)), m.sample(6, generator=gen(1)))
    assert not torch.equal(m.sample(6, generator=gen(1)), plain)
    assert m.latents(0).shape == (0, 8)
    from imggen.latent import prior_latents, seed_latent  # Explore, Interpolate, inversion draw from it too

    assert torch.equal(prior_latents(m, 7, gen(4)), m.latents(7, generator=gen(4), truncation=None))
    assert torch.equal(seed_latent(m, 4), m.latents(1, generator=gen(4), truncation=None))
    # stored in the checkpoint: a loaded model draws the same samples
    path = checkpoint.save(m, tmp_path / "p.safetensors", family="dcgan", config=asdict(m.config))
    loaded = load(str(path))
    assert loaded.config.prior_components == K
    assert torch.allclose(loaded.sample(6, seed=5), ((m.sample(6, generator=gen(5)) + 1) / 2).clamp(0, 1), atol=1e-6)
    # training changes G, so the trainer drops the mixture; sampling is N(0, I) again
    make_trainer(m, TrainConfig(), torch.device("cpu"))
    assert m.config.prior_components == 0 and not hasattr(m, "prior_means")
    assert torch.equal(m.latents(3, generator=gen(0)), tiny().latents(3, generator=gen(0)))
    monkeypatch.setattr(gan, "PRIOR_PCA_SAMPLES", 200)  # PCA basis from the first 2 batches, the rest projected
    calls = []
    assert tiny().fit_prior(4, 400, batch_size=100, progress=lambda i, n: calls.append(i))["components"] >= 2
    assert calls == [100, 200, 300, 400]
    with pytest.raises(ValueError, match="components must be between 2 and"):
        m.fit_prior(100, 400)
    with pytest.raises(ValueError, match="mixture prior needs"):
        m.set_prior(torch.ones(2), torch.zeros(2, 5), torch.eye(5).expand(2, 5, 5))


def test_cli_fit_prior_writes_the_mixture_into_a_checkpoint(tmp_path, capsys):
    from imggen.__main__ import main

    src = tmp_path / "g.safetensors"
    name = register_tiny("dcgan", "g", tmp_path)
    main(["fit-prior", name, "--components", "3", "--samples", "300", "--out", str(tmp_path / "gp.safetensors")])
    assert "3-component latent mixture" in capsys.readouterr().out
    meta = checkpoint.read_metadata(tmp_path / "gp.safetensors")
    assert meta["config"]["prior_components"] == 3 and meta["card"]["prior"]["samples"] == 300
    assert meta["metrics"] == {} and checkpoint.read_metadata(src)["config"]["prior_components"] == 0
    assert load(str(tmp_path / "gp.safetensors")).sample(2, seed=0).shape == (2, 1, 28, 28)
    register_tiny("cgan", "c", tmp_path)
    with pytest.raises(SystemExit, match="a fitted latent mixture is for DCGANs"):
        main(["fit-prior", "c", "--samples", "300"])


def test_configs_are_the_registered_ones():
    assert isinstance(build("dcgan"), DCGAN) and isinstance(build("cgan"), CGAN)
    assert DCGANConfig().latent_dim == build("dcgan").latent_dim
    assert CGANConfig().num_classes == 10

