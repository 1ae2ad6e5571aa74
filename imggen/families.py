"""The model families: one entry each, the only place a family is described (diffusers' mapping tables).

Every other module reads :data:`FAMILIES`: the registry builds and loads models from it, the training loop finds
the trainer here, the Train tab its label, presets and plots, the Sample tab its sampler settings and truncation
note, Complete its "auto" method, the Models tab and the model cards its text and the training settings it ignores.
Adding a family = one model file under ``imggen/models/`` (a config dataclass and an ``nn.Module`` with ``sample``),
a trainer (``imggen/training/trainers.py``, or an existing one) and one :class:`Family` entry below.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from .losses import GAN_TRAIN_KEYS
from .models.arf import ARF, ARFConfig
from .models.classifier import ClassifierConfig, DigitClassifier
from .models.dalle import Dalle, DalleConfig
from .models.gan import CGAN, DCGAN, CGANConfig, DCGANConfig
from .models.gpt import PixelGPT, PixelGPTConfig
from .models.latent_arf import LatentARF, LatentARFConfig
from .models.stylegan import StyleGAN, StyleGANConfig
from .models.vae import AE, CVAE, VAE, VAEGAN, AEConfig, CVAEConfig, VAEConfig, VAEGANConfig
from .training.trainers import (AETrainer, ARFTrainer, DalleTrainer, GANTrainer, LatentARFTrainer,
                                PixelGPTTrainer, VAEGANTrainer, VAETrainer)

SAMPLER_DEFAULTS = {"truncation": 1.0, "keep": 1.0, "refine_steps": 0,  # optional sampler settings: plain values
                    "candidates": 1}
TRUNCATION_INFO = "latent entries beyond ±2×truncation are redrawn: lower = cleaner, less varied"
PRESETS = ("quick", "quality")  # the Train tab's presets (imggen.training.recipes.preset_settings)


@dataclass(frozen=True)
class Plots:
    """The Train tab's two live plots: loss series, second-plot series (none: hidden) and its title."""
    losses: tuple[str, ...]
    aux: tuple[str, ...] = ()
    aux_title: str = "-"


@dataclass(frozen=True)
class Family:
    name: str  # the family's key in checkpoint metadata ("dcgan")
    config: type  # its config dataclass
    model: type  # its nn.Module: model(config), with sample(n, *, generator, ...)
    trainer: type | None = None  # its trainer class (None: trained by its own script)
    label: str = ""  # its name in the Train tab's family list ("": not trained from the tab)
    gan: bool = False  # a GAN: Adam betas (0.5, 0.999), hinge loss and an EMA of G by default
    presets: dict = field(default_factory=dict)  # {"quick" | "quality": its changes to the Train tab's presets}
    epochs_info: str = "passes over the training images"  # what one epoch is, under the Epochs slider
    plots: Plots = Plots(("loss",))
    completion: str | None = None  # Complete's "auto" method (bench/results/complete.md); None: by capability
    truncation_info: str = TRUNCATION_INFO  # what the Sample tab's truncation slider does to it
    unused_train_keys: frozenset = frozenset()  # TrainConfig keys its trainer ignores: left off cards and Models
    generator: bool = True  # makes images (False: the metrics' classifier)
    about: str = ""  # its model card's description (default: the model class's docstring)
    limits: str = ""  # its model card's limits
    reproduce: str = ""  # the command that rebuilds it when `imggen train` does not (format keys: its recipe)
    unsampled: frozenset = frozenset()  # sampler settings its sample() takes that the Sample tab leaves off

    def sampler_settings(self) -> dict:
        """The optional sampler settings its ``sample`` takes, with their plain (no-op) values."""
        sample = getattr(self.model, "sample", None)
        takes = inspect.signature(sample).parameters if sample else {}
        return {k: v for k, v in SAMPLER_DEFAULTS.items() if k in takes and k not in self.unsampled}

    @property
    def fits_prior(self) -> bool:
        """Whether a latent mixture prior can be fitted to it (``imggen fit-prior``)."""
        return callable(getattr(self.model, "fit_prior", None))


_GAN_PLOTS = Plots(("loss/D", "loss/G"), ("D(x)", "D(G(z))"), "D(x) and D(G(z)) (mean sigmoid)")
_KL_PLOTS = Plots(("loss/recon",), ("loss/kl",), "KL to the prior (nats per image)")
_GAN_UNUSED = frozenset({"beta", "train_prior"})
_UNCONDITIONAL_GAN_UNUSED = _GAN_UNUSED | {"class_weight"}
_VAE_LIMITS = ("Trained for a short, CPU-bound time box: reconstructions are somewhat blurry and samples weaker than "
               "a converged model's. Inputs must look like MNIST (white digit on black, centred by mass; the "
               "Reconstruct tab's `prepare_digit` does this for photos, scans and drawings). Likelihoods use a "
               "Bernoulli decoder on grey levels in [0, 1]: comparable across imggen models and `bench/vae.py`, not "
               "with papers on binarised MNIST.")
_GAN_LIMITS = ("No likelihood: a GAN is judged by its samples only. Generator and discriminator are stored together "
               "(D powers the Sample tab's *Detection* and GAN inversion). Trained and measured on 28×28 MNIST only.")

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("classifier", ClassifierConfig, DigitClassifier, generator=False,
           about="A small CNN whose 128-d penultimate features and softmax drive every digit metric in imggen: "
                 "classifier-FD (an FID for digits), class coverage and entropy, confident fraction (max softmax "
                 "≥ 0.8; trained with label smoothing 0.05, whose target is 0.955) and k-NN precision / recall. A "
                 "class is *covered* when it receives at least 2 % of the samples. Not a generator.",
           limits="Trained on centred 28×28 MNIST digits only: digits drawn off-centre, very thin or very bold are "
                  "classified less reliably, and a non-digit image still gets a (meaningless) digit label.",
           reproduce="python scripts/train_classifier.py --epochs {epochs}"),
    Family("dcgan", DCGANConfig, DCGAN, GANTrainer, "DCGAN", gan=True, plots=_GAN_PLOTS, completion="gan",
           # quick: measured FD 32 / 7 classes after 280 steps (at 2e-4: FD 257, 1 class)
           presets={"quick": {"lr": 5e-4, "lr_d": 5e-4}},
           unused_train_keys=frozenset({"beta", "class_weight"}),
           about="DCGAN (Radford et al. 2016) with hinge loss, spectral norm and an EMA of G. With "
                 "`prior_components` > 0 its latents come from a Gaussian mixture fitted to the trained G "
                 "(`python -m imggen fit-prior`, DeLiGAN-style) instead of N(0, I). Unconditional.",
           limits=_GAN_LIMITS + " Plain sampling leaves some digits ambiguous (the confident fraction above); "
                                "Jacobian truncation (`keep`) drops them at about 20× the sampling time."),
    Family("cgan", CGANConfig, CGAN, GANTrainer, "Conditional GAN", gan=True, plots=_GAN_PLOTS, completion="gan",
           unused_train_keys=_GAN_UNUSED,
           about="Class-conditional GAN (BigGAN-style): conditional BatchNorm in G, projection discriminator, "
                 "spectral norm, truncation trick.",
           limits=_GAN_LIMITS + " Refinement and truncation trade FD and recall for confidence."),
    Family("ae", AEConfig, AE, AETrainer, "Autoencoder", presets={k: {"latent_dim": 16} for k in PRESETS},
           plots=Plots(("loss/recon",)), completion="vae", unused_train_keys=GAN_TRAIN_KEYS,
           about="Deterministic convolutional autoencoder. It has no prior: samples decode codes drawn from a "
                 "diagonal Gaussian fitted to the training codes, so reconstruction, not sampling, is its point.",
           limits=_VAE_LIMITS),
    Family("vae", VAEConfig, VAE, VAETrainer, "VAE", plots=_KL_PLOTS, completion="vae",
           unused_train_keys=GAN_TRAIN_KEYS,
           about="Convolutional VAE (Kingma & Welling 2014): Gaussian posterior, N(0, I) prior, Bernoulli decoder "
                 "on grey levels.", limits=_VAE_LIMITS),
    Family("cvae", CVAEConfig, CVAE, VAETrainer, "Conditional VAE", plots=_KL_PLOTS, completion="vae",
           unused_train_keys=GAN_TRAIN_KEYS,
           about="Conditional VAE (Sohn et al. 2015): encoder q(z|x, y) and decoder p(x|z, y) with a one-hot "
                 "digit label, so z holds the style. Likelihoods marginalise the label under a uniform "
                 "prior, so they compare with the unconditional models.", limits=_VAE_LIMITS),
    Family("vaegan", VAEGANConfig, VAEGAN, VAEGANTrainer, "VAE-GAN",
           presets={"quick": {"epochs": 2}},  # ~2x a DCGAN step: fewer epochs for the same wall time
           plots=Plots(("loss/recon", "loss/kl"), ("loss/D", "loss/G", "D(x)", "D(G(z))"), "adversarial terms"),
           completion="vae", unused_train_keys=GAN_TRAIN_KEYS - {"lr_d", "loss"},
           about="VAE-GAN (Larsen et al. 2016): the VAE's decoder is also trained against a small conv "
                 "discriminator (non-saturating GAN loss plus feature matching); the ELBO terms are kept, "
                 "so its likelihood is still measured.", limits=_VAE_LIMITS),
    Family("arf", ARFConfig, ARF, ARFTrainer, "Adversarial random forest",
           presets={"quick": {"epochs": 3}, "quality": {"epochs": 6}},
           epochs_info="one adversarial round over all the images each",  # batch, rates, sizes do not apply
           plots=Plots(("forest accuracy",), ("leaves",), "leaves in the mixture"), completion="arf",
           truncation_info="each pixel's probability is sharpened (logit ÷ truncation) before it is drawn: "
                           "lower = less speckle, less varied; 1 = the exact model",
           unused_train_keys=GAN_TRAIN_KEYS | {"beta", "lr", "betas", "batch_size", "use_amp"},
           about="Adversarial random forest (Watson et al. 2023): a forest learns to tell real digits from "
                 "synthetic ones drawn from its leaves, round after round; each leaf of the last forest is one "
                 "component of a mixture of independent Bernoullis over binarized pixels, so the model samples, "
                 "scores an exact likelihood and completes masked digits exactly.",
           limits="Binary pixels only (binarized at 0.5). Exact samples are speckled (pixels are independent "
                  "within a leaf); truncation sharpens them at the cost of recall. Its likelihood is on binarized "
                  "digits: not comparable with the VAEs' grey-level bounds."),
    Family("latentarf", LatentARFConfig, LatentARF, LatentARFTrainer, "Latent random forest (ARF on AE codes)",
           presets={"quick": {"epochs": 1}, "quality": {"epochs": 2}},
           epochs_info="one adversarial round over all the images' codes each",  # batch, rates, sizes do not apply
           plots=Plots(("forest accuracy",), ("leaves",), "leaves in the mixture"), completion="vae",
           unused_train_keys=GAN_TRAIN_KEYS | {"beta", "lr", "betas", "batch_size", "use_amp"},
           about="Adversarial random forest in a learned space: the forest's rounds (Watson et al. 2023) run on "
                 "the codes a shipped autoencoder gives the training digits, and its decoder turns the forest's "
                 "codes into images. Each leaf is a box in code space with one truncated normal per coordinate "
                 "(FORDE), so the model samples, scores an exact density of codes and samples exactly given some "
                 "coordinates; no gradient training (the autoencoder is taken as it is).",
           limits="Samples are only as sharp as the autoencoder's reconstructions (its decoder draws every "
                  "image); the density is of codes, not of pixels, so it does not compare with the likelihood "
                  "models'. Trained and measured on 28×28 MNIST only."),
    Family("pixelgpt", PixelGPTConfig, PixelGPT, PixelGPTTrainer, "Pixel GPT (autoregressive)",
           presets={"quick": {"width": 64, "lr": 1e-3}, "quality": {"width": 128, "lr": 1e-3}},  # width = n_embd
           plots=Plots(("loss/nll",), ("bits_per_dim",), "bits per pixel (training batches)"), completion="gpt",
           truncation_info="the logits are divided by truncation (a temperature) before each token is drawn: "
                           "lower = cleaner, less varied; 1 = the exact model",
           unused_train_keys=GAN_TRAIN_KEYS | {"beta", "betas"},
           about="Autoregressive pixel transformer (after Chen et al. 2020): binarized digits cut into 2×2 "
                 "patches, one token each, in raster order after a class token. The likelihood is exact, with "
                 "the class summed out; sampling is label → image or unconditional; completion forces the "
                 "known tokens and re-weights draws by the known pixels that follow.",
           limits="Binary pixels only: part of its FD against grey test digits is the binarization itself. "
                  "Sampling is token by token, so it is the slowest sampler here (see the benchmarks)."),
    Family("dalle", DalleConfig, Dalle, DalleTrainer, "Text → image (DALL-E)", completion="tokens",
           presets={k: {"width": 32, "lr": 1e-3} for k in PRESETS},  # width = tokenizer hidden and n_embd
           plots=Plots(("loss/recon", "loss/nll"), ("codes_used",), "share of the codebook used per batch "
                                                                   "(tokenizer phase)"),
           epochs_info="passes over the training images: the first half trains the tokenizer (the grid shows its "
                       "reconstructions), the rest the transformer (the grid: 8 fixed emoji names, one per column)",
           unused_train_keys=GAN_TRAIN_KEYS | {"beta", "betas"},
           unsampled=frozenset({"candidates"}),  # ranked by the prompt: a Text → image setting
           about="A small DALL-E (Ramesh et al. 2021): a VQ-VAE with an EMA codebook and dead-code restart turns a "
                 "32-px image into 8×8 codes of 512; a causal transformer (the pixel GPT's blocks, KV cache) reads the"
                 " caption's words, padded to a fixed length, then the codes. Trained with caption augmentation "
                 "(fields and words dropped, order shuffled, synonyms) and the caption dropped for 15 % of steps, so "
                 "sampling uses classifier-free guidance; candidates are re-ranked by a small CLIP-style caption-image"
                 " score (hashed n-gram text features and a CNN, trained contrastively on the training pairs; without "
                 "one, by how much the caption raised their likelihood). Prompt expansion (a linear classifier over "
                 "the name's words and character n-grams, fitted to the training captions) fills in the category and "
                 "subcategory a short prompt lacks (`expand=False`: as typed). `sample(n, prompt=...)`, "
                 "`expand_prompt`, `tokenize_prompt`, `complete` (token in-painting).",
           limits="Trained for a CPU time box on 6,820 emoji: images are blurrier than the tokenizer's "
                  "reconstructions, and prompts far from the training captions (words it never saw are listed "
                  "as unknown) give generic emoji. It knows emoji names, categories, subcategories, styles "
                  "(noto, twemoji) and skin tones; colour words only as they occur in names."),
    Family("stylegan", StyleGANConfig, StyleGAN, GANTrainer, "Style-based GAN (StyleGAN)", gan=True,
           plots=_GAN_PLOTS, unused_train_keys=_UNCONDITIONAL_GAN_UNUSED,
           truncation_info="each style is pulled toward the average style, w = w̄ + ψ(w − w̄): "
                           "lower = cleaner, less varied",
           about="Style-based GAN (Karras et al. 2019, with StyleGAN2's modulated convolutions): a mapping "
                 "network turns z into a style w that modulates each synthesis layer, so styles mix by layer "
                 "(Explore tab → Style mixing) and truncation works in W. D, loss and trainer are the DCGAN's.",
           limits=_GAN_LIMITS + " Without GPU time it trails the DCGAN by far on FD and recall; truncation "
                                "in W did not buy quality on MNIST."),
)}


def get(family: str) -> Family:
    """The table's entry for ``family``; ValueError naming the known ones otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family]


def of_model(model) -> Family | None:
    """The entry of a module (or model class): its own class first, then its nearest base class in the table."""
    cls = model if isinstance(model, type) else type(model)
    by_class = {f.model: f for f in FAMILIES.values()}
    return next((by_class[c] for c in cls.__mro__ if c in by_class), None)


def trainable() -> dict[str, Family]:
    """label -> entry of every family the Train tab offers, in table order."""
    return {f.label: f for f in FAMILIES.values() if f.label and f.trainer is not None}


def preset_settings(family: str, kind: str) -> dict:
    """The Train tab's ``kind`` preset ("quick" | "quality") for a new ``family`` model, in the tab's terms
    (width = every width field of the config); the family's own ``presets`` entry has the last word."""
    fam = get(family)
    if kind not in PRESETS:
        raise ValueError(f"no {kind!r} preset; known: {', '.join(PRESETS)}")
    gan = fam.gan
    v = dict(epochs=2 if gan else 3, batch_size=32, lr=2e-4 if gan else 1e-3, lr_d=2e-4, latent_dim=64 if gan else 32,
             width=32, loss="hinge" if gan else "bce", spectral_norm=True, ema=gan)
    if kind == "quality":
        v.update(epochs=20, batch_size=64, width=64)
    return {**v, **fam.presets.get(kind, {})}
