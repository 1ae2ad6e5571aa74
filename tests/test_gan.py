"""GANs: shapes/ranges for every config, training lowers the D loss, determinism, conditioning, checkpoints,
NaN guard, DDP with 2 gloo processes. Tiny models, CPU, seconds."""
import contextlib
import json
import math

import pytest
import torch

from imggen import checkpoint, losses
from imggen.models.gan import CGAN, CGANConfig, DCGAN, DCGANConfig, minibatch_std
from imggen.registry import build, load
from imggen.train import TrainConfig, TrainState, train
from imggen.training.trainers import make_trainer

TINY = dict(latent_dim=8, g_width=8, d_width=8)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads; on a busy shared machine oversubscription costs minutes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(family="dcgan", **kw):
    torch.manual_seed(0)
    return build(family, **{**TINY, **kw})


def register_tiny(family: str, name: str, folder) -> str:
    """A tiny untrained model saved under ``folder`` and registered as ``name`` (for benches and imggen eval)."""
    from dataclasses import asdict

    from imggen import registry

    net = tiny(family)
    registry.register(name, checkpoint.save(net, folder / f"{name}.safetensors", family=family,
                                            config=asdict(net.config)))
    return name


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


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


def test_diff_augment_keeps_shape_and_gradients():
    x = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = losses.diff_augment(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["hinge", "bce"])
def test_topk_generator_loss_uses_the_most_real_looking_fraction(kind):
    m = tiny("dcgan", g_width=16, d_width=16).eval()  # eval: no power-iteration step of spectral norm per call
    m.D.requires_grad_(False)
    z = torch.randn(8, m.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = m.D(m.G(z, None), None).float()
    out = losses.GANLoss(m, kind, g_topk=0.5).accumulate_gradients("G", None, None, z, None)
    assert out["loss/G"] == pytest.approx(losses.g_loss(kind, logits.topk(4).values).item(), rel=1e-5)
    assert out["loss/G"] != pytest.approx(losses.g_loss(kind, logits).item(), rel=1e-5)
    with pytest.raises(ValueError, match="fraction"):
        losses.GANLoss(m, kind, g_topk=0.0)


def _batch(n=16):
    from imggen.data import load_data

    d = load_data("mnist5k", limit=n)
    return d.images, d.labels


@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_training_lowers_discriminator_loss(loss):
    x, y = _batch()
    m = tiny("dcgan", g_width=16, d_width=16)
    tr = make_trainer(m, TrainConfig(loss=loss, lr=1e-3, use_ema=False), torch.device("cpu"))
    first = tr.step(x, y)
    for _ in range(15):
        last = tr.step(x, y)
    assert set(first) >= {"loss/D", "loss/G", "D(x)", "D(G(z))"}
    assert last["loss/D"] < first["loss/D"]
    assert last["D(x)"] > first["D(x)"]


def test_trainer_aids_run():
    x, y = _batch(8)
    m = tiny("cgan", use_minibatch_std=True)
    cfg = TrainConfig(r1_gamma=1.0, use_augment=True, d_steps=2, use_ema=True)
    tr = make_trainer(m, cfg, torch.device("cpu"))
    out = tr.step(x, y)
    assert "loss/R1" in out and all(math.isfinite(v) for v in out.values())
    for _ in range(3):
        tr.step(x, y)
    net = tr.inference_model()
    assert not net.training and net is not m
    ema_w, live_w = net.G.fc.weight, m.G.fc.weight
    assert not torch.equal(ema_w, live_w)  # EMA weights, not the live ones


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


def test_train_prior_keeps_the_mixture_and_trains_g_on_its_latents():
    """train_prior: the trainer keeps the mixture prior, draws its training latents from it, and the inference
    model still samples from the same mixture; by default the trainer drops it (N(0, I))."""
    m = tiny().eval()
    means = torch.stack([torch.full((8,), 3.0), torch.full((8,), -3.0)])
    m.set_prior(torch.tensor([0.25, 0.75]), means, 0.1 * torch.eye(8).expand(2, 8, 8))
    tr = make_trainer(m, TrainConfig(train_prior=True, batch_size=8), torch.device("cpu"))
    assert m.config.prior_components == 2 and torch.equal(m.prior_means, means)
    torch.manual_seed(0)
    z = tr._latents(4000)
    assert ((z - 3).abs().max(1).values < 0.6).float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert ((z + 3).abs().max(1).values < 0.6).float().mean().item() == pytest.approx(0.75, abs=0.03)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    assert all(math.isfinite(v) for v in tr.step(x, torch.zeros(8)).values())
    net = tr.inference_model()
    assert net.config.prior_components == 2 and torch.equal(net.prior_means, means)
    plain = tiny().eval()
    plain.set_prior(torch.tensor([0.25, 0.75]), means, 0.1 * torch.eye(8).expand(2, 8, 8))
    make_trainer(plain, TrainConfig(), torch.device("cpu"))
    assert plain.config.prior_components == 0


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


def test_train_loop_writes_checkpoint(tmp_path):
    from imggen.data import load_data

    data = load_data("mnist5k", limit=64)
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=3, eval_samples=0, num_grid=4, use_ema=True)
    events = list(train("cgan", data, cfg, model_config=TINY, out=tmp_path / "g.safetensors"))
    assert events[-1].kind == "end" and events[-1].ckpt_path
    assert "loss/D" in events[-1].losses
    net = load(events[-1].ckpt_path)
    assert net.config.num_classes == 10
    assert net.sample(3, seed=0, labels=[4]).shape == (3, 1, 28, 28)


def test_nan_guard_keeps_weights(tmp_path, monkeypatch):
    from imggen.data import load_data
    from imggen.training import trainers

    data = load_data("mnist5k", limit=64)
    orig_step = trainers.GANTrainer.step

    def bad_step(self, x, y):
        out = orig_step(self, x, y)
        if self.num_steps >= 2:  # diverge: poison the weights and report a NaN loss
            with torch.no_grad():
                self.net.G.fc.weight.fill_(float("nan"))
            out["loss/D"] = float("nan")
        return out

    monkeypatch.setattr(trainers.GANTrainer, "step", bad_step)
    torch.manual_seed(0)
    model = build("dcgan", **TINY)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=4, eval_samples=0, num_grid=4)
    events = list(train("dcgan", data, cfg, model=model, out=tmp_path / "n.safetensors"))
    assert events[-1].kind == "error" and "NaN" in events[-1].message
    assert all(torch.isfinite(v.float()).all() for v in model.state_dict().values())
    assert torch.equal(model.G.fc.weight, start["G.fc.weight"])  # weights of the last good epoch (= start)
    saved = load(events[-1].ckpt_path)
    assert torch.isfinite(saved.sample(2, seed=0)).all()


@contextlib.contextmanager
def _gloo(rank: int, world: int, init_file: str):
    """One rank's gloo process group, torn down only after every rank got through (a rank tearing gloo down
    while its peer still talked to it aborted with SIGABRT once in CI)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _save_params(module: torch.nn.Module, out_dir: str, rank: int) -> None:
    torch.save({k: v.detach() for k, v in module.named_parameters()}, f"{out_dir}/rank{rank}.pt")


def _spawn_two(worker, tmp_path) -> tuple[dict, dict]:
    """Run ``worker`` on 2 gloo ranks; the parameters each rank saved."""
    import torch.multiprocessing as mp

    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    return tuple(torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from imggen.models.gan import DCGAN, DCGANConfig

    with _gloo(rank, world, init_file):
        torch.manual_seed(rank)  # different init per rank: DDP must broadcast rank 0's weights
        net = DCGAN(DCGANConfig(**TINY))
        tr = make_trainer(net, TrainConfig(lr=1e-2, use_ema=False, r1_gamma=1.0), torch.device("cpu"))
        torch.manual_seed(100 + rank)  # different data and noise per rank
        x = torch.rand(4, 1, 28, 28) * 2 - 1
        before = net.G.fc.weight.detach().clone()
        tr.step(x, torch.zeros(4, dtype=torch.long))
        assert not torch.equal(before, net.G.fc.weight)
        _save_params(net, out_dir, rank)


def test_ddp_two_gloo_processes_keep_replicas_equal(tmp_path):
    p0, p1 = _spawn_two(_ddp_worker, tmp_path)
    assert p0.keys() == p1.keys() and len(p0) > 5
    for k in p0:
        assert torch.allclose(p0[k], p1[k], atol=1e-6), k


def _ddp_stop_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from imggen.data import ImageData

    with _gloo(rank, world, init_file):
        torch.manual_seed(0)
        data = ImageData(torch.rand(64, 1, 28, 28) * 2 - 1, torch.full((64,), -1), "toy")
        calls = []

        def stop():  # only rank 1 asks to stop, after its third step
            calls.append(1)
            return rank == 1 and len(calls) >= 3

        cfg = TrainConfig(epochs=1, batch_size=4, max_steps=12, eval_samples=0, num_grid=4, use_ema=False)
        state = TrainState()
        events = list(train("dcgan", data, cfg, model_config=TINY, should_stop=stop, state=state))
        assert events[-1].kind == "end" and events[-1].step == 3, (rank, events[-1])
        _save_params(state.model, out_dir, rank)


@pytest.mark.timeout(120)
def test_ddp_one_rank_stopping_stops_every_rank(tmp_path):
    """Stops (user, time limit, NaN) are agreed over ranks: one rank leaving alone would hang the others."""
    p0, p1 = _spawn_two(_ddp_stop_worker, tmp_path)
    assert all(torch.allclose(p0[k], p1[k], atol=1e-6) for k in p0)


def test_configs_are_the_registered_ones():
    assert isinstance(build("dcgan"), DCGAN) and isinstance(build("cgan"), CGAN)
    assert DCGANConfig().latent_dim == build("dcgan").latent_dim
    assert CGANConfig().num_classes == 10


@pytest.mark.parametrize("coverage, says", [
    ([1, 8, 10, 10], "all 10 from epoch 3 to the end"),
    ([8, 10, 9, 10], "then below 10 in 1 of the 3 epochs from there (down to 9); all 10 from epoch 4 to the end"),
    ([1, 10, 10, 8], "then below 10 in 1 of the 3 epochs from there (down to 8), 8 at the last epoch"),
    ([1, 5, 9], "never covers all 10 (at most 9)"),
])
def test_bench_coverage_summary_tells_kept_from_lost(load_bench, coverage, says):
    """The collapse-vs-cure summary that the README quotes: a class lost after reaching 10 must show."""
    line = load_bench("gan").coverage_summary([{"coverage": c, "class_entropy": 1.0} for c in coverage])
    assert line.startswith(f"{len(coverage)} epochs;") and line.endswith(says)


def test_bench_collapse_recipe_runs_a_few_steps(load_bench):
    """The benchmark's per-recipe path (train, per-epoch coverage, final metrics) on 64 images for 2 steps."""
    from imggen.data import load_data

    train_data = load_data("mnist5k", split="train", limit=64)
    test = load_data("mnist5k", split="test", limit=64)
    r = load_bench("gan").run_recipe("collapse", train_data, test, None, eval_samples=32, epoch_eval=32, seed=0, max_steps=2)
    assert r["steps"] == 2 and r["status"] == "end" and len(r["curve"]) == 2
    assert 1 <= r["curve"][0]["coverage"] <= 10 and 0 <= r["coverage"] <= 10 and math.isfinite(r["fd"])


def test_bench_markdown_of_one_part(load_bench):
    """A collapse-vs-cure-only run (e.g. another seed into its own --out) still gets its markdown table."""
    row = {"recipe": "cure", "about": "x", "steps": 2, "cpu_s": 1.0, "coverage": 10, "class_entropy": 3.3, "fd": 1.0,
           "confident_fraction": 0.9, "class_histogram": [1] * 10,
           "curve": [{"coverage": 10, "class_entropy": 3.3, "fd": 1.0}]}
    args = {"eval_samples": 2, "budget_s": 1, "collapse_steps": 2, "collapse_limit": 64, "epoch_eval": 2, "seed": 1}
    md = load_bench("gan").markdown({"date": "d", "hardware": "h", "data": "mnist5k", "train_images": 64, "test": "mnist5k",
                                "args": args, "side_by_side": [], "collapse_vs_cure": [row]})
    assert "## Mode collapse vs cure (2 steps each, epochs of 64 training images, seed 1)" in md
    assert "Classic DCGAN" not in md and "all 10 from epoch 1 to the end" in md


def test_bench_prior_rows_and_table(load_bench, tmp_path):
    """bench/prior.py on a tiny registered dcgan: N(0, I) first, then each fitted mixture, a row per seed and keep,
    mixtures scoring other samples than the normal; JSON and markdown written."""
    import json

    register_tiny("dcgan", "test-prior-dcgan", tmp_path)
    out = tmp_path / "prior"
    load_bench("prior").main(["--model", "test-prior-dcgan", "--components", "3", "--fit-samples", "300",
                              "--samples", "40", "--seeds", "0", "1", "--keep", "1", "0.5", "--data", "mnist5k",
                              "--out", str(out)])
    res = json.loads(out.with_suffix(".json").read_text())
    rows = res["rows"]
    assert [(r["prior"], r["truncation"], r["keep"], r["seed"]) for r in rows] == [
        (p, 1.0, k, s) for p in ("N(0, I)", "mixture K=3, 300 latents") for k in (1.0, 0.5) for s in (0, 1)]
    assert rows[0]["components"] == 0 and rows[4]["components"] == rows[4]["fit"]["components"] >= 2
    assert rows[4]["fit_seconds"] > 0 and rows[4]["fd"] != rows[0]["fd"] and rows[1]["fd"] != rows[0]["fd"]
    md = out.with_suffix(".md").read_text()
    assert "| mixture K=3, 300 latents | 1 | 0.5 | 1 |" in md and "| N(0, I) | 1 | 1 | 0 |" in md
    assert "bench prior --model test-prior-dcgan --components 3" in md


def test_bench_refine_rows_and_table(load_bench, tmp_path):
    """bench/refine.py on a tiny registered cgan: one row per setting on the same latents, refined rows score
    other samples, and the markdown table shows each setting with its cost relative to plain sampling."""
    register_tiny("cgan", "test-refine-cgan", tmp_path)
    bench = load_bench("refine")
    rows = bench.run_model("test-refine-cgan", 40, [(0, 0.01), (3, 0.05)], "mnist5k")
    assert [(r["steps"], r["step_size"], r["samples"]) for r in rows] == [(0, 0.01, 40), (3, 0.05, 40)]
    assert rows[1]["fd"] != rows[0]["fd"] and all(0 <= r["label_accuracy"] <= 1 for r in rows)
    assert all(math.isfinite(r["fd"]) and r["fd_floor"] > 0 and r["grid16_ms"] > 0 for r in rows)
    md = bench.markdown({"threads": 1, "samples": 40, "machine": "m", "rows": rows})
    assert "| test-refine-cgan | 3 × 0.05 |" in md and "(1.0×) |" in md


def test_bench_jacobian_rows_and_table(load_bench, tmp_path):
    """bench/jacobian.py on a tiny registered dcgan: one pool scored once, one row per (keep, refine) setting,
    kept rows measure other samples, and the markdown table shows each setting with its grid cost."""
    register_tiny("dcgan", "test-jacobian-dcgan", tmp_path)
    bench = load_bench("jacobian")
    rows = bench.run_model("test-jacobian-dcgan", 40, [(1.0, 0), (0.5, 0), (0.5, 2)], "mnist5k", probes=4)
    assert [(r["keep"], r["refine_steps"], r["samples"], r["pool"]) for r in rows] == \
        [(1.0, 0, 40, 80), (0.5, 0, 40, 80), (0.5, 2, 40, 80)]
    assert len({r["fd"] for r in rows}) == 3
    assert all(math.isfinite(r["fd"]) and r["fd_floor"] > 0 and r["grid16_ms"] > 0 for r in rows)
    md = bench.markdown({"threads": 1, "samples": 40, "pool": 80, "machine": "m", "rows": rows})
    assert "| test-jacobian-dcgan | 0.5 | 2 |" in md and "(1.0×) |" in md and "pool of 80 latents" in md
    evals = tmp_path / "evals"
    evals.mkdir()
    for seed, fd in ((2, 0.9), (1, 0.5)):  # an `imggen eval --keep 0.5 --seed s` result, read back as a row
        (evals / f"test-jacobian-dcgan.keep0.5.seed{seed}.json").write_text(json.dumps(
            {**{k: rows[1][k] for k in ("coverage", "confident_fraction", "real_confident_fraction", "precision",
                                        "recall", "class_histogram", "fd_floor")},
             "fd": fd, "seed": seed, "sampling": {"keep": 0.5}}))
    direct = bench.direct_rows(evals)
    assert [(d["model"], d["keep"], d["seed"]) for d in direct] == [("test-jacobian-dcgan", 0.5, 1),
                                                                      ("test-jacobian-dcgan", 0.5, 2)]
    md = bench.markdown({"threads": 1, "samples": 40, "pool": 80, "machine": "m", "rows": rows, "direct": direct})
    assert "## The sampler itself, seed by seed" in md and "| test-jacobian-dcgan | 0.5 | 0 | 2 | 0.900 (" in md


def test_evaluate_model_plain_and_with_a_sampler_setting(tmp_path, capsys):
    """imggen eval: held-out digit metrics of plain sampling, of a sampler setting (recorded in the result), and
    a refusal to write a setting's metrics into the card."""
    from imggen.evaluate import evaluate_model

    register_tiny("dcgan", "test-eval-dcgan", tmp_path)
    plain = evaluate_model("test-eval-dcgan", n=40, data="mnist5k")
    assert plain["num_samples"] == 40 and "sampling" not in plain
    assert plain["fd"] > plain["fd_floor"] > 0 and 0 <= plain["confident_fraction"] <= 1
    kept = evaluate_model("test-eval-dcgan", n=40, data="mnist5k", sample_kw={"keep": 0.5})
    assert kept["sampling"] == {"keep": 0.5} and kept["fd"] != plain["fd"] and kept["fd_floor"] == plain["fd_floor"]
    with pytest.raises(ValueError, match="plain sampling"):
        evaluate_model("test-eval-dcgan", n=40, data="mnist5k", write=True, sample_kw={"keep": 0.5})
    import json

    from imggen.__main__ import main  # the command line passes settings that differ from plain sampling only

    for args, sampling in ((["--truncation", "0.5", "--keep", "1"], {"truncation": 0.5}), (["--truncation", "1"], None)):
        capsys.readouterr()
        main(["eval", "test-eval-dcgan", "-n", "40", "--data", "mnist5k", *args])
        assert json.loads(capsys.readouterr().out).get("sampling") == sampling
