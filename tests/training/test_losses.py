"""GAN losses (imggen.losses): DiffAugment keeps gradients, the top-k generator loss."""
import pytest
import torch

from imggen import losses
from tiny_gan import one_thread, tiny  # noqa: F401  (one_thread: an autouse fixture)


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

