"""Style-based GAN (StyleGAN, Karras et al. 2019, with StyleGAN2's modulated convolutions, 2020): a mapping network
turns z into a style w; the synthesis network starts from a learned constant and every layer is modulated by a
style, with per-pixel noise. Because each layer takes its own copy of w, styles can be mixed: coarse layers from
one latent and fine ones from another (``mix``), and the truncation trick works in W: w = w_avg + psi (w - w_avg).

The discriminator, losses and trainer are the DCGAN's (``imggen/models/gan.py``, ``imggen/training/trainers.py``);
style-mixing regularisation happens inside the generator while it trains. Weights are initialised the ordinary way
(fan-in scaled), not with StyleGAN's equalized learning rate, so the DCGAN recipe (Adam 2e-4) trains it; only the
mapping network is slowed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import randn
from .gan import REFINE_STEP_SIZE, Discriminator, _GAN, _layout
from .ranking import check_candidates

MAPPING_LR_MUL = 0.1  # default mapping_lr_mul: a tenth of the rate (StyleGAN: 0.01 with its equalized, larger rate)
W_AVG_SAMPLES = 4096  # latents whose mean style is w_avg (fixed seed, so truncation is deterministic)


@dataclass
class StyleGANConfig:
    channels: int = 1
    image_size: int = 28  # 28 | 32 | 64
    latent_dim: int = 64  # z
    w_dim: int = 64  # style size
    mapping_layers: int = 4
    mapping_lr_mul: float = MAPPING_LR_MUL  # the mapping network's learning-rate multiplier (StyleGAN: 0.01)
    g_width: int = 32  # synthesis channels at full resolution, doubled per lower resolution (at most 256)
    d_width: int = 64
    d_norm: str = "none"
    use_spectral_norm: bool = True
    use_minibatch_std: bool = True
    blocks: int = 0  # extra 3x3 convs per resolution in D
    style_mixing: float = 0.9  # training: share of batches whose styles switch latents at a random layer


class ScaledLinear(nn.Module):
    """Linear layer whose weights are stored divided by ``lr_mul`` and multiplied back at run time, so Adam moves
    it ``lr_mul`` times as fast relative to its size (StyleGAN slows its mapping network this way)."""

    def __init__(self, cin: int, cout: int, *, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / (math.sqrt(cin) * lr_mul))
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.lr_mul, self.bias * self.lr_mul)


class ScaledLeakyReLU(nn.LeakyReLU):
    """Leaky ReLU times sqrt(2), which keeps the signal's variance through a layer (StyleGAN's bias_act gain):
    without it the styles out of a deep mapping network barely differ at initialisation."""

    def __init__(self):
        super().__init__(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * math.sqrt(2)


class ModConv(nn.Module):
    """Modulated convolution: the style scales the input channels, demodulation renormalises each output channel
    (the input-scaling form of StyleGAN2's weight modulation: the same result, one shared convolution)."""

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int = 3, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel ** 2))
        self.affine = ScaledLinear(w_dim, cin, bias_init=1.0)
        self.demodulate, self.up, self.pad = demodulate, up, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (B, cin)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.pad)
        if self.demodulate:
            d = (self.weight.pow(2).sum([2, 3])[None] * s[:, None, :].pow(2)).sum(2).add(1e-8).rsqrt()  # (B, cout)
            out = out * d[:, :, None, None]
        return out


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, per-pixel noise (a fixed map at inference, fresh noise in training), bias, leaky ReLU."""

    def __init__(self, cin: int, cout: int, w_dim: int, res: int, up: bool = False):
        super().__init__()
        self.conv = ModConv(cin, cout, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res, generator=torch.Generator().manual_seed(res)))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h = self.conv(x, w)
        noise = torch.randn_like(h[:, :1]) if self.training else self.noise_const
        h = h + self.noise_strength * noise + self.bias[:, None, None]
        return F.leaky_relu(h, 0.2) * math.sqrt(2)


class StyleGenerator(nn.Module):
    """z (B, latent_dim) -> mapping -> w -> synthesis from a learned constant; ``forward(z)`` is G(z)."""

    def __init__(self, c: StyleGANConfig):
        super().__init__()
        s0, k = _layout(c.image_size)
        if not 0 < c.mapping_lr_mul <= 1:
            raise ValueError(f"mapping_lr_mul must be in (0, 1], not {c.mapping_lr_mul}")
        self.style_mixing = c.style_mixing
        maps, d = [], c.latent_dim
        for _ in range(c.mapping_layers):
            maps += [ScaledLinear(d, c.w_dim, lr_mul=c.mapping_lr_mul), ScaledLeakyReLU()]
            d = c.w_dim
        self.mapping = nn.Sequential(*maps)
        chans = [min(256, c.g_width * 2 ** (k - i)) for i in range(k + 1)]  # e.g. 28 px: 128, 64, 32
        self.const = nn.Parameter(torch.randn(1, chans[0], s0, s0))
        self.layers = nn.ModuleList([SynthesisLayer(chans[0], chans[0], c.w_dim, s0)])
        self.to_rgb = nn.ModuleList([ModConv(chans[0], c.channels, c.w_dim, kernel=1, demodulate=False)])
        self.layer_res = [s0]  # resolution of each style input (one per synthesis layer)
        for i in range(1, k + 1):
            r = s0 * 2 ** i
            self.layers.extend([SynthesisLayer(chans[i - 1], chans[i], c.w_dim, r, up=True),
                                SynthesisLayer(chans[i], chans[i], c.w_dim, r)])
            self.to_rgb.append(ModConv(chans[i], c.channels, c.w_dim, kernel=1, demodulate=False))
            self.layer_res += [r, r]
        self.rgb_bias = nn.Parameter(torch.zeros(c.channels))

    @property
    def num_ws(self) -> int:
        return len(self.layers)

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """z -> w (B, w_dim), z normalised to unit mean square first (StyleGAN's pixel norm)."""
        return self.mapping(z * z.pow(2).mean(1, keepdim=True).add(1e-8).rsqrt())

    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        """ws (B, num_ws, w_dim): one style per layer -> images in [-1, 1] (skip architecture: each resolution's
        RGB is added to the upsampled sum of the coarser ones)."""
        h = self.const.expand(len(ws), -1, -1, -1)
        h = self.layers[0](h, ws[:, 0])
        img = self.to_rgb[0](h, ws[:, 0])
        for i in range(1, len(self.to_rgb)):
            a, b = 2 * i - 1, 2 * i
            h = self.layers[b](self.layers[a](h, ws[:, a]), ws[:, b])
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + self.to_rgb[i](h, ws[:, b])
        return torch.tanh(img + self.rgb_bias[:, None, None])

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        w = self.map(z)
        ws = w[:, None].expand(-1, self.num_ws, -1)
        if self.training and self.style_mixing > 0 and len(z) > 1:  # mixing regularisation (StyleGAN)
            mixed = torch.rand(len(z), 1, device=z.device) < self.style_mixing
            cut = torch.randint(1, self.num_ws, (len(z), 1), device=z.device)
            w2 = self.map(torch.randn_like(z))
            later = (torch.arange(self.num_ws, device=z.device)[None] >= cut) & mixed  # (B, num_ws)
            ws = torch.where(later[..., None], w2[:, None], ws)
        return self.synthesize(ws)


class StyleGAN(_GAN):
    """Unconditional style-based GAN: ``sample`` truncates in W; ``mix`` swaps styles between latents by layer."""

    family = "stylegan"

    def __init__(self, config: StyleGANConfig = StyleGANConfig()):
        nn.Module.__init__(self)
        self.config = c = config
        self.G = StyleGenerator(c)
        self.D = Discriminator(c.channels, c.image_size, c.d_width, 0, c.d_norm, c.use_spectral_norm,
                               c.use_minibatch_std, c.blocks)

    @property
    def layer_resolutions(self) -> list[int]:
        """The resolution each style input drives, coarse to fine (e.g. 28 px: 7, 14, 14, 28, 28)."""
        return list(self.G.layer_res)

    def latents(self, n: int, *, generator: torch.Generator | None = None, truncation: float | None = None):
        """z ~ N(0, I); truncation happens in W (:meth:`sample`), so ``truncation`` is accepted and unused here."""
        return randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def w_avg(self) -> torch.Tensor:
        """The mean style (w_dim,) over W_AVG_SAMPLES fixed latents."""
        g = torch.Generator().manual_seed(0)
        return self.G.map(randn(W_AVG_SAMPLES, self.latent_dim, generator=g, device=self.device)).mean(0)

    def styles(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z (B, latent_dim) -> w (B, w_dim), pulled toward the mean style by ``truncation`` (psi) when != 1."""
        if not truncation > 0:
            raise ValueError(f"truncation must be > 0, not {truncation}")
        w = self.G.map(z)
        return w if truncation == 1 else torch.lerp(self.w_avg(), w, truncation)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, labels=None, truncation: float = 1.0,
               refine_steps: int = 0, refine_step_size: float = REFINE_STEP_SIZE, candidates: int = 1) -> torch.Tensor:
        """(n, C, H, W) in [-1, 1]. ``truncation`` (psi) < 1 pulls every style toward the mean style: cleaner,
        less varied; ``refine_steps`` > 0 first moves z toward what D finds real (:meth:`_GAN.refine`);
        ``candidates`` > 1 keeps the best of that many by D (:meth:`_GAN.best_of`)."""
        def make(zb, _):
            if refine_steps:
                zb = self.refine(zb, steps=refine_steps, step_size=refine_step_size)
            return self.render(zb, truncation)
        return self.best_of(make, self.latents(n * check_candidates(candidates), generator=generator), None,
                            candidates)

    def render(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Each latent's own image (its one style in every layer), in [-1, 1]."""
        return self.render_styles(self.styles(z, truncation))

    def render_styles(self, w: torch.Tensor) -> torch.Tensor:
        """Styles w (B, w_dim), one per image and used in every layer -> images in [-1, 1]."""
        return self.G.synthesize(w[:, None].expand(-1, self.G.num_ws, -1))

    @torch.no_grad()
    def mix(self, z_rows: torch.Tensor, z_cols: torch.Tensor, resolutions, truncation: float = 1.0) -> torch.Tensor:
        """Style mixing: (R, C, channels, H, W) images whose layers at ``resolutions`` (e.g. {7} = coarse) take
        their styles from the column latent and every other layer from the row latent."""
        wr, wc = self.styles(z_rows.to(self.device), truncation), self.styles(z_cols.to(self.device), truncation)
        return self._mix_all(wr, wc, self._layers(resolutions))

    def _mix_all(self, wr: torch.Tensor, wc: torch.Tensor, take: torch.Tensor) -> torch.Tensor:
        """Every row style with every column style: (R, C, channels, H, W)."""
        R, C = len(wr), len(wc)
        out = self._mixed(wr.repeat_interleave(C, 0), wc.repeat(R, 1), take)
        return out.view(R, C, *out.shape[1:])

    @torch.no_grad()
    def mix_pairs(self, z_a: torch.Tensor, z_b: torch.Tensor, resolutions, truncation: float = 1.0) -> torch.Tensor:
        """Style mixing pair by pair: image i takes its layers at ``resolutions`` from z_b[i], the rest from z_a[i]."""
        take = self._layers(resolutions)
        wa, wb = self.styles(z_a.to(self.device), truncation), self.styles(z_b.to(self.device), truncation)
        return self._mixed(wa, wb, take)

    def _mixed(self, wa: torch.Tensor, wb: torch.Tensor, take: torch.Tensor) -> torch.Tensor:
        """Images whose style inputs marked in ``take`` get wb[i] and the others wa[i]."""
        return self.G.synthesize(torch.where(take[None, :, None], wb[:, None], wa[:, None]))

    def _layers(self, resolutions) -> torch.Tensor:
        """(num_ws,) bool: which style inputs run at one of ``resolutions``."""
        res = set(int(r) for r in resolutions)
        bad = res - set(self.G.layer_res)
        if bad:
            raise ValueError(f"resolutions {sorted(bad)} are not among this generator's {sorted(set(self.G.layer_res))}")
        return torch.tensor([r in res for r in self.G.layer_res], device=self.device)

    @torch.no_grad()
    def mixing_grid(self, z_rows: torch.Tensor, z_cols: torch.Tensor, resolutions,
                    truncation: float = 1.0) -> torch.Tensor:
        """The StyleGAN paper's figure: ((R + 1) (C + 1), channels, H, W) images in [-1, 1], row-major: a blank
        corner, the column latents' own images along the top, each row latent's own image on the left, and the
        mixes (:meth:`mix`) in between."""
        take = self._layers(resolutions)
        wr, wc = self.styles(z_rows.to(self.device), truncation), self.styles(z_cols.to(self.device), truncation)
        rows, cols, mixed = self.render_styles(wr), self.render_styles(wc), self._mix_all(wr, wc, take)
        top = torch.cat([torch.full_like(cols[:1], -1.0), cols])
        body = torch.cat([rows[:, None], mixed], 1).flatten(0, 1)
        return torch.cat([top, body])
