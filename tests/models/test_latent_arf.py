"""Latent forest (an ARF over an autoencoder's codes): a normalised density for each leaf density, exact
conditional sampling given some coordinates, fitting through the training loop from a named autoencoder,
and a self-contained checkpoint whose config is checked before a network is built."""
import functools
from dataclasses import asdict

import numpy as np
import pytest
import torch

from imggen import checkpoint
from imggen.data import load_data
from imggen.models.latent_arf import LatentARF, LatentARFConfig, fit_round, marginal_shuffle
from imggen.models.vae import AE, AEConfig
from imggen.registry import from_checkpoint, load
from imggen.train import TrainConfig, train

TINY_AE = dict(latent_dim=2, hidden=8, fc_dim=16)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def two_moons(n=600, seed=0) -> np.ndarray:
    """Correlated 2-d codes: two offset noisy arcs."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    k = rng.integers(0, 2, n)
    x = np.stack([np.cos(t) + k, np.sin(t) * (1 - 2 * k) + 0.5 * k], 1)
    return (x + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def fitted(density="truncnorm", rounds=2) -> LatentARF:
    m = LatentARF(LatentARFConfig(**TINY_AE, trees=3, max_leaves=12, min_leaf=5, leaf_density=density))
    codes = two_moons()
    syn = marginal_shuffle(codes, np.random.default_rng(0))
    for r in range(rounds):
        fit_round(m, codes, syn, seed=r)
        syn = m.sample_codes(len(codes), generator=gen(r)).numpy()
    return m


def grid(m: LatentARF, steps=250):
    lo, hi = m.leaf_lo.min(0).values - 1, m.leaf_hi.max(0).values + 1
    if m.config.leaf_density == "normal":
        lo, hi = lo - 2, hi + 2
    a, b = (torch.linspace(float(lo[i]), float(hi[i]), steps) for i in range(2))
    A, B = torch.meshgrid(a, b, indexing="ij")
    z = torch.stack([A.flatten(), B.flatten()], 1)
    return a, b, z


@pytest.mark.parametrize("density", ["truncnorm", "uniform", "normal"])
def test_the_density_of_codes_integrates_to_one(density):
    m = fitted(density)
    a, b, z = grid(m)
    p = m.log_density(z).exp().view(len(a), len(b))
    mass = torch.trapezoid(torch.trapezoid(p, b, dim=1), a).item()
    assert mass == pytest.approx(1.0, abs=0.02)
    assert abs(m.leaf_weights.sum().item() - 1) < 1e-5 and m.config.num_leaves <= 3 * 12


def test_samples_lie_in_their_leaves_and_follow_the_density():
    m = fitted()
    z = m.sample_codes(4000, generator=gen(1))
    assert torch.isfinite(m.log_density(z)).all()  # every draw inside some leaf's box
    assert torch.equal(z, m.sample_codes(4000, generator=gen(1)))  # seeded
    a, b, grid_z = grid(m)
    p = m.log_density(grid_z).exp()
    mean = (p[:, None] * grid_z).sum(0) / p.sum()
    assert torch.allclose(z.mean(0), mean, atol=0.05)  # the sampler draws the density it scores
    assert torch.allclose(m.z_mean, mean, atol=0.02)  # the mixture's moments, used by Complete's prior


def test_conditional_sampling_is_exact_given_a_coordinate():
    """Fixing z0, the drawn z1 follow p(z1 | z0) = p(z0, z1) / p(z0) computed from the density on a grid."""
    m = fitted()
    z0 = float(m.sample_codes(1, generator=gen(3))[0, 0])
    known = torch.tensor([[1.0, 0.0]])
    draws = m.complete_codes(torch.tensor([[z0, 0.0]]), known, 4000, generator=gen(4))[0]
    assert (draws[:, 0] == z0).all()
    b = torch.linspace(float(m.leaf_lo[:, 1].min()) - 1, float(m.leaf_hi[:, 1].max()) + 1, 4000)
    p = m.log_density(torch.stack([torch.full_like(b, z0), b], 1)).exp()
    cond_mean = float((p * b).sum() / p.sum())
    cond_std = float(((p * (b - cond_mean) ** 2).sum() / p.sum()).sqrt())
    assert abs(draws[:, 1].mean().item() - cond_mean) < 4 * cond_std / 4000 ** 0.5 + 1e-3
    with pytest.raises(ValueError, match="outside every leaf"):
        m.complete_codes(torch.tensor([[1e6, 0.0]]), known)


def test_a_bad_leaf_density_and_bad_leaves_are_refused():
    with pytest.raises(ValueError, match="leaf_density"):
        LatentARF(LatentARFConfig(leaf_density="beta"))
    m = LatentARF(LatentARFConfig(**TINY_AE))
    with pytest.raises(ValueError, match="leaves need"):
        m.set_leaves(torch.ones(2), torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2, 3))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny AE saved as a checkpoint, then a latent forest trained from it in 2 rounds on 300 digits."""
    d = tmp_path_factory.mktemp("latentarf")
    torch.manual_seed(0)
    ae = AE(AEConfig(**TINY_AE))
    ae_path = checkpoint.save(ae, d / "tiny-ae.safetensors", family="ae", config=asdict(ae.config))
    data = load_data("mnist5k", split="train", limit=300)
    out = d / "tiny-latentarf.safetensors"
    events = list(train("latentarf", data, TrainConfig(epochs=2, eval_samples=0), out=out,
                        model_config=dict(source=str(ae_path), trees=3, max_leaves=16, latent_dim=8, hidden=16)))
    return ae, out, events


@pytest.mark.slow
def test_training_takes_the_named_autoencoder_and_fits_its_codes(trained):
    ae, out, events = trained
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.step for e in epochs] == [1, 2]
    assert all(0.3 <= e.losses["forest accuracy"] <= 1 for e in epochs)
    m = load(str(out)).net
    assert m.config.latent_dim == 2 and m.config.hidden == 8  # the autoencoder's sizes, not the asked ones
    assert torch.equal(m.decoder.fc[0].weight, ae.decoder.fc[0].weight)
    x = load_data("mnist5k", split="test", limit=8).images
    assert torch.allclose(m.encode(x)[0], ae.encode(x)[0], atol=1e-6)
    assert 2 <= m.config.num_leaves <= 3 * 16


@pytest.mark.slow
def test_the_checkpoint_is_self_contained_and_checked(trained, tmp_path):
    _, out, _ = trained
    meta = checkpoint.read_metadata(out)
    checkpoint.check_config(meta["family"], meta["config"], out)
    m = from_checkpoint(out)
    again = from_checkpoint(out)
    assert torch.equal(m.sample(6, generator=gen(2)), again.sample(6, generator=gen(2)))
    bad = tmp_path / "bad.safetensors"
    checkpoint.save(m, bad, family="latentarf", config={**meta["config"], "num_leaves": 60_000})
    with pytest.raises(checkpoint.CheckpointError, match="does not match"):
        checkpoint.check_config("latentarf", checkpoint.read_metadata(bad)["config"], bad)


def test_a_new_model_from_a_non_autoencoder_is_refused():
    from imggen.models.gan import DCGAN

    with pytest.raises(ValueError, match="unconditional autoencoder"):
        LatentARF(LatentARFConfig()).set_autoencoder(DCGAN())


@pytest.mark.slow
def test_complete_and_reconstruct_through_the_autoencoder(trained):
    """Complete's auto method for the family is the encoder one; known pixels stay (Poisson-blended seam)."""
    from imggen.complete import run_completion
    from imggen.registry import register

    _, out, _ = trained
    register("tiny-latentarf", out)
    x = (load_data("mnist5k", split="test").images[:1] + 1) / 2
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 14:, :] = 1
    res = run_completion("tiny-latentarf", x, mask, "auto", n=2, seed=0)
    assert res.method == "vae" and res.images.shape == (2, 1, 28, 28)
    assert torch.allclose(res.images[:, 0, :12], x[0, 0, :12].expand(2, -1, -1), atol=1e-5)
    rec = load("tiny-latentarf").reconstruct(x)
    assert rec.shape == x.shape and 0 <= rec.min() and rec.max() <= 1
