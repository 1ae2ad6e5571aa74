"""A small DALL-E (Ramesh et al. 2021): text -> image as one token sequence. A VQ-VAE (imggen/models/vqvae.py)
turns a 32-px image into an 8x8 grid of codes; a decoder-only causal transformer (the pixel GPT's blocks, with
their key/value cache) reads [caption words, padded to ``text_len`` and closed by <sep>, then the image codes in
raster order] and learns p(code_t | caption, code_<t). Trained with the caption dropped for a share of the steps,
so one network is both p(image | caption) and p(image): sampling mixes the two by classifier-free guidance (Ho &
Salimans 2022), logits = uncond + scale * (cond - uncond).

The caption vocabulary is a plain word list built from the training captions (lowercase words; ``,`` ``:`` ``-``
``&`` split), stored in the config (so in the checkpoint's metadata); :func:`tokenize_prompt` returns a prompt's
ids and the words the model never saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import rand
from .clip import CaptionImageScore, check_score_config, fit_score
from .gpt import Block
from .prompt_fields import MAX_CLASSES
from .prompt_fields import SEP as FIELD_SEP
from .prompt_fields import FieldPredictor, class_lists, name_part, words  # noqa: F401  (words: part of this API)
from .ranking import best_in_runs, check_candidates
from .vqvae import VQTokenizer

SPECIALS = ("<pad>", "<unk>", "<sep>")  # ids 0, 1, 2; caption words follow
PAD, UNK, SEP = 0, 1, 2
STOP = frozenset({"a", "an", "the", "of", "with", "and", "in", "on"})  # prompt words ignored when not in the vocabulary
SYNONYMS = (  # word groups a training caption may swap within; every member joins the vocabulary
    ("face", "smiley", "emoji"), ("smiling", "happy", "smile"), ("frowning", "sad", "unhappy"),
    ("cat", "kitty"), ("dog", "puppy", "doggy"), ("heart", "love"), ("large", "big"), ("small", "little", "tiny"),
    ("vehicle", "car"), ("person", "human"), ("man", "guy"), ("woman", "lady"), ("red", "crimson"),
    ("grinning", "grin"), ("crying", "tears"), ("symbol", "sign"),
)
MAX_VOCAB = 8192
SAMPLE_CHUNK = 256  # sequences sampled at once (bounded key/value caches)
CANONICAL = {w: grp[0] for grp in SYNONYMS for w in grp}  # prompt expansion reads "kitty" as "cat"


def build_vocab(captions, min_count: int = 1) -> list[str]:
    """The caption vocabulary: words of ``captions`` seen at least ``min_count`` times, plus every synonym group
    member, sorted (specials not included: they are ids 0..2)."""
    counts: dict[str, int] = {}
    for c in captions:
        for w in words(c):
            counts[w] = counts.get(w, 0) + 1
    vocab = {w for w, n in counts.items() if n >= min_count} | {w for g in SYNONYMS for w in g}
    return sorted(vocab)


@dataclass
class DalleConfig:
    channels: int = 3
    image_size: int = 32
    # tokenizer (VQ-VAE with an EMA codebook)
    hidden: int = 32  # conv width (x2 at the code grid)
    codes: int = 512  # codebook entries = image vocabulary
    code_dim: int = 32
    levels: int = 2  # stride-2 steps: a 32-px image -> (32 / 2**levels)^2 codes
    commitment: float = 0.25
    codebook_decay: float = 0.99
    # transformer
    vocab: str = ""  # caption words, space-separated (ids from 3; "": built from the training captions)
    text_len: int = 16  # caption tokens (words, padding and the closing <sep>)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    caption_drop: float = 0.15  # training: share of captions replaced by the empty one (classifier-free guidance)
    weight_decay: float = 0.01  # training: AdamW decay of the transformer's matrices
    tokenizer_steps: int = 0  # training: steps on the tokenizer before the transformer's (0: half the planned run)
    # prompt expansion (imggen/models/prompt_fields.py): 0 buckets = none; class names "|"-separated
    field_buckets: int = 0
    categories: str = ""
    subcategories: str = ""
    # candidate ranking by a caption-image score (imggen/models/clip.py): 0 buckets = none (ranked by likelihood)
    score_buckets: int = 0
    score_dim: int = 64
    score_width: int = 32

    def __post_init__(self):
        if self.image_size % (2 ** self.levels) or self.image_size // 2 ** self.levels < 1:
            raise ValueError(f"text->image: image_size {self.image_size} must be divisible by 2**levels "
                             f"({2 ** self.levels})")
        if self.n_embd % self.n_head:
            raise ValueError(f"text->image: n_embd {self.n_embd} must be a multiple of n_head {self.n_head}")
        if self.text_len < 2:
            raise ValueError("text->image: text_len must be at least 2 (one word and <sep>)")
        if len(self.words) + len(SPECIALS) > MAX_VOCAB:
            raise ValueError(f"text->image: the caption vocabulary has {len(self.words):,} words; at most "
                             f"{MAX_VOCAB - len(SPECIALS):,}")
        if not 0 <= self.caption_drop <= 1:
            raise ValueError(f"caption_drop is a share in [0, 1], not {self.caption_drop}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"text->image: dropout is a share in [0, 1), not {self.dropout}")
        if self.weight_decay < 0:
            raise ValueError(f"text->image: weight_decay must be >= 0, not {self.weight_decay}")
        if self.field_buckets and not 64 <= self.field_buckets <= 65536:
            raise ValueError(f"text->image: field_buckets must be 0 (no prompt expansion) or in [64, 65536], not "
                             f"{self.field_buckets}")
        if self.field_buckets and not all(2 <= len(v) <= MAX_CLASSES for v in (self.category_names,
                                                                              self.subcategory_names)):
            raise ValueError(f"text->image: prompt expansion needs two to {MAX_CLASSES} category and subcategory "
                             "names")
        if self.score_buckets:
            check_score_config(self.score_buckets, self.score_dim, self.score_width, self.image_size)

    @property
    def category_names(self) -> list[str]:
        return [v for v in self.categories.split(FIELD_SEP) if v]

    @property
    def subcategory_names(self) -> list[str]:
        return [v for v in self.subcategories.split(FIELD_SEP) if v]

    @property
    def words(self) -> list[str]:
        return self.vocab.split()

    @property
    def text_vocab(self) -> int:
        return len(SPECIALS) + len(self.words)

    @property
    def grid(self) -> int:
        return self.image_size // 2 ** self.levels

    @property
    def num_image_tokens(self) -> int:
        return self.grid ** 2


def make_tokenizer(c: DalleConfig) -> VQTokenizer:
    return VQTokenizer(c.channels, c.hidden, c.codes, c.code_dim, c.levels, c.codebook_decay)


class Dalle(nn.Module):
    """Text -> image: a VQ-VAE tokenizer and a causal transformer over [caption words, image codes]; samples from
    a prompt with temperature, top-k and classifier-free guidance, re-ranks candidates by a caption-image score
    (or, without one, by how much the caption raised their likelihood), and completes masked regions token by
    token."""

    family = "dalle"

    def __init__(self, config: DalleConfig = DalleConfig()):
        super().__init__()
        self.config = c = config
        self.tokenizer = make_tokenizer(c)
        self.register_buffer("tokenizer_step", torch.zeros((), dtype=torch.long))  # tokenizer steps trained
        self.word_ids = {w: i + len(SPECIALS) for i, w in enumerate(c.words)}
        # one embedding table: caption ids, then image codes at offset text_vocab
        self.tok = nn.Embedding(c.text_vocab + c.codes, c.n_embd)
        self.pos = nn.Parameter(torch.zeros(c.text_len + c.num_image_tokens - 1, c.n_embd))
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.codes)
        self.fields = FieldPredictor(c.field_buckets, c.category_names, c.subcategory_names) \
            if c.field_buckets else None
        self.scorer = CaptionImageScore(c.score_buckets, c.score_dim, c.channels, c.score_width, c.image_size) \
            if c.score_buckets else None
        nn.init.normal_(self.pos, std=0.02)
        nn.init.normal_(self.tok.weight, std=0.02)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def set_vocab(self, vocab: list[str]) -> None:
        """Give an untrained model its caption vocabulary (resizes the embedding; the transformer starts anew)."""
        c = self.config
        c.vocab = " ".join(vocab)
        c.__post_init__()
        self.word_ids = {w: i + len(SPECIALS) for i, w in enumerate(c.words)}
        self.tok = nn.Embedding(c.text_vocab + c.codes, c.n_embd).to(self.device)
        nn.init.normal_(self.tok.weight, std=0.02)

    # ---- text ----------------------------------------------------------------------------------------------
    def fit_fields(self, captions, buckets: int = 4096) -> dict:
        """Fit prompt expansion to "name, category, subcategory, ..." training captions (replacing any fitted
        before); returns its training accuracies."""
        cats, subs = class_lists(captions)
        fields = FieldPredictor(buckets, cats, subs)  # checks the names before anything changes
        info = fields.fit(captions)
        c = self.config
        c.field_buckets, c.categories, c.subcategories = buckets, FIELD_SEP.join(cats), FIELD_SEP.join(subs)
        self.fields = fields.to(self.device)
        return info

    def fit_scorer(self, images: torch.Tensor, captions, *, steps: int = 1000, buckets: int = 4096, dim: int = 64,
                   width: int = 32, seed: int = 0, progress=None) -> dict:
        """Fit the caption-image score that ranks candidates (replacing any fitted before) to training images in
        [-1, 1] and their captions; see :func:`imggen.models.clip.fit_score`."""
        c = self.config
        with torch.random.fork_rng(devices=[]):  # fit_score initialises it from its seed: no global draws here
            scorer = CaptionImageScore(buckets, dim, c.channels, width, c.image_size)
        info = fit_score(scorer.to(self.device), images, captions, steps=steps, seed=seed, progress=progress)
        self.scorer, c.score_buckets, c.score_dim, c.score_width = scorer, buckets, dim, width
        return info

    def expand_prompt(self, prompt: str) -> str:
        """``prompt`` with the category and subcategory its name part (up to the first comma) most likely has
        inserted after that part, as the training captions put them ("dog face, twemoji" -> "dog face, animals &
        nature, animal-mammal, twemoji"); a field the rest of the prompt already gives (a category or subcategory
        name between commas) is left as given. Unchanged without prompt expansion, or when the name part has no
        word but stop words."""
        name = [w for w in words(name_part(prompt or "")) if w not in STOP]
        if self.fields is None or not name:
            return prompt
        have = {tuple(words(f)) for f in prompt.split(",")[1:]}  # fields the prompt already gives
        extra = [f for f, names in zip(self.fields.predict([" ".join(CANONICAL.get(w, w) for w in name)])[0],
                                       self.fields.name_words) if not have & names]
        if not extra:
            return prompt
        head, _, rest = prompt.partition(",")
        return ", ".join([head.strip(), *extra] + ([rest.strip()] if rest.strip() else []))

    def tokenize_prompt(self, prompt: str) -> tuple[list[int], list[str]]:
        """(caption ids of ``prompt``'s known words, its unknown words) — stop words ("a", "the", ...) the
        vocabulary lacks are dropped silently; words past ``text_len - 1`` are cut."""
        ids, unknown = [], []
        for w in words(prompt):
            if w in self.word_ids:
                ids.append(self.word_ids[w])
            elif w not in STOP:
                unknown.append(w)
                ids.append(UNK)
        return ids[:self.config.text_len - 1], unknown

    def text_ids(self, ids: list[int]) -> torch.Tensor:
        """Caption ids -> the fixed-length text part (text_len,): words, <pad>s, <sep>."""
        L = self.config.text_len
        ids = list(ids)[:L - 1]
        return torch.tensor(ids + [PAD] * (L - 1 - len(ids)) + [SEP], dtype=torch.long, device=self.device)

    def caption_ids(self, caption: str) -> list[int]:
        """A training caption's ids (unknown words as <unk>, nothing dropped)."""
        return [self.word_ids.get(w, UNK) for w in words(caption)]

    # ---- images <-> tokens ---------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [-1, 1] -> (B, grid^2) image codes."""
        return self.tokenizer.encode(x.to(self.device).float())

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, grid^2) image codes -> images in [-1, 1]."""
        return self.tokenizer.decode(tokens.to(self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] through the tokenizer's codes and back."""
        self.eval()
        return self.decode_tokens(self.encode_tokens(x))

    # ---- the transformer -----------------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, caches: list | None = None, pos0: int = 0) -> torch.Tensor:
        """Input ids (caption ids, then image codes + text_vocab) -> image-code logits at every position."""
        h = self.tok(ids) + self.pos[pos0:pos0 + ids.shape[1]]
        for i, blk in enumerate(self.blocks):
            h = blk(h, None if caches is None else caches[i])
        return self.head(self.ln(h))

    def loss(self, text: torch.Tensor, tokens: torch.Tensor) -> dict:
        """Mean negative log-likelihood per image code (nats) of ``tokens`` (B, T) given ``text`` (B, text_len)."""
        L = self.config.text_len
        ids = torch.cat([text, tokens[:, :-1] + self.config.text_vocab], 1)
        logits = self(ids)[:, L - 1:]
        return {"nll": F.cross_entropy(logits.flatten(0, 1).float(), tokens.flatten())}

    # ---- sampling ------------------------------------------------------------------------------------------
    def _texts(self, prompt, n: int, expand: bool = False) -> tuple[torch.Tensor, list[str], list[str]]:
        """(n, text_len) text parts for a prompt (one for all, or a list cycled over the n; each expanded by
        :meth:`expand_prompt` if ``expand``), unknown words, and the n texts as read."""
        prompts = [prompt] if prompt is None or isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise ValueError("prompt: give a text, or a list of texts")
        rows, unknown, read = [], [], []
        for p in prompts:
            if p is not None and not isinstance(p, str):
                raise ValueError(f"prompt must be text, not {type(p).__name__}")
            read.append(self.expand_prompt(p) if expand and p else p or "")
            ids, unk = self.tokenize_prompt(read[-1])
            rows.append(self.text_ids(ids))
            unknown += [w for w in unk if w not in unknown]
        text, cycles = torch.stack(rows), -(-n // len(rows))
        return text.repeat(cycles, 1)[:n], unknown, (read * cycles)[:n]

    @staticmethod
    def _filter(logits: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
        logits = logits.float() / temperature
        if 0 < top_k < logits.shape[-1]:
            kth = logits.topk(top_k, -1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, -math.inf)
        return logits

    @staticmethod
    def _draw(logits: torch.Tensor, generator) -> torch.Tensor:
        """One code per row from softmax(logits) by inverse CDF on the generator's uniforms (same seed, same
        image on any device)."""
        u = rand(len(logits), 1, generator=generator, device=logits.device)
        cdf = logits.softmax(-1).cumsum(-1)
        return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=logits.shape[-1] - 1).squeeze(1)

    @torch.no_grad()
    def generate_tokens(self, text: torch.Tensor, generator=None, *, temperature: float = 1.0, top_k: int = 0,
                        guidance: float = 1.0, known: torch.Tensor | None = None,
                        known_mask: torch.Tensor | None = None, use_cache: bool = True
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image codes (n, grid^2) drawn for ``text`` (n, text_len), code by code; ``known`` / ``known_mask``
        (n, grid^2) force the codes where the mask is True (in-painting). With ``guidance`` != 1 the empty
        caption runs beside (classifier-free guidance). ``use_cache=False`` recomputes the whole prefix at every
        step (the reference the key/value cache must equal). Returns (codes, score): score = sum over drawn codes
        of log p(code | caption) - log p(code | no caption), the caption's pointwise mutual information with the
        image (0 without guidance)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, not {temperature}")
        if not (isinstance(top_k, int) and top_k >= 0):
            raise ValueError(f"top_k must be a whole number >= 0 (0 = off), not {top_k!r}")
        if not math.isfinite(guidance) or guidance < 0:
            raise ValueError(f"guidance must be a number >= 0 (1 = plain conditional), not {guidance}")
        self.eval()
        c, n = self.config, len(text)
        paired = guidance != 1
        if paired:
            empty = self.text_ids([]).expand(n, -1)
            text = torch.cat([text, empty])
        caches = [{} for _ in self.blocks] if use_cache else None
        seq = text
        logits = self(seq, caches, 0)[:, -1]
        out, score = [], torch.zeros(n, device=self.device)
        T = c.num_image_tokens
        for t in range(T):
            if paired:
                cond, unc = logits[:n].float(), logits[n:].float()
                score_parts = (cond.log_softmax(-1), unc.log_softmax(-1))
                lg = unc + guidance * (cond - unc)
            else:
                lg, score_parts = logits.float(), None
            tok = self._draw(self._filter(lg, temperature, top_k), generator)
            if known is not None:
                tok = torch.where(known_mask[:, t], known[:, t], tok)
            if score_parts is not None:
                score += (score_parts[0] - score_parts[1]).gather(1, tok[:, None]).squeeze(1)
            out.append(tok)
            if t + 1 == T:
                break
            step = (tok.repeat(2) if paired else tok).view(-1, 1) + c.text_vocab
            if use_cache:
                logits = self(step, caches, c.text_len + t)[:, -1]
            else:
                seq = torch.cat([seq, step], 1)
                logits = self(seq)[:, -1]
        return torch.stack(out, 1), score

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, prompt=None, temperature: float = 1.0,
               top_k: int = 0, guidance: float = 3.0, candidates: int = 1, use_cache: bool = True,
               expand: bool = True) -> torch.Tensor:
        """(n, C, H, W) images in [-1, 1] for ``prompt`` (a text, or a list of texts cycled over the n; None or
        "": unconditional). ``temperature`` divides the logits; ``top_k`` > 0 keeps the k likeliest codes;
        ``guidance`` is the classifier-free guidance scale (1: plain p(image | caption), 0: ignore the caption,
        > 1: follow it more); ``candidates`` > 1 draws that many images per output and keeps the one the caption-
        image score rates highest with the prompt as read (a model without one: the one the caption explains best,
        highest log p(image | caption) - log p(image)); ``expand`` fills in the caption fields a
        short prompt lacks (:meth:`expand_prompt`; no effect on a model without prompt expansion). Unknown words
        become <unk>: see :meth:`tokenize_prompt` to list them."""
        c = self.config
        check_candidates(candidates)
        if n == 0:
            return torch.zeros(0, c.channels, c.image_size, c.image_size, device=self.device)
        text, _, read = self._texts(prompt, n, expand)
        if not (prompt if isinstance(prompt, str) else prompt is not None and any(prompt)):
            guidance, candidates = 1.0, 1  # nothing to guide by or rank on
        text = text.repeat_interleave(candidates, 0)
        toks, scores = [], []
        for chunk in text.split(SAMPLE_CHUNK):
            t, s = self.generate_tokens(chunk, generator, temperature=temperature, top_k=top_k, guidance=guidance,
                                        use_cache=use_cache)
            toks.append(t), scores.append(s)
        tok, score = torch.cat(toks), torch.cat(scores)
        if candidates == 1:
            return self.decode_tokens(tok)
        if self.scorer is None:
            return self.decode_tokens(tok[best_in_runs(score, candidates)])
        x = torch.cat([self.decode_tokens(t) for t in tok.split(SAMPLE_CHUNK)])
        texts = [t for t in read for _ in range(candidates)]
        score = torch.cat([self.scorer.score(xs, texts[i:i + SAMPLE_CHUNK])
                           for i, xs in zip(range(0, len(x), SAMPLE_CHUNK), x.split(SAMPLE_CHUNK))])
        return x[best_in_runs(score, candidates)]

    def token_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Pixel mask (B, 1|C, H, W), 1 = missing -> (B, grid^2) True where a code must be redrawn (any of its
        pixels missing)."""
        m = mask.float().amax(1, keepdim=True)
        return (F.adaptive_max_pool2d(m, self.config.grid) > 0.5).flatten(1)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, n: int = 4, *, generator: torch.Generator | None = None,
                 prompt=None, temperature: float = 1.0, top_k: int = 0, guidance: float = 3.0,
                 expand: bool = True) -> torch.Tensor:
        """Token in-painting: x (B, C, H, W) in [-1, 1], mask (B, 1|C, H, W) with 1 = missing. Each image is
        encoded to codes; the codes touching a missing pixel are redrawn in raster order (the others forced),
        ``n`` times per image, optionally guided by ``prompt`` (expanded as in :meth:`sample`); the known pixels
        are returned as given.
        Returns (B, n, C, H, W)."""
        c = self.config
        if x.dim() != 4 or x.shape[1] != c.channels or x.shape[-1] != c.image_size or x.shape[-2] != c.image_size:
            raise ValueError(f"complete: images must be (B, {c.channels}, {c.image_size}, {c.image_size}), not "
                             f"{tuple(x.shape)}")
        if mask.dim() != 4 or mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"complete: mask must be (B, 1, H, W) like the images, not {tuple(mask.shape)}")
        x, mask = x.to(self.device).float(), mask.to(self.device)
        B = len(x)
        known = self.encode_tokens(x).repeat_interleave(n, 0)
        redraw = self.token_mask(mask).repeat_interleave(n, 0)
        text, _, _ = self._texts(prompt, 1, expand)
        if not prompt:
            guidance = 1.0
        tok, _ = self.generate_tokens(text.expand(B * n, -1), generator, temperature=temperature, top_k=top_k,
                                      guidance=guidance, known=known, known_mask=~redraw)
        drawn = self.decode_tokens(tok).view(B, n, *x.shape[1:])
        m = mask.float().expand_as(x).unsqueeze(1)
        return x.unsqueeze(1) * (1 - m) + drawn * m
