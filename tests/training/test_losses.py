"""GAN losses (imggen.losses): DiffAugment keeps gradients, the top-k generator loss, the class term."""
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



def test_class_term_is_the_projection_read_as_a_classifier_and_trains_it():
    m = tiny("cgan", num_classes=2).eval()  # eval: spectral norm's power iteration stays put between the calls
    g = torch.Generator().manual_seed(0)
    y = torch.arange(8) % 2
    x = torch.where(y.view(-1, 1, 1, 1) == 0, -1.0, 1.0) * torch.ones(8, 1, 28, 28)  # class 0 dark, class 1 light
    z = torch.randn(8, m.latent_dim, generator=g)
    loss = losses.GANLoss(m, "hinge", class_weight=1.0)
    with torch.no_grad():
        _, classes = m.D(x, y, class_logits=True)
    assert loss.accumulate_gradients("D", x, y, z, y)["class/D"] == pytest.approx(
        torch.nn.functional.cross_entropy(classes, y).item(), rel=1e-5)
    m.zero_grad()
    opt = torch.optim.Adam(m.D.parameters(), lr=1e-2)
    first = None
    for _ in range(30):  # D learns the real labels through its projection
        opt.zero_grad()
        out = loss.accumulate_gradients("D", x, y, z, y)
        first = first or out["class/D"]
        opt.step()
    assert out["class/D"] < 0.5 * first
    m.D.zero_grad()
    loss.accumulate_gradients("G", x, y, z, y)  # G's class term reaches G
    assert all(p.grad is not None for p in m.G.parameters() if p.requires_grad)
    assert "class/G" not in losses.GANLoss(m, "hinge").accumulate_gradients("G", x, y, z, y)
    with pytest.raises(ValueError, match="conditional"):
        losses.GANLoss(tiny("dcgan"), class_weight=1.0)
    with pytest.raises(ValueError, match="class_weight"):
        losses.GANLoss(m, class_weight=-1.0)
