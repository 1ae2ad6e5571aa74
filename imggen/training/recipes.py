"""Named recipes: a family, its data, model config and TrainConfig settings as data, run by
``python -m imggen train --recipe NAME`` (flags given as well override the recipe's values).

Two kinds: the Train tab's presets (``quick-FAMILY``, ``quality-FAMILY``: what the tab fills in for a new model
on MNIST 5k) and the phase recipes the shipped checkpoints were trained with (``dcgan-mnist`` ...; the scripts in
scripts/ run them time-boxed, and each card lists the exact command of every phase).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from .. import families

PRESETS = families.PRESETS
TAB_MAX_IMAGES = 4500  # the tab's default number of training images


@dataclass(frozen=True)
class Recipe:
    family: str
    about: str  # one line: what it is for
    data: str = "mnist5k"  # a built-in data set or a folder/zip
    limit: int | None = None  # training images used (None: all)
    model: dict = field(default_factory=dict)  # model config overrides
    train: dict = field(default_factory=dict)  # TrainConfig settings
    by_style: bool = False  # emoji: one class per (category, style) pair (ImageData.by_style)

    def labelled(self, data):
        """``data`` labelled as this recipe trains on it: by category and style where ``by_style``."""
        return data.by_style() if self.by_style else data


_GAN_28 = {"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "nearest", "use_spectral_norm": True}
_GAN_TRAIN = {"loss": "hinge", "lr": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "use_ema": True, "ema_decay": 0.999,
              "epochs": 50, "time_limit_s": 3300.0, "eval_samples": 1000}
_AE_TRAIN = {"epochs": 1000, "lr": 1e-3, "betas": (0.9, 0.999), "loss": "bce", "use_ema": False, "eval_samples": 1000}

SHIPPED = {  # the phase recipes of the shipped models (scripts/train_gan.py, scripts/train_vae.py)
    "dcgan-mnist": Recipe("dcgan", "DCGAN on full MNIST: nearest+conv G, spectral-norm D, hinge, EMA (55 min)",
                          "mnist", model=_GAN_28, train=_GAN_TRAIN),
    "cgan-mnist": Recipe("cgan", "class-conditional GAN on full MNIST, the DCGAN recipe with labels (55 min)",
                         "mnist", model={**_GAN_28, "num_classes": 10}, train=_GAN_TRAIN),
    "ae-mnist": Recipe("ae", "autoencoder, 16-d codes, full MNIST", "mnist", model={"latent_dim": 16},
                       train={**_AE_TRAIN, "batch_size": 128}),
    "vae-mnist": Recipe("vae", "VAE, 32-d latent, full MNIST", "mnist", model={"latent_dim": 32},
                        train={**_AE_TRAIN, "batch_size": 128}),
    "cvae-mnist": Recipe("cvae", "conditional VAE, 32-d latent, full MNIST", "mnist", model={"latent_dim": 32},
                         train={**_AE_TRAIN, "batch_size": 128}),
    "vaegan-mnist": Recipe("vaegan", "VAE-GAN, 32-d latent, full MNIST", "mnist", model={"latent_dim": 32},
                           train={**_AE_TRAIN, "batch_size": 64}),
    "vae2d-mnist": Recipe("vae", "VAE with a 2-d latent (a plane to explore), full MNIST", "mnist",
                          model={"latent_dim": 2}, train={**_AE_TRAIN, "batch_size": 128}),
    "latentarf-mnist": Recipe("latentarf", "latent forest: ARF rounds on ae-mnist's codes of full MNIST, 5 trees "
                              "x 4000 leaves, truncated-normal leaves (bench/arf.py)", "mnist",
                              model={"source": "ae-mnist", "trees": 5, "max_leaves": 4000, "min_leaf": 3},
                              train={"epochs": 2, "eval_samples": 1000}),
    # issue 30, scripts/train_stylegan.py: StyleGAN2's non-saturating loss, lazy R1 (small gamma for 28 px) and Adam
    # betas (0, 0.99), D without spectral norm, 2 mapping layers (side by side: docs/lab-notes.md)
    "stylegan-mnist": Recipe("stylegan", "StyleGAN on full MNIST: non-saturating loss, lazy R1 0.1, Adam (0, 0.99), "
                             "D without spectral norm, 2 mapping layers, style mixing 0.5, EMA", "mnist",
                             model={"mapping_layers": 2, "use_spectral_norm": False, "style_mixing": 0.5},
                             train={"loss": "bce", "r1_gamma": 0.1, "lr": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.99),
                                    "use_ema": True, "ema_decay": 0.999, "epochs": 100, "time_limit_s": 3300.0,
                                    "eval_samples": 1000}),
    # colour (issue 27), scripts/train_emoji.py: emoji32 is 6,820 train images, 32 px RGB on white, 10 categories
    "cgan-emoji32": Recipe("cgan", "class-conditional GAN on emoji32 categories with DiffAugment (colour, translation, "
                           "cutout) for small data; compact for 1 CPU thread (80 min)", "emoji32",
                           model={"latent_dim": 128, "g_width": 32, "d_width": 32, "upsample": "nearest",
                                  "use_spectral_norm": True, "num_classes": 10},
                           train={**_GAN_TRAIN, "augment": "color,translation,cutout", "epochs": 500,
                                  "time_limit_s": 4800.0, "eval_samples": 500}),
    # the style picker (issue 27): warm-started from cgan-emoji32, each category split into its two styles
    "cgan-emoji32-style": Recipe("cgan", "class-conditional GAN on emoji32 category and style (Noto / Twemoji) with "
                                 "DiffAugment; warm-started from cgan-emoji32 (CGAN.split_classes)", "emoji32",
                                 model={"latent_dim": 128, "g_width": 32, "d_width": 32, "upsample": "nearest",
                                        "use_spectral_norm": True, "num_classes": 20},
                                 train={**_GAN_TRAIN, "augment": "color,translation,cutout", "epochs": 500,
                                        "time_limit_s": 4800.0, "eval_samples": 500}, by_style=True),
    "vae-emoji32": Recipe("vae", "colour VAE on emoji32, Gaussian decoder with a learned scale, spatial 16x8x8 "
                          "latent (reconstruction, interpolation, completion; an FC 256-d code stalled at 19.5 dB)",
                          "emoji32", model={"latent_dim": 1024, "latent_channels": 16, "hidden": 64,
                                            "decoder": "gaussian"},
                          train={**_AE_TRAIN, "batch_size": 64, "time_limit_s": 2700.0, "eval_samples": 500}),
    # text -> image (issue 28), scripts/train_dalle.py: tokenizer phase, then the transformer on emoji32 captions
    "dalle-emoji32": Recipe("dalle", "text -> image on emoji32 captions: VQ-VAE tokenizer (8x8 codes of 512, EMA "
                            "codebook) then a 6-layer 192-wide causal transformer over [words, codes] with caption "
                            "dropout for guidance, dropout 0.1 and weight decay 0.1", "emoji32",
                            model={"hidden": 32, "codes": 512, "code_dim": 32, "levels": 2, "text_len": 16,
                                   "n_layer": 6, "n_head": 6, "n_embd": 192, "caption_drop": 0.15, "dropout": 0.1,
                                   "weight_decay": 0.1},
                            train={"epochs": 1000, "batch_size": 32, "lr": 1e-3, "betas": (0.9, 0.99),
                                   "use_ema": False, "max_steps": 8000, "time_limit_s": 6000.0, "eval_samples": 0,
                                   "num_grid": 16}),
}


def _tab_families() -> list[str]:
    return [f.name for f in families.trainable().values()]


def model_overrides(family: str, latent_dim: int, width: int, spectral_norm: bool, depth: int = 0) -> dict:
    """The Train tab's model settings as the family config's fields (only those it has; width = every width)."""
    known = {f.name for f in fields(families.get(family).config)}
    want = {"latent_dim": latent_dim, "g_width": width, "d_width": width, "hidden": width, "d_hidden": width,
            "use_spectral_norm": spectral_norm, "blocks": depth, "n_embd": width}
    return {k: v for k, v in want.items() if k in known}


def preset(family: str, kind: str) -> Recipe:
    """The Train tab's preset ``kind`` ("quick" | "quality") for a new ``family`` model, in config terms."""
    if family not in _tab_families() or kind not in PRESETS:
        raise ValueError(f"no {kind!r} preset for {family!r}")
    v = families.preset_settings(family, kind)
    train = dict(epochs=v["epochs"], batch_size=v["batch_size"], lr=v["lr"], lr_d=v["lr_d"],
                 betas=(0.5, 0.999) if families.get(family).gan else (0.9, 0.999), loss=v["loss"], d_steps=1,
                 use_ema=v["ema"], use_augment=False, beta=1.0, eval_samples=500)
    return Recipe(family, f"the Train tab's {kind} preset", "mnist5k", TAB_MAX_IMAGES,
                  model_overrides(family, v["latent_dim"], v["width"], v["spectral_norm"]), train)


def names() -> list[str]:
    return [*SHIPPED, *(f"{kind}-{fam}" for kind in PRESETS for fam in _tab_families())]


def get(name: str) -> Recipe:
    """The recipe called ``name``; ValueError listing them otherwise."""
    if name in SHIPPED:
        return SHIPPED[name]
    kind, _, family = name.partition("-")
    if kind in PRESETS and family in _tab_families():
        return preset(family, kind)
    raise ValueError(f"unknown recipe {name!r}; known: {', '.join(names())}")
