"""A caption-image score for re-ranking text -> image candidates, CLIP-style (Radford et al. 2021; DALL-E re-ranked
its samples with CLIP), small: a text encoder (hashed word and character n-gram features as in prompt expansion, one
linear map) and a three-stage image CNN embed both sides in one space, trained contrastively (symmetric InfoNCE) on
the training images and captions -- each caption field after the name dropped at 50 %, so a short prompt matches
too, and images shifted by up to 2 px. The score of an (image, text) pair is the cosine of their embeddings."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .prompt_fields import hashed_counts, idf, tfidf


def check_score_config(buckets: int, dim: int, width: int, image_size: int = 32) -> None:
    if not 64 <= buckets <= 65536 or not 8 <= dim <= 512 or not 8 <= width <= 256 or width % 8 or image_size % 8:
        raise ValueError(f"caption score: buckets in [64, 65536], dim in [8, 512], width a multiple of 8 in "
                         f"[8, 256] and images a multiple of 8 px; not {buckets}, {dim}, {width}, {image_size}")


class CaptionImageScore(nn.Module):
    """Cosine similarity of a text's and an image's ``dim``-d embeddings; images (B, C, 32, 32) in [-1, 1]."""

    def __init__(self, buckets: int, dim: int = 64, channels: int = 3, width: int = 32, image_size: int = 32):
        super().__init__()
        check_score_config(buckets, dim, width, image_size)
        self.buckets = buckets
        self.register_buffer("idf", torch.ones(buckets))
        self.text = nn.Linear(buckets, dim)
        w, layers, c = width, [], channels
        for k in range(3):  # 32 -> 16 -> 8 -> 4 px
            layers += [nn.Conv2d(c, w << k, 3, padding=1), nn.GroupNorm(8, w << k), nn.SiLU(), nn.MaxPool2d(2)]
            c = w << k
        self.image = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * (image_size // 8) ** 2, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def embed_text(self, texts) -> torch.Tensor:
        return F.normalize(self.text(tfidf(texts, self.buckets, self.idf)), dim=1)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x.float()), dim=1)

    @torch.no_grad()
    def score(self, images: torch.Tensor, texts) -> torch.Tensor:
        """(B,) cosine of each image with its text (one text per image)."""
        self.eval()
        return (self.embed_image(images.to(self.idf.device)) * self.embed_text(texts)).sum(1)

    def loss(self, images: torch.Tensor, texts) -> torch.Tensor:
        """Symmetric InfoNCE over a batch of matching (image, text) pairs."""
        logits = self.logit_scale.exp().clamp(max=100) * self.embed_image(images) @ self.embed_text(texts).T
        target = torch.arange(len(images), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def drop_fields(caption: str, generator: torch.Generator, keep: float = 0.5) -> str:
    """``caption`` with each field after the name kept with probability ``keep``."""
    name, *rest = caption.split(",")
    return ", ".join([name.strip()] + [f.strip() for f in rest if torch.rand((), generator=generator) < keep])


def fit_score(scorer: CaptionImageScore, images: torch.Tensor, captions, *, steps: int = 1000,
              batch_size: int = 256, lr: float = 2e-3, seed: int = 0, progress=None) -> dict:
    """Train ``scorer`` from a fresh start on matching images ([-1, 1]) and captions; ``progress(step, steps,
    loss)`` every 50 steps. Seeded by its own generator (the global RNG is left as it was). Returns the last batch
    loss and top-1 retrieval within a batch of training pairs."""
    if len(images) != len(captions) or len(images) < 2:
        raise ValueError("caption score: give one caption per image, at least 2")
    if not 1 <= steps <= 100_000:
        raise ValueError(f"caption score: steps in [1, 100000], not {steps}")
    g = torch.Generator().manual_seed(seed)
    dev = scorer.idf.device
    scorer.cpu()  # initialised on the CPU from the seed: the same weights on any device
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU generator only (restored on leaving)
        for m in scorer.modules():
            if m is not scorer and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        scorer.logit_scale.fill_(math.log(10.0))
        scorer.idf.copy_(idf(hashed_counts(list(captions), scorer.buckets)))
    scorer.to(dev)
    opt = torch.optim.AdamW(scorer.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    scorer.train()
    b = min(batch_size, len(images))
    for step in range(1, steps + 1):
        idx = torch.randperm(len(images), generator=g)[:b]
        x = F.pad(images[idx].float(), (2, 2, 2, 2), value=1.0)  # white margin (the emoji's background)
        dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()
        x = x[..., dy:dy + images.shape[-2], dx:dx + images.shape[-1]].to(dev)
        loss = scorer.loss(x, [drop_fields(captions[i], g) for i in idx.tolist()])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step % 50 == 0 or step == steps):
            progress(step, steps, loss.item())
    scorer.eval()
    with torch.no_grad():
        idx = torch.randperm(len(images), generator=g)[:b]
        sim = scorer.embed_image(images[idx].to(dev)) @ scorer.embed_text([captions[i] for i in idx.tolist()]).T
        top1 = (sim.argmax(1).cpu() == torch.arange(b)).float().mean().item()
    return {"score_loss": loss.item(), "score_train_top1": top1}
