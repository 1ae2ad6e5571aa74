"""A small MNIST CNN: the project's own digit classifier, whose features drive every digit metric."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ClassifierConfig:
    channels: int = 32  # width of the first conv block (doubled in the second)
    feature_dim: int = 128  # penultimate features used for FD / precision-recall
    num_classes: int = 10
    dropout: float = 0.3


class DigitClassifier(nn.Module):
    """Digit classifier behind classifier-FD, coverage, confident fraction and precision / recall."""

    family = "classifier"

    def __init__(self, config: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.config = c = config
        w = c.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),  # 14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),  # 7
            nn.Flatten(), nn.Linear(2 * w * 49, c.feature_dim), nn.BatchNorm1d(c.feature_dim), nn.ReLU(),
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.feature_dim, c.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [-1, 1] -> (B, feature_dim)."""
        if x.shape[-1] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        if x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small random affine jitter (±10°, ±2 px, 0.9-1.1 scale) so the classifier reads real drawings too."""
    B = x.shape[0]
    ang = (torch.rand(B, generator=generator) - 0.5) * 2 * 0.1745
    sc = 1 + (torch.rand(B, generator=generator) - 0.5) * 0.2
    t = (torch.rand(B, 2, generator=generator) - 0.5) * 2 * (2 / 14)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def fit(train_x, train_y, test_x, test_y, *, epochs: int = 4, batch_size: int = 128, lr: float = 2e-3,
        seed: int = 0, config: ClassifierConfig = ClassifierConfig(), log=lambda s: None):
    """Train the classifier (AdamW + one-cycle, light augmentation); returns (model, test accuracy)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = DigitClassifier(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(train_x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(train_x), generator=g)
        for i in range(len(train_x) // batch_size):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            x = augment(train_x[idx], g)
            loss = F.cross_entropy(model(x), train_y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, test_x, test_y)
        log(f"epoch {ep + 1}/{epochs} loss {loss.item():.4f} test acc {acc:.4f}")
    return model, acc


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    return correct / len(x)
