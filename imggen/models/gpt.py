"""An autoregressive pixel transformer ("GPT-based" generator; Chen et al. 2020, "Generative pretraining from
pixels", with the nanoGPT block): images are quantized to a few intensity levels, cut into patch x patch blocks
(one token each, in raster order), and a causal transformer predicts every token from the ones before it:

    log p(x) = sum_t log p(token_t | token_<t)        (exact, one forward pass)

With labels the sequence starts with the class (the model also learns p(class)), so ``sample(labels=...)`` is
label -> image and the unconditional likelihood sums the classes out exactly: p(x) = sum_y p(y) p(x | y).
Inpainting samples the missing tokens in raster order with the known pixels forced and re-weights the draws by
how well they predict the known pixels that follow (sequential importance resampling: exact in the limit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..convert import from01, to01
from ..device import multinomial, rand

MAX_TOKENS = 1024  # sequence length the positional table and attention are sized for
MAX_VOCAB = 4096
SAMPLE_CHUNK = 500  # sequences sampled at once (a 4-layer, 128-wide cache of 500 x 197 tokens is ~400 MB)


@dataclass
class PixelGPTConfig:
    channels: int = 1
    image_size: int = 28
    levels: int = 2  # intensity levels per channel (2 = binarized, the classic exact-likelihood benchmark)
    patch: int = 2  # a token is a patch x patch block of quantized pixels (vocabulary levels ** (C patch^2))
    num_classes: int = 0  # > 0: the class is the first token (label -> image)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0

    def __post_init__(self):
        if self.levels < 2 or self.patch < 1 or self.image_size % self.patch:
            raise ValueError(f"pixel GPT: levels >= 2 and a patch dividing the image size are needed "
                             f"(levels {self.levels}, patch {self.patch}, image {self.image_size})")
        if self.vocab > MAX_VOCAB:
            raise ValueError(f"pixel GPT: {self.levels} levels x {self.channels} channels x {self.patch}x{self.patch}"
                             f" patches make {self.vocab:,} tokens; at most {MAX_VOCAB:,} (fewer levels or a smaller "
                             "patch)")
        if self.num_tokens > MAX_TOKENS:
            raise ValueError(f"pixel GPT: a {self.image_size}px image in {self.patch}x{self.patch} patches is "
                             f"{self.num_tokens:,} tokens; at most {MAX_TOKENS} (a larger patch or smaller images)")
        if self.n_embd % self.n_head:
            raise ValueError(f"pixel GPT: n_embd {self.n_embd} must be a multiple of n_head {self.n_head}: the "
                             f"embedding is split over the attention heads (use a multiple of {self.n_head}, e.g. "
                             f"{16 * self.n_head} or {32 * self.n_head})")

    @property
    def vocab(self) -> int:
        return self.levels ** (self.channels * self.patch ** 2)

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2


class Block(nn.Module):
    """Pre-norm transformer block; ``cache`` (a dict) keeps keys / values for token-by-token sampling."""

    def __init__(self, c: PixelGPTConfig):
        super().__init__()
        self.n_head, self.dropout = c.n_head, c.dropout
        self.ln1, self.ln2 = nn.LayerNorm(c.n_embd), nn.LayerNorm(c.n_embd)
        self.qkv, self.proj = nn.Linear(c.n_embd, 3 * c.n_embd), nn.Linear(c.n_embd, c.n_embd)
        self.mlp = nn.Sequential(nn.Linear(c.n_embd, 4 * c.n_embd), nn.GELU(), nn.Linear(4 * c.n_embd, c.n_embd),
                                 nn.Dropout(c.dropout))

    def forward(self, h: torch.Tensor, cache: dict | None = None) -> torch.Tensor:
        B, T, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, T, 3, self.n_head, D // self.n_head).permute(2, 0, 3, 1, 4)
        if cache is not None and "k" in cache:  # one new token attends to everything before it
            k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
        if cache is not None:
            cache["k"], cache["v"] = k, v
        a = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        h = h + self.proj(a.transpose(1, 2).reshape(B, T, D))
        return h + self.mlp(self.ln2(h))


class PixelGPT(nn.Module):
    """Autoregressive pixel transformer: quantized pixel patches as tokens, an exact likelihood, label -> image
    sampling, and inpainting by importance-resampled token-by-token draws."""

    family = "pixelgpt"

    def __init__(self, config: PixelGPTConfig = PixelGPTConfig()):
        super().__init__()
        self.config = c = config
        self.start = c.vocab + c.num_classes  # input ids: pixel tokens, then class tokens, then the start token
        self.tok = nn.Embedding(c.vocab + c.num_classes + 1, c.n_embd)
        self.pos = nn.Parameter(torch.zeros(c.num_tokens + (c.num_classes > 0), c.n_embd))
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab + c.num_classes)
        nn.init.normal_(self.pos, std=0.02)
        # the base-`levels` digits of every token, for decoding and for matching partly known patches
        powers = c.levels ** torch.arange(c.channels * c.patch ** 2)
        self.register_buffer("digits", (torch.arange(c.vocab)[:, None] // powers) % c.levels, persistent=False)
        self.register_buffer("powers", powers, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def num_pixels(self) -> int:
        return self.config.channels * self.config.image_size ** 2

    # ---- images <-> tokens ------------------------------------------------------------------------------------
    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> integer levels (B, C, H, W) (levels 2: on where (x + 1) / 2 >= 0.5)."""
        L = self.config.levels
        return (to01(x) * L).floor().clamp(0, L - 1).long()

    def _patches(self, q: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, T, C p p): each patch's values, tokens in raster order."""
        p = self.config.patch
        return F.unfold(q.float(), p, stride=p).transpose(1, 2).round().long()

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> (B, T) token ids."""
        return (self._patches(self.quantize(x)) * self.powers).sum(-1)

    def images(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> images in [-1, 1]: level q at q / (levels - 1) of the range (2 levels: black, white)."""
        c = self.config
        vals = self.digits[tokens].float().transpose(1, 2)  # (B, C p p, T)
        q = F.fold(vals, c.image_size, c.patch, stride=c.patch)
        return from01(q / (c.levels - 1))

    # ---- the network ------------------------------------------------------------------------------------------
    def _inputs(self, tokens: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Teacher-forcing input ids: start, [class], tokens[:-1]."""
        B = len(tokens)
        parts = [tokens.new_full((B, 1), self.start)]
        if self.config.num_classes:
            parts.append(self.config.vocab + labels.view(B, 1))
        return torch.cat(parts + [tokens[:, :-1]], 1)

    def forward(self, ids: torch.Tensor, caches: list | None = None, pos0: int = 0) -> torch.Tensor:
        h = self.tok(ids) + self.pos[pos0:pos0 + ids.shape[1]]
        for i, blk in enumerate(self.blocks):
            h = blk(h, None if caches is None else caches[i])
        return self.head(self.ln(h))

    def _split(self, logits: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Output logits -> (class logits at the first position or None, pixel-token logits per token)."""
        c = self.config
        if not c.num_classes:
            return None, logits[..., :c.vocab]
        return logits[:, 0, c.vocab:], logits[:, 1:, :c.vocab]

    def _labels(self, labels, n: int) -> torch.Tensor | None:
        if labels is None or not self.config.num_classes:
            if labels is not None and not self.config.num_classes:
                raise ValueError("this pixel GPT was trained without classes; sample without labels")
            return None
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.device).view(-1)
        if not len(labels) or labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise ValueError(f"labels: class indices in 0..{self.config.num_classes - 1}")
        return labels.repeat(-(-n // len(labels)))[:n]  # cycled, like the GANs' labels

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        """Mean negative log-likelihood per image in nats (pixels, and the class when conditional)."""
        tok = self.tokens(x)
        y = labels if self.config.num_classes else None
        cls, logits = self._split(self(self._inputs(tok, y)))
        nll = F.cross_entropy(logits.flatten(0, 1), tok.flatten(), reduction="none").view(len(x), -1).sum(1)
        out = {"nll": nll.mean()}
        if cls is not None:
            out["class_nll"] = F.cross_entropy(cls, labels)
        return out

    # ---- likelihood -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, k: int | None = None, generator: torch.Generator | None = None, *,
                       labels=None, batch_size: int = 256) -> torch.Tensor:
        """(B,) exact log p(quantized x) in nats for images in [-1, 1]; with ``labels``, log p(x | label); a
        conditional model otherwise sums the classes out (``k`` / ``generator`` are the VAEs' importance-sampling
        arguments, accepted so every likelihood model scores alike; nothing is sampled here)."""
        x = x.to(self.device)
        if len(x) > batch_size:
            return torch.cat([self.log_likelihood(b, labels=None if labels is None else labels[i:i + batch_size],
                                                  batch_size=batch_size)
                              for i, b in zip(range(0, len(x), batch_size), x.split(batch_size))])
        tok, K, B = self.tokens(x), self.config.num_classes, len(x)
        if not K:
            return self._token_ll(tok, None)
        if labels is not None:
            y = self._labels(labels, B)
            return self._token_ll(tok, y) + self._class_log_prior()[y]
        ys = torch.arange(K, device=self.device).repeat_interleave(B)
        ll = self._token_ll(tok.repeat(K, 1), ys).view(K, B) + self._class_log_prior()[:, None]
        return ll.logsumexp(0)

    def _token_ll(self, tok: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        _, logits = self._split(self(self._inputs(tok, y)))
        return logits.float().log_softmax(-1).gather(-1, tok[..., None]).squeeze(-1).sum(1)

    def _class_log_prior(self) -> torch.Tensor:
        start = torch.full((1, 1), self.start, device=self.device)
        return self(start)[0, 0, self.config.vocab:].float().log_softmax(-1)

    def eval_metrics(self, images: torch.Tensor, iwae_images: int | None = 1000) -> dict:
        """Held-out exact likelihood (nats per image, bits per pixel) of the first ``iwae_images`` test images
        (all when None; the VAEs' budget name, so ``imggen eval`` treats every likelihood model alike)."""
        x = images if iwae_images is None else images[:iwae_images]
        nll = -self.log_likelihood(x).mean().item()
        return {"nll_nats": nll, "bits_per_dim": nll / (math.log(2) * self.num_pixels), "nll_images": len(x)}

    # ---- sampling ---------------------------------------------------------------------------------------------
    def _draw(self, logits: torch.Tensor, generator, allowed: torch.Tensor | None = None):
        """One token per row from softmax(logits) (restricted to ``allowed``); also log of the mass allowed."""
        logp = logits.float().log_softmax(-1)
        mass = None
        if allowed is not None:
            logp = logp.masked_fill(~allowed, -math.inf)
            mass = logp.logsumexp(-1)
        # inverse-CDF draw with the CPU generator's uniforms: the same seed gives the same image on any device
        u = rand(len(logp), 1, generator=generator, device=logp.device)
        cdf = logp.softmax(-1).cumsum(-1)
        idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=logp.shape[-1] - 1).squeeze(1)
        return idx, mass

    @torch.no_grad()
    def _generate(self, n: int, generator, labels: torch.Tensor | None, truncation: float,
                  known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None):
        """Token-by-token sampling with a key/value cache. ``known`` / ``known_mask`` (n, T, C p p): patch values
        and which of them are given; draws are restricted to tokens matching them and each sequence is weighted by
        the probability the model gave the known values. The n sequences are particles of a particle filter: when
        the weights' effective sample size falls below n / 2 they are resampled by weight (with their caches), so
        a known region after a missing one (a top-half mask) steers the draws instead of leaving one heavy
        particle. Returns (tokens, log weight, labels)."""
        if not truncation > 0:
            raise ValueError(f"truncation must be > 0, not {truncation}")
        c, dev = self.config, self.device
        caches = [{} for _ in self.blocks]
        logw = torch.zeros(n, device=dev)
        ids = torch.full((n, 1), self.start, device=dev)
        logits = self(ids, caches, 0)[:, -1]
        pos = 1
        if c.num_classes:
            if labels is None:
                labels, _ = self._draw(logits[:, c.vocab:], generator)
            ids = (c.vocab + labels).view(n, 1)
            logits = self(ids, caches, pos)[:, -1]
            pos += 1
        out = []
        for t in range(c.num_tokens):
            lg = logits[:, :c.vocab] / truncation
            allowed = None
            if known is not None:
                m = known_mask[:, t]  # (n, C p p)
                allowed = ((self.digits[None] == known[:, t, None]) | ~m[:, None]).all(-1)  # (n, vocab)
            tok, mass = self._draw(lg, generator, allowed)
            out.append(tok)
            if mass is not None:
                logw += mass
                w = weights(logw)
                if 1 / w.pow(2).sum() < n / 2:  # effective sample size
                    idx = multinomial(w, n, generator, dev)
                    out = [o[idx] for o in out]
                    for cache in caches:
                        cache["k"], cache["v"] = cache["k"][idx], cache["v"][idx]
                    known, known_mask = known[idx], known_mask[idx]
                    labels = None if labels is None else labels[idx]
                    logw, tok = torch.zeros_like(logw), out[-1]
            if t + 1 < c.num_tokens:
                logits = self(tok.view(n, 1), caches, pos)[:, -1]
                pos += 1
        return torch.stack(out, 1), logw, labels

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, labels=None,
               truncation: float = 1.0) -> torch.Tensor:
        """(n, C, H, W) images in [-1, 1], token by token; ``labels`` (conditional models) picks the classes
        (one for all, or one each; by default drawn from the learned class frequencies); ``truncation`` < 1
        divides the logits (a temperature): cleaner, less varied images; 1 samples the model exactly."""
        self.eval()
        if n == 0:
            c = self.config
            return torch.zeros(0, c.channels, c.image_size, c.image_size, device=self.device)
        y = self._labels(labels, n)
        if n > SAMPLE_CHUNK:  # bounded key/value caches: chunk after chunk from the same generator
            return torch.cat([self.sample(len(i), generator=generator, truncation=truncation,
                                          labels=None if y is None else y[i])
                              for i in torch.arange(n, device=self.device).split(SAMPLE_CHUNK)])
        tok, _, _ = self._generate(n, generator, y, truncation)
        return self.images(tok)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 4, *, generator: torch.Generator | None = None,
                 truncation: float = 1.0, particles: int = 8, labels=None) -> torch.Tensor:
        """Inpainting: x (B, C, H, W) in [-1, 1], mask (B, 1|C, H, W) with 1 = missing. For each image
        ``particles`` x n sequences are drawn token by token with the known pixels forced, weighted by the
        probability the model gave the known pixels and resampled when the weights degenerate (:meth:`_generate`);
        n of them are kept by weight (without repeats). Known pixels are returned as given. Returns
        (B, n, C, H, W)."""
        self.eval()
        B, C = x.shape[:2]
        x, m = x.to(self.device), mask.to(self.device).float().expand_as(x)
        known = self._patches(self.quantize(x))  # (B, T, C p p)
        known_mask = self._patches((m < 0.5).long()).bool()
        M = n * max(1, particles)
        ys = None if labels is None else self._labels(labels, B)
        out = []
        for i in range(B):
            y = None if ys is None else ys[i:i + 1].expand(M)
            tok, logw, _ = self._generate(M, generator, y, truncation, known[i:i + 1].expand(M, -1, -1),
                                          known_mask[i:i + 1].expand(M, -1, -1))
            keep = multinomial_noreplace(weights(logw), n, generator, self.device)
            out.append(self.images(tok[keep]))
        drawn = torch.stack(out)  # (B, n, C, H, W)
        mm = m.unsqueeze(1)
        return x.unsqueeze(1) * (1 - mm) + drawn * mm


def weights(logw: torch.Tensor) -> torch.Tensor:
    """Normalised importance weights from log weights (uniform when every one is -inf)."""
    return logw.softmax(0) if torch.isfinite(logw).any() else torch.full_like(logw, 1 / len(logw))


def multinomial_noreplace(weights: torch.Tensor, n: int, generator, device) -> torch.Tensor:
    """n distinct indices drawn by ``weights`` (on the generator's device, like ``device.multinomial``)."""
    src = generator.device if generator is not None else device
    w = weights.float().to(src)
    w = torch.where(w > 0, w, w.new_tensor(1e-30))  # zero-weight rows still fill n when few are possible
    return torch.multinomial(w, min(n, len(w)), replacement=False, generator=generator).to(device)
