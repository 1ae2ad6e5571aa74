"""Training losses, one object per method (EDM training/loss.py, StyleGAN2-ADA training/loss.py).

GAN section: the non-saturating loss of Goodfellow et al. 2014 ("bce") and the hinge loss (Lim & Ye 2017,
Miyato et al. 2018), R1 gradient penalty (Mescheder et al. 2018) as a lazy "Dreg" phase, and differentiable
augmentation applied to real and fake images alike before D: the legacy ``use_augment`` (translation + cutout +
brightness, background -1) and DiffAugment policies (Zhao et al. 2020: "color,translation,cutout", their ops).
"""
from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F

# ==== GANs ==================================================================================================
GAN_LOSSES = ("hinge", "bce")
# TrainConfig settings only adversarial trainers read; each family's entry in imggen/families.py names the ones its
# trainer ignores (``unused_train_keys``) so a model card leaves them out
GAN_TRAIN_KEYS = frozenset({"lr_d", "loss", "d_steps", "use_ema", "ema_decay", "use_augment", "augment", "r1_gamma",
                            "g_topk", "train_prior", "class_weight"})


def diff_augment(x: torch.Tensor, translation: float = 0.125, cutout: float = 0.5) -> torch.Tensor:
    """Differentiable augmentation (B, C, H, W) in [-1, 1]: brightness, translation, cutout — per sample."""
    B, C, H, W = x.shape
    dev = x.device
    x = x + (torch.rand(B, 1, 1, 1, device=dev, dtype=x.dtype) - 0.5)  # brightness
    # translation by up to `translation` of the size, padding with the background value -1
    sh, sw = int(H * translation + 0.5), int(W * translation + 0.5)
    ty = torch.randint(-sh, sh + 1, (B, 1, 1), device=dev)
    tx = torch.randint(-sw, sw + 1, (B, 1, 1), device=dev)
    gy, gx = torch.meshgrid(torch.arange(H, device=dev), torch.arange(W, device=dev), indexing="ij")
    gy = (gy[None] + ty).clamp(-1, H)  # (B, H, W) index into the padded image
    gx = (gx[None] + tx).clamp(-1, W)
    xp = F.pad(x, (1, 1, 1, 1), value=-1.0)
    idx = ((gy + 1) * (W + 2) + (gx + 1)).view(B, 1, H * W).expand(B, C, H * W)
    x = xp.flatten(2).gather(2, idx).view(B, C, H, W)
    # cutout: one square of side `cutout`*size per image set to the background
    ch, cw = int(H * cutout + 0.5), int(W * cutout + 0.5)
    oy = torch.randint(-(ch // 2), H - ch // 2 + 1, (B, 1, 1), device=dev)  # may hang over the border
    ox = torch.randint(-(cw // 2), W - cw // 2 + 1, (B, 1, 1), device=dev)
    gy, gx = torch.meshgrid(torch.arange(H, device=dev), torch.arange(W, device=dev), indexing="ij")
    inside = (gy[None] >= oy) & (gy[None] < oy + ch) & (gx[None] >= ox) & (gx[None] < ox + cw)
    return torch.where(inside[:, None], torch.full_like(x, -1.0), x)


# ---- DiffAugment (Zhao et al. 2020, github.com/mit-han-lab/data-efficient-gans DiffAugment_pytorch.py) ----------
# each op draws its own per-sample randomness; images in [-1, 1], empty pixels 0 as in the reference code
def _rand(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def _brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_rand(x) - 0.5)


def _saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x) * 2) + mean


def _contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    B, C, H, W = x.shape
    sh, sw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (B, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (B, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(H, device=x.device), torch.arange(W, device=x.device), indexing="ij")
    gy = (gy[None] + ty + 1).clamp(0, H + 1)  # (B, H, W) rows of the zero-padded image
    gx = (gx[None] + tx + 1).clamp(0, W + 1)
    xp = F.pad(x, (1, 1, 1, 1))
    idx = (gy * (W + 2) + gx).view(B, 1, H * W).expand(B, C, H * W)
    return xp.flatten(2).gather(2, idx).view(B, C, H, W)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    B, C, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    oy = torch.randint(0, H + (1 - ch % 2), (B, 1, 1), device=x.device)  # the square's centre
    ox = torch.randint(0, W + (1 - cw % 2), (B, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(H, device=x.device), torch.arange(W, device=x.device), indexing="ij")
    y0, x0 = oy - ch // 2, ox - cw // 2
    inside = (gy[None] >= y0) & (gy[None] < y0 + ch) & (gx[None] >= x0) & (gx[None] < x0 + cw)
    return x * (~inside[:, None]).to(x.dtype)


DIFF_AUGMENT_OPS = {"color": (_brightness, _saturation, _contrast), "translation": (_translation,),
                    "cutout": (_cutout,)}


def parse_augment(policy: str) -> tuple[str, ...]:
    """The DiffAugment policy "color,translation,cutout" (any of them, comma-separated; "" = off) as a tuple;
    ValueError naming the known ops otherwise."""
    ops = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    bad = [p for p in ops if p not in DIFF_AUGMENT_OPS]
    if bad:
        raise ValueError(f"unknown DiffAugment op(s) {bad}: use a comma-separated subset of "
                         f"{', '.join(DIFF_AUGMENT_OPS)} (e.g. 'color,translation,cutout'), or '' for none")
    return ops


def diff_augment_policy(x: torch.Tensor, policy: str | tuple = "color,translation,cutout") -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020) of a batch (B, C, H, W) in [-1, 1]: colour (brightness, saturation,
    contrast), translation by up to 1/8 of the size and a cutout square of half the size, each drawn per image;
    differentiable in ``x``. An empty policy returns ``x`` itself."""
    for op in parse_augment(policy) if isinstance(policy, str) else policy:
        for f in DIFF_AUGMENT_OPS[op]:
            x = f(x)
    return x


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # BCE, real=1 / fake=0


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()  # non-saturating: maximise log D(G(z))


class GANLoss:
    """Phase losses for a model with ``.G(z, labels)`` and ``.D(x, labels)``.

    ``accumulate_gradients(phase, ...)`` runs the forward passes and ``backward()`` for one phase; the trainer
    zeroes grads and steps the optimiser. ``G``/``D`` may be DDP wrappers of ``net.G``/``net.D``. ``g_topk`` < 1
    trains G only on that fraction of its batch that D finds most real (top-k training, Sinha et al. 2020).
    ``class_weight`` > 0 (conditional GANs) adds a class term: D's projection read as a classifier over all
    classes (softmax of ``<embed(c), features>``) learns the real images' labels, and G is pushed to make images
    it reads as their asked class (on its whole batch, also under ``g_topk``) -- the auxiliary classifier of
    AC-GAN (Odena et al. 2017) without a second head, trained on reals only. Without TAC-GAN's twin classifier
    this is AC-GAN's biased form: it favours easily classified, less varied images (bench/results/emoji.md
    measures recall beside it).
    """

    def __init__(self, net, kind: str = "hinge", *, r1_gamma: float = 0.0, use_augment: bool = False,
                 augment: str = "", g_topk: float = 1.0, class_weight: float = 0.0, G=None, D=None):
        if kind not in GAN_LOSSES:
            raise ValueError(f"GAN loss must be one of {GAN_LOSSES}, not {kind!r}")
        if not 0 < g_topk <= 1:
            raise ValueError(f"g_topk is the fraction of the generator batch that trains G: in (0, 1], not {g_topk}")
        if not (0 <= class_weight <= 10 and math.isfinite(class_weight)):
            raise ValueError(f"class_weight must be in [0, 10], not {class_weight}")
        if class_weight and getattr(net, "num_classes", 0) < 2:
            raise ValueError("class_weight needs a conditional GAN (2 classes or more)")
        self.net, self.kind, self.r1_gamma, self.use_augment = net, kind, r1_gamma, use_augment
        self.augment = parse_augment(augment)  # a DiffAugment policy; it replaces use_augment when given
        self.g_topk, self.class_weight = g_topk, class_weight
        self.G, self.D = G or net.G, D or net.D

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        if self.augment:
            return diff_augment_policy(x, self.augment)
        return diff_augment(x) if self.use_augment else x

    def _D(self, D, x, labels):
        """D's logits (B,) and, with the class term on, its class cross-entropy for ``labels`` (else 0)."""
        if not self.class_weight:
            return D(self._aug(x), labels), 0.0
        logits, classes = D(self._aug(x), labels, class_logits=True)
        return logits, F.cross_entropy(classes.float(), labels)

    def accumulate_gradients(self, phase: str, real: torch.Tensor, real_labels, z: torch.Tensor, gen_labels,
                             gain: float = 1.0, ctx=nullcontext, backward=torch.Tensor.backward) -> dict[str, float]:
        if phase == "G":
            with ctx():
                fake = self.G(z, gen_labels)
                fake_logits, ce = self._D(self.net.D, fake, gen_labels)
                fake_logits = fake_logits.float()
                if self.g_topk < 1:
                    fake_logits = fake_logits.topk(max(1, round(self.g_topk * len(fake_logits)))).values
                loss = g_loss(self.kind, fake_logits)
            backward((loss + self.class_weight * ce) * gain)
            return {"loss/G": loss.item(), **({"class/G": ce.item()} if self.class_weight else {})}
        if phase == "D":
            with torch.no_grad(), ctx():
                fake = self.net.G(z, gen_labels)
            with ctx():
                real_logits, ce = self._D(self.D, real, real_labels)
                fake_logits = self.D(self._aug(fake.detach()), gen_labels)  # reals only train the class term
                real_logits, fake_logits = real_logits.float(), fake_logits.float()
                loss = d_loss(self.kind, real_logits, fake_logits)
            backward((loss + self.class_weight * ce) * gain)
            return {"loss/D": loss.item(), "D(x)": torch.sigmoid(real_logits).mean().item(),
                    "D(G(z))": torch.sigmoid(fake_logits).mean().item(),
                    **({"class/D": ce.item()} if self.class_weight else {})}
        if phase == "Dreg":  # R1 in fp32 on un-augmented reals; the unwrapped D (DDP has no double backward)
            x = real.detach().float().requires_grad_(True)
            logits = self.net.D(x, real_labels)
            (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            r1 = grad.square().flatten(1).sum(1).mean()
            backward(r1 * (self.r1_gamma / 2) * gain)
            return {"loss/R1": r1.item()}
        raise ValueError(f"unknown GAN phase {phase!r}")


# ==== VAEs (Kingma & Welling 2014; per-image terms in nats) =============================================
LOG_2PI = math.log(2 * math.pi)


def recon_nll(out: torch.Tensor, x: torch.Tensor, decoder: str, log_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """-log p(x|z) per image (B,). Bernoulli: ``out`` are logits of grey levels (x+1)/2; Gaussian: ``out`` are
    means in [-1, 1] with per-channel log-scale ``log_sigma``."""
    if decoder == "bernoulli":
        return F.binary_cross_entropy_with_logits(out, (x + 1) / 2, reduction="none").flatten(1).sum(1)
    ls = log_sigma.view(1, -1, 1, 1)
    return (0.5 * ((x - out) / ls.exp()).pow(2) + ls + 0.5 * LOG_2PI).flatten(1).sum(1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dim."""
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + LOG_2PI).sum(-1)
