"""A small colour CNN trained on the emoji train split (category + subcategory): the project's own emoji feature
network, whose features and category head drive the colour metrics (imggen.metrics.emoji_metrics)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class EmojiNetConfig:
    channels: int = 32  # width of the first conv block (doubled in each of the next two)
    feature_dim: int = 128  # penultimate features used for FD / precision-recall
    num_categories: int = 10  # emoji categories (imggen.data emoji classes)
    num_subcategories: int = 99  # emoji subcategories (extras["subcategories"])
    image_size: int = 32  # the network's input side; other sizes are area-resized to it
    dropout: float = 0.3


class EmojiNet(nn.Module):
    """Emoji category / subcategory classifier on 32-px RGB behind the colour FD, precision / recall and
    'reads as the asked category'.

    Two feature sets: ``features`` (the penultimate layer the heads read: what category an image shows, blind to
    blur by training) and ``block_features`` (each conv block's mean activation per channel, standardised by the
    train split's statistics: they see sharpness and colour too, so the colour FD is measured on them)."""

    family = "emojinet"

    def __init__(self, config: EmojiNetConfig = EmojiNetConfig()):
        super().__init__()
        self.config = c = config
        w = c.channels

        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                    nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

        side = c.image_size // 8
        self.body = nn.Sequential(*block(3, w), *block(w, 2 * w), *block(2 * w, 4 * w), nn.Flatten(),
                                  nn.Linear(4 * w * side * side, c.feature_dim), nn.BatchNorm1d(c.feature_dim),
                                  nn.ReLU())
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.feature_dim, c.num_categories)
        self.sub_head = nn.Linear(c.feature_dim, c.num_subcategories)
        self.register_buffer("block_mean", torch.zeros(7 * w))  # train-split statistics of the block features
        self.register_buffer("block_std", torch.ones(7 * w))  # (set by set_block_stats after training)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Any (B, 1|3, H, W) in [-1, 1] -> (B, 3, image_size, image_size): grey is repeated, sizes area-resized
        (64 -> 32 is the 2x2 mean that makes emoji32 from emoji64)."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"EmojiNet takes (B, 1 or 3, H, W) images, not shape {tuple(x.shape)}")
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        s = self.config.image_size
        if x.shape[-2:] != (s, s):
            if x.shape[-1] % s == 0 and x.shape[-2] == x.shape[-1]:
                x = F.avg_pool2d(x, x.shape[-1] // s)
            else:
                x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, feature_dim)."""
        return self.body(self.prepare(x))

    def _block_means(self, x: torch.Tensor) -> torch.Tensor:
        h, out = self.prepare(x), []
        for i, layer in enumerate(self.body[:21]):  # three blocks of conv-BN-ReLU x2 + pool; ReLUs at 5, 12, 19
            h = layer(h)
            if i in (5, 12, 19):
                out.append(h.mean((2, 3)))
        return torch.cat(out, 1)

    def block_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, 7 * channels): each block's per-channel mean activation, standardised."""
        return (self._block_means(x) - self.block_mean) / self.block_std

    @torch.no_grad()
    def set_block_stats(self, x: torch.Tensor, batch_size: int = 500) -> None:
        """Standardise ``block_features`` by the mean and std of images ``x`` (the training split)."""
        self.eval()
        f = torch.cat([self._block_means(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        self.block_mean.copy_(f.mean(0))
        self.block_std.copy_(f.std(0) + 1e-3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (category logits, subcategory logits)."""
        f = self.drop(self.features(x))
        return self.head(f), self.sub_head(f)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror half the images, then a small random affine (±8°, ±2 px at 32 px, 0.9-1.1 scale) on white."""
    B = x.shape[0]
    flip = torch.rand(B, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    ang = (torch.rand(B, generator=generator) - 0.5) * 2 * 0.14
    sc = 1 + (torch.rand(B, generator=generator) - 0.5) * 0.2
    t = (torch.rand(B, 2, generator=generator) - 0.5) * 2 * (2 / 16)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return 1 - F.grid_sample(1 - x, grid, align_corners=False, padding_mode="zeros")  # white outside


@torch.no_grad()
def predict(model: EmojiNet, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(category, subcategory) predictions for images in [-1, 1]."""
    model.eval()
    cats, subs = [], []
    for i in range(0, len(x), batch_size):
        c, s = model(x[i:i + batch_size])
        cats.append(c.argmax(1))
        subs.append(s.argmax(1))
    return torch.cat(cats), torch.cat(subs)


def scores(model: EmojiNet, x: torch.Tensor, cat: torch.Tensor, sub: torch.Tensor) -> dict:
    """Held-out accuracy: category, category balanced (mean over categories present), subcategory, and the
    category accuracy of each category present (``category_accuracy_by_class``, keyed by its index)."""
    pc, ps = predict(model, x)
    hit = (pc == cat).float()
    per = {k: hit[cat == k].mean().item() for k in cat.unique().tolist()}
    return {"test_accuracy": hit.mean().item(), "balanced_accuracy": sum(per.values()) / len(per),
            "subcategory_accuracy": (ps == sub).float().mean().item(), "category_accuracy_by_class": per}


def fit(x, cat, sub, emoji, test, *, epochs: int = 12, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
        config: EmojiNetConfig = EmojiNetConfig(), log=lambda s: None):
    """Train on (x, category, subcategory); each epoch draws len(x) images with every emoji equally likely (an
    emoji's skin tones share its weight). ``test`` = (x, cat, sub) held out, scored after each epoch.
    Returns (model, held-out scores)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = EmojiNet(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    per_epoch = len(x) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch)
    weight = 1.0 / torch.bincount(emoji)[emoji].double()
    res = {}
    for ep in range(epochs):
        model.train()
        idx_all = torch.multinomial(weight, per_epoch * batch_size, replacement=True, generator=g)
        for i in range(per_epoch):
            idx = idx_all[i * batch_size:(i + 1) * batch_size]
            lc, ls = model(augment(x[idx], g))
            loss = (F.cross_entropy(lc, cat[idx], label_smoothing=0.05)
                    + F.cross_entropy(ls, sub[idx], label_smoothing=0.05))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        res = scores(model, *test)
        log(f"epoch {ep + 1}/{epochs} loss {loss.item():.4f} "
            + " ".join(f"{k} {v:.4f}" for k, v in res.items() if isinstance(v, float)))
    model.set_block_stats(x)
    return model.eval(), res
