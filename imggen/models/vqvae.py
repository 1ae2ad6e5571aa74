"""A VQ-VAE image tokenizer (van den Oord et al. 2017) with an EMA codebook (Razavi et al. 2019) and dead-code
restart: a conv encoder turns an image into a grid of vectors, each replaced by its nearest of ``codes`` codebook
entries (one token each); a conv decoder draws the image back. The codebook is not learned by gradients but is the
running mean of the encoder outputs assigned to each code; a code no output chose for a while is moved onto a
random encoder output of the current batch, so (nearly) every code stays in use. Used by the text -> image model
(imggen/models/dalle.py) as its image vocabulary."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

DEAD_COUNT = 0.5  # a code whose running assignment count falls below this is restarted


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.net(x)


class EMACodebook(nn.Module):
    """Nearest-neighbour quantizer; in training mode every forward updates the codebook by EMA and restarts dead
    codes. All state is in persistent buffers, so a checkpoint resumes training where it stopped."""

    def __init__(self, codes: int, dim: int, decay: float = 0.99):
        super().__init__()
        self.decay = decay
        self.register_buffer("embed", torch.randn(codes, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(codes))
        self.register_buffer("ema_sum", self.embed.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.long))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, D) vectors -> (N,) index of the nearest code (squared Euclidean)."""
        e = self.embed
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)
        return d.argmin(1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, D, h, w) -> (quantized z with straight-through gradients, codes (B, h, w), commitment loss)."""
        B, D, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, D)
        if self.training:
            self._init(flat.detach().float())
        idx = self.nearest(flat.detach().float())
        if self.training:
            self.update(flat.detach().float(), idx)
        q = self.embed[idx].to(flat.dtype)
        commit = F.mse_loss(flat, q.detach())
        q = flat + (q - flat).detach()
        return q.view(B, h, w, D).permute(0, 3, 1, 2), idx.view(B, h, w), commit

    @torch.no_grad()
    def _init(self, flat: torch.Tensor) -> None:
        """The first training batch seeds the codebook with random encoder outputs (no code starts dead)."""
        if self.initialized.item():
            return
        pick = torch.randint(0, len(flat), (len(self.embed),), device=flat.device)
        self.embed.copy_(flat[pick] + 1e-3 * torch.randn_like(self.embed))
        self.ema_sum.copy_(self.embed)
        self.ema_count.fill_(1.0)
        self.initialized.fill_(1)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA of each code's assignment count and vector sum; code = sum / count (Laplace-smoothed); codes whose
        count fell below DEAD_COUNT move onto random vectors of this batch."""
        K, d = self.embed.shape
        counts = torch.bincount(idx, minlength=K).float()
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n, eps = self.ema_count.sum(), 1e-5
        count = (self.ema_count + eps) / (n + K * eps) * n
        self.embed.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < DEAD_COUNT
        if dead.any():
            pick = torch.randint(0, len(flat), (int(dead.sum()),), device=flat.device)
            self.embed[dead] = flat[pick]
            self.ema_sum[dead] = flat[pick]
            self.ema_count[dead] = 1.0


class VQTokenizer(nn.Module):
    """Conv encoder (stride 2 ``levels`` times) -> EMA codebook -> conv decoder; images in [-1, 1]."""

    def __init__(self, channels: int = 3, hidden: int = 64, codes: int = 512, code_dim: int = 64, levels: int = 2,
                 decay: float = 0.99):
        super().__init__()
        enc, ch = [nn.Conv2d(channels, hidden, 3, padding=1)], hidden
        for i in range(levels):
            out = hidden * 2 if i == levels - 1 else hidden
            enc += [nn.ReLU(), nn.Conv2d(ch, out, 4, stride=2, padding=1), ResBlock(out)]
            ch = out
        enc += [ResBlock(ch), nn.ReLU(), nn.Conv2d(ch, code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(code_dim, ch, 3, padding=1), ResBlock(ch), ResBlock(ch)]
        for i in range(levels):
            out = hidden
            dec += [nn.ReLU(), nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1)]
            if i < levels - 1:
                dec.append(ResBlock(out))
            ch = out
        dec += [nn.ReLU(), nn.Conv2d(ch, channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.codebook = EMACodebook(codes, code_dim, decay)

    def loss(self, x: torch.Tensor, commitment: float = 0.25) -> dict:
        """Training loss: pixel MSE + commitment; also the codes used in this batch (a share of the codebook)."""
        q, idx, commit = self.codebook(self.encoder(x))
        recon = F.mse_loss(self.decoder(q), x)
        used = torch.unique(idx).numel() / len(self.codebook.embed)
        return {"loss": recon + commitment * commit, "recon": recon, "commit": commit, "codes_used": used}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] -> (B, h*w) token ids in raster order."""
        z = self.encoder(x)
        B, D, h, w = z.shape
        return self.codebook.nearest(z.permute(0, 2, 3, 1).reshape(-1, D).float()).view(B, h * w)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, h*w) token ids -> images (B, C, H, W) in [-1, 1]."""
        B, T = tokens.shape
        side = int(round(T ** 0.5))
        q = self.codebook.embed[tokens].view(B, side, side, -1).permute(0, 3, 1, 2)
        return self.decoder(q).clamp(-1, 1)
