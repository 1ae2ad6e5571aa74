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


def _grads(module):
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in module.parameters()]


def test_class_term_adds_exactly_the_class_cross_entropy_gradient():
    m = tiny("cgan", num_classes=3).eval()  # eval: spectral norm's power iteration stays put between the calls
    g = torch.Generator().manual_seed(0)
    x, z = torch.rand(6, 1, 28, 28, generator=g) * 2 - 1, torch.randn(6, m.latent_dim, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    plain, term = losses.GANLoss(m, "hinge"), losses.GANLoss(m, "hinge", class_weight=0.5)
    for phase, module in (("D", m.D), ("G", m.G)):
        m.zero_grad()
        assert "class/" + phase not in plain.accumulate_gradients(phase, x, y, z, y)
        base = _grads(module)
        m.zero_grad()
        out = term.accumulate_gradients(phase, x, y, z, y)
        with_term = _grads(module)
        m.zero_grad()  # the class term alone: D's class logits of the reals (D step) or of G's images (G step)
        _, classes = m.D(x if phase == "D" else m.G(z, y), y, class_logits=True)
        ce = torch.nn.functional.cross_entropy(classes, y)
        assert out["class/" + phase] == pytest.approx(ce.item(), rel=1e-5)
        (0.5 * ce).backward()
        for a, b, c in zip(base, with_term, _grads(module)):
            torch.testing.assert_close(b - a, c, atol=1e-5, rtol=1e-4)  # the fakes' class logits add nothing to D
        assert any(c.abs().sum() > 0 for c in _grads(module))
    with pytest.raises(ValueError, match="conditional"):
        losses.GANLoss(tiny("dcgan"), class_weight=1.0)
    with pytest.raises(ValueError, match="class_weight"):
        losses.GANLoss(m, class_weight=-1.0)
    with pytest.raises(ValueError, match="conditional"):
        tiny("dcgan").D(x, class_logits=True)
