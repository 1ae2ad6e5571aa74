"""Two-stage VAE sampling: a Gaussian mixture fitted to the aggregate posterior becomes the default sampling prior
(N(0, I) stays as ``prior="normal"``), stored in the checkpoint's buffers and config, written through the same
``registry.fit_prior`` path as the DCGAN's, with the network's weights untouched."""
from dataclasses import asdict

import pytest
import torch

from imggen import checkpoint, registry
from imggen.data import load_data
from imggen.models.vae import CVAE, VAE, CVAEConfig, VAEConfig

TINY = dict(latent_dim=2, hidden=8, fc_dim=16)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    return load_data("mnist5k", split="train", limit=300)


def test_fit_prior_makes_the_mixture_the_default_sampler(digits):
    torch.manual_seed(0)
    m = VAE(VAEConfig(**TINY))
    plain = m.sample(8, generator=gen(1))
    info = m.fit_prior(3, 300, images=digits.images, seed=0)
    assert info["components"] == 3 and m.config.prior_components == 3
    assert torch.allclose(m.prior_weights.sum(), torch.tensor(1.0))
    assert torch.equal(m.sample(8, generator=gen(1), prior="normal"), plain)  # N(0, I) kept as an option
    assert not torch.equal(m.sample(8, generator=gen(1)), plain)
    # the mixture describes the codes: its mean is the aggregate posterior's (up to the one draw per image)
    with torch.no_grad():
        mu, logvar = m.encode(digits.images)
    mix_mean = (m.prior_weights[:, None] * m.prior_means).sum(0)
    assert torch.allclose(mix_mean, mu.mean(0), atol=0.15)
    with pytest.raises(ValueError, match="prior must be"):
        m.sample(2, prior="mixture")
    with pytest.raises(ValueError, match="training images"):
        m.fit_prior(3, 300)
    with pytest.raises(ValueError, match="components must be"):
        m.fit_prior(1000, 300, images=digits.images)


def test_a_wide_latent_fits_while_its_mixture_stays_small_enough_to_store(digits):
    """A 300-d code (a spatial code is 1,024-d) fits one full Gaussian; mixtures past PRIOR_MAX_BYTES are refused."""
    from imggen.models.vae import PRIOR_MAX_BYTES

    m = VAE(VAEConfig(latent_dim=300, hidden=8, fc_dim=16))
    with pytest.raises(ValueError, match="use fewer components"):
        m.fit_prior(PRIOR_MAX_BYTES // (300 * 300 * 4) + 1, 300, images=digits.images)
    m.fit_prior(1, 20_000, images=torch.cat([digits.images] * 2), seed=0)  # 600 codes: 2 per dimension
    assert m.prior_scale_tril.shape == (1, 300, 300) and m.sample(4, generator=gen(0)).shape == (4, 1, 28, 28)


def test_a_conditional_vae_fits_with_labels(digits):
    m = CVAE(CVAEConfig(**TINY))
    m.fit_prior(2, 300, images=digits.images, labels=digits.labels)
    x = m.sample(4, generator=gen(0), labels=torch.tensor([0, 1, 2, 3]))
    assert x.shape == (4, 1, 28, 28) and m.config.prior_components == 2


def test_registry_fit_prior_rewrites_only_the_prior(digits, tmp_path):
    torch.manual_seed(0)
    m = VAE(VAEConfig(**TINY))
    path = checkpoint.save(m, tmp_path / "tiny-vae.safetensors", family="vae", config=asdict(m.config),
                           metrics={"fd": 1.0})
    out, info = registry.fit_prior(str(path), 3, 300, data=digits, out=tmp_path / "fitted.safetensors",
                                   measure=lambda net: {"fd": 0.5})
    meta = checkpoint.read_metadata(out)
    checkpoint.check_config("vae", meta["config"], out)  # untrusted-path checks: shapes follow the config
    assert meta["config"]["prior_components"] == 3 and meta["card"]["prior"] == info
    assert meta["metrics"] == {"fd": 0.5}
    again = registry.from_checkpoint(out)
    old = m.state_dict()
    for k, v in again.state_dict().items():
        if not k.startswith("prior_"):
            assert torch.equal(v, old[k]), k  # the weights are identical
    assert torch.equal(again.sample(4, generator=gen(2), prior="normal"), m.sample(4, generator=gen(2)))


def test_training_a_fitted_vae_drops_its_mixture(digits):
    from imggen.train import TrainConfig
    from imggen.training.trainers import make_trainer

    m = VAE(VAEConfig(**TINY))
    m.fit_prior(2, 300, images=digits.images)
    make_trainer(m, TrainConfig(), torch.device("cpu"))
    assert m.config.prior_components == 0 and not hasattr(m, "prior_weights")
