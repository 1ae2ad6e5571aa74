"""The trainers of every family, one per method (StyleGAN2-ADA training_loop phases, improved-diffusion
TrainLoop): each owns its optimisers, EMA and schedule and runs one optimisation step at a time; the networks stay
in imggen/models/, the losses in imggen/losses.py and the loop in imggen/training/loop.py.

A trainer is built as ``Trainer(model, train_config, precision)`` and has ``step(x, y) -> dict[str, float]``
(one optimisation step, losses named like "loss/D") and ``inference_model() -> nn.Module`` (e.g. with EMA weights
applied), used for sample grids and the checkpoint. Each family's entry in imggen/families.py names its trainer.
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import distributed
from ..losses import GANLoss, d_loss
from ..models.arf import ARF, binarize, leaf_mixture
from ..models.dalle import Dalle, build_vocab
from ..models.gan import _GAN
from ..models.gpt import PixelGPT
from ..models.latent_arf import LatentARF, fit_round, marginal_shuffle
from ..models.prompt_fields import has_fields
from ..models.vae import AE, VAE, VAEGAN
from .precision import Precision

R1_EVERY = 4  # lazy R1: one "Dreg" phase every N steps, weighted by N (StyleGAN2)
BN_CALIBRATION_BATCHES = 8  # batches used to re-estimate BatchNorm statistics for inference weights


# ==== GANs (DCGAN, conditional GAN, StyleGAN) ===============================================================
def _ema_avg(decay: float):
    def avg(ema_p: torch.Tensor, p: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        beta = min(decay, (1 + float(num_averaged)) / (10 + float(num_averaged)))  # warm-up (TF EMA)
        return ema_p * beta + p * (1 - beta)
    return avg


@torch.no_grad()
def calibrate_batchnorm(net: _GAN, batches: int = BN_CALIBRATION_BATCHES, batch_size: int = 64, seed: int = 0):
    """Re-estimate G's BatchNorm running statistics for the given weights (EMA weights never ran forward)."""
    bns = [m for m in net.G.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return net
    g = torch.Generator(device=net.device).manual_seed(seed)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.G.train()
    for _ in range(batches):
        net.G(net.latents(batch_size, generator=g, truncation=None), net._labels(batch_size, None, g))
    for m in bns:
        m.momentum = 0.1
    return net


class GANTrainer:
    """Alternating D/G optimisation; phases are data: [("D", d_steps), ("Dreg", every R1_EVERY), ("G", 1)]."""

    def __init__(self, net: _GAN, cfg, precision: Precision):
        if getattr(net, "clear_prior", None) and not getattr(cfg, "train_prior", False):
            net.clear_prior()  # training moves G: a fitted latent mixture would no longer describe it
        self.net, self.cfg, self.device, self.precision = net, cfg, precision.device, precision
        self.opt_g = torch.optim.Adam(net.G.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.opt_d = torch.optim.Adam(net.D.parameters(), lr=cfg.lr_d or cfg.lr, betas=tuple(cfg.betas))
        self.G, self.D = distributed.wrap(net.G), distributed.wrap(net.D)
        self.loss = GANLoss(net, cfg.loss, r1_gamma=cfg.r1_gamma, use_augment=cfg.use_augment,
                            augment=getattr(cfg, "augment", ""),
                            g_topk=cfg.g_topk, class_weight=cfg.class_weight, G=self.G, D=self.D)
        self.phases = [("D", self.opt_d, net.D, max(1, cfg.d_steps), 1)]
        if cfg.r1_gamma > 0:
            self.phases.append(("Dreg", self.opt_d, net.D, 1, R1_EVERY))
        self.phases.append(("G", self.opt_g, net.G, 1, 1))
        self.ema = None
        if cfg.use_ema:
            self.ema = torch.optim.swa_utils.AveragedModel(net.G, avg_fn=_ema_avg(cfg.ema_decay), use_buffers=False)
        self.scaler = precision.grad_scaler()
        self.num_steps = 0

    def _labels(self, y: torch.Tensor, n: int):
        if not self.net.num_classes:
            return None, None
        return y.long(), torch.randint(0, self.net.num_classes, (n,), device=self.device)

    def _latents(self, n: int) -> torch.Tensor:
        """Training latents: N(0, I), or the kept mixture prior (``train_prior``: G learns on the latents it is
        sampled from, DeLiGAN-style, so it need not fill the gaps between the mixture's components)."""
        z = torch.randn(n, self.net.latent_dim, device=self.device)
        return self.net.prior_transform(z) if getattr(self.net, "prior_transform", None) else z

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        self.net.train()
        B = x.shape[0]
        out: dict[str, float] = {}
        for phase, opt, module, repeats, every in self.phases:
            if self.num_steps % every:
                continue
            module.requires_grad_(True)
            other = self.net.G if module is self.net.D else self.net.D
            other.requires_grad_(False)
            for _ in range(repeats):
                real_y, gen_y = self._labels(y, B)
                z = self._latents(B)
                opt.zero_grad(set_to_none=True)
                out.update(self.loss.accumulate_gradients(phase, x, real_y, z, gen_y, gain=every, ctx=self.precision.autocast,
                                                          backward=lambda l: self.scaler.scale(l).backward()))
                if phase == "Dreg" and distributed.is_dist():
                    _allreduce_grads(module)  # the R1 pass bypasses DDP (no double backward there)
                self.scaler.step(opt)
                self.scaler.update()
        self.net.requires_grad_(True)
        self.num_steps += 1
        if self.ema is not None and all(math.isfinite(v) for v in out.values()):
            self.ema.update_parameters(self.net.G)  # never average in a diverged step (the loop restores weights)
        return out

    def inference_model(self) -> _GAN:
        """A copy in eval mode with EMA generator weights (when used) and re-estimated BatchNorm statistics."""
        net = copy.deepcopy(self.net)
        if self.ema is not None:
            net.G.load_state_dict(self.ema.module.state_dict())
        calibrate_batchnorm(net, seed=self.cfg.seed)
        return net.eval()


def _allreduce_grads(module: nn.Module) -> None:
    import torch.distributed as dist

    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= distributed.world_size()


# ==== autoencoders ========================================================================================
class AETrainer:
    def __init__(self, model: AE, cfg, precision: Precision):
        self.model, self.cfg = model, cfg
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)

    def step(self, x, y):
        self.model.train()
        out = self.model.loss(x, y)
        loss = out["recon"].mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():  # running Gaussian fit of the codes, used by sample()
            z = out["z"].float()  # bf16 under CUDA autocast
            self.model.z_mean.lerp_(z.mean(0), 0.01)
            self.model.z_std.lerp_(z.std(0) if len(z) > 1 else self.model.z_std, 0.01)
        return {"loss/recon": loss.item()}

    def inference_model(self):
        return self.model


class VAETrainer:
    def __init__(self, model: VAE, cfg, precision: Precision):
        model.clear_prior()  # training moves the decoder: a fitted sampling mixture would no longer describe it
        self.model, self.cfg = model, cfg
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)

    def step(self, x, y):
        self.model.train()
        out = self.model.loss(x, y)
        recon, kl = out["recon"].mean(), out["kl"].mean()
        loss = recon + self.cfg.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss/total": loss.item(), "loss/recon": recon.item(), "loss/kl": kl.item(),
                "elbo": -(recon + kl).item()}

    def inference_model(self):
        return self.model


class VAEGANTrainer:
    def __init__(self, model: VAEGAN, cfg, precision: Precision):
        model.clear_prior()  # as VAETrainer
        self.model, self.cfg = model, cfg
        vae_params = [p for n, p in model.named_parameters() if not n.startswith("disc.")]
        self.opt = torch.optim.Adam(vae_params, lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(model.disc.parameters(), lr=cfg.lr_d or cfg.lr, betas=(0.5, 0.999))

    def step(self, x, y):
        m, c = self.model, self.model.config
        m.train()
        B = x.shape[0]
        out = m.loss(x, y)
        x_rec = m._to_image(out["out"])
        x_gen = m.decode(torch.randn(B, c.latent_dim, device=x.device))
        fakes = torch.cat([x_rec, x_gen])
        # discriminator phase
        d_real, d_fake = m.disc(x), m.disc(fakes.detach())
        loss_d = d_loss(self.cfg.loss, d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # encoder/decoder phase: ELBO + non-saturating adversarial loss + feature matching
        recon, kl = out["recon"].mean(), out["kl"].mean()
        adv = F.softplus(-m.disc(fakes)).mean()
        fm = (m.disc.features(x_rec) - m.disc.features(x).detach()).pow(2).mean()
        loss = recon + self.cfg.beta * kl + c.adv_weight * adv + c.fm_weight * fm
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss/total": loss.item(), "loss/recon": recon.item(), "loss/kl": kl.item(), "loss/D": loss_d.item(),
                "loss/G": adv.item(), "loss/fm": fm.item(), "D(x)": torch.sigmoid(d_real).mean().item(),
                "D(G(z))": torch.sigmoid(d_fake).mean().item()}

    def inference_model(self):
        return self.model


# ==== pixel GPT ===========================================================================================
class PixelGPTTrainer:
    """AdamW on the exact negative log-likelihood: a short linear warm-up, then (when the run has ``max_steps``)
    a cosine decay to a tenth of the rate; gradients clipped at 1."""

    WARMUP = 200

    def __init__(self, model: PixelGPT, cfg, precision: Precision):
        self.model, self.cfg, self.steps = model, cfg, 0
        decay = [p for p in model.parameters() if p.ndim >= 2]
        other = [p for p in model.parameters() if p.ndim < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0}],
                                     lr=cfg.lr, betas=(0.9, 0.99))

    def lr(self, step: int) -> float:
        base, total = self.cfg.lr, getattr(self.cfg, "max_steps", None)
        if step < self.WARMUP:
            return base * step / self.WARMUP
        if not total or total <= self.WARMUP:
            return base
        done = min(1.0, (step - self.WARMUP) / (total - self.WARMUP))
        return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))

    def step(self, x, y):
        m = self.model
        m.train()
        self.steps += 1
        for g in self.opt.param_groups:
            g["lr"] = self.lr(self.steps)
        out = m.loss(x, y if m.config.num_classes else None)
        loss = out["nll"] + out.get("class_nll", 0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        self.opt.step()
        res = {"loss/nll": out["nll"].item(), "bits_per_dim": out["nll"].item() / (math.log(2) * m.num_pixels)}
        if "class_nll" in out:
            res["loss/class"] = out["class_nll"].item()
        return res

    def inference_model(self):
        return self.model


# ==== text -> image (DALL-E) ============================================================================
class DalleTrainer:
    """Two phases, one step at a time: the VQ-VAE tokenizer (pixel MSE + commitment, EMA codebook) for the
    model's ``tokenizer_steps`` (0: the first half of the planned run; counted in the checkpoint, so a model
    warm-started from a trained one goes
    straight on with the transformer), then the transformer on the frozen tokenizer's codes of each batch with
    its captions (the loop hands their indices as labels, see :meth:`bind_data`), augmented: the caption dropped
    (``caption_drop``, for classifier-free guidance), its category / subcategory / style / skin-tone fields each
    dropped at 50 %, words dropped at 10 %, the word order shuffled at 30 % and synonyms swapped in at 20 %.
    AdamW (decay ``weight_decay`` on its matrices) with the pixel GPT's warm-up and cosine schedule for the
    transformer, Adam for the tokenizer."""

    WARMUP = 200
    GRID, GRID_PROMPTS = 64, 8  # the Train tab's grid: fixed training images, the names of the first 8 as prompts

    def __init__(self, model: Dalle, cfg, precision: Precision):
        self.model, self.cfg, self.steps = model, cfg, 0
        self.captions: tuple = ()
        self.grid_images, self.grid_prompts = None, None  # set by bind_data
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.opt_tok = torch.optim.Adam(model.tokenizer.parameters(), lr=cfg.lr)
        self.opt = None  # the transformer's: built at its first step (bind_data may resize the embedding)

    def bind_data(self, data) -> None:
        """The training data's captions, by image index; an untrained model without a vocabulary gets one built
        from them, and a model without prompt expansion has it fitted to "name, category, subcategory" ones."""
        m, cfg = self.model, self.cfg
        if not m.config.tokenizer_steps and not int(m.tokenizer_step):  # auto: the first half of the run
            planned = cfg.max_steps or cfg.epochs * max(1, len(data) // max(1, min(cfg.batch_size, len(data))))
            m.config.tokenizer_steps = max(1, planned // 2)
        self.captions = tuple(getattr(data, "captions", ()) or ())
        if self.captions and not self.model.config.vocab:
            self.model.set_vocab(build_vocab(self.captions))
            self.opt = None
        if self.model.fields is None and has_fields(self.captions):
            self.model.fit_fields(self.captions)  # prompt expansion: "name" -> "name, category, subcategory"
        idx = torch.linspace(0, len(data) - 1, min(len(data), self.GRID)).long()  # fixed images for the grid
        self.grid_images = data.images[idx]
        self.grid_prompts = [self.captions[i].split(",")[0].strip() for i in idx[:self.GRID_PROMPTS].tolist()] \
            if self.captions else None

    @torch.no_grad()
    def grid_samples(self, n: int, generator) -> torch.Tensor:
        """The Train tab's fixed grid, in [-1, 1]: while the tokenizer trains, its reconstructions of fixed
        training images; then the transformer's samples for the names of the first 8 of them (image i draws prompt
        i mod 8: one prompt per column of an 8-wide grid)."""
        m = self.model
        if int(m.tokenizer_step) < m.config.tokenizer_steps and self.grid_images is not None:
            return m.reconstruct(self.grid_images[:n])
        return m.sample(n, generator=generator, prompt=self.grid_prompts)

    def _transformer_opt(self):
        m = self.model
        params = [p for n, p in m.named_parameters() if not n.startswith("tokenizer.")]
        decay = [p for p in params if p.ndim >= 2]
        other = [p for p in params if p.ndim < 2]
        return torch.optim.AdamW([{"params": decay, "weight_decay": m.config.weight_decay},
                                  {"params": other, "weight_decay": 0}],
                                 lr=self.cfg.lr, betas=(0.9, 0.99))

    def augment(self, caption: str) -> list[int]:
        """A training caption's ids after the augmentations above (may be empty: the unconditional caption)."""
        from ..models.dalle import SYNONYMS, words

        m, g = self.model, self.generator
        r = lambda: torch.rand((), generator=g).item()  # noqa: E731
        if r() < m.config.caption_drop:
            return []
        fields = caption.split(",")
        fields = fields[:1] + [f for f in fields[1:] if r() >= 0.5]
        ws = [w for f in fields for w in words(f)]
        ws = [w for w in ws if r() >= 0.1] or ws[:1]
        if r() < 0.3:
            ws = [ws[i] for i in torch.randperm(len(ws), generator=g).tolist()]
        groups = {w: grp for grp in SYNONYMS for w in grp}
        ws = [groups[w][int(torch.randint(len(groups[w]), (), generator=g))] if w in groups and r() < 0.2 else w
              for w in ws]
        return m.caption_ids(" ".join(ws))

    def step(self, x, y):
        m = self.model
        if int(m.tokenizer_step) < m.config.tokenizer_steps:
            m.tokenizer.train()
            out = m.tokenizer.loss(x.float(), m.config.commitment)
            self.opt_tok.zero_grad(set_to_none=True)
            out["loss"].backward()
            self.opt_tok.step()
            m.tokenizer_step += 1
            return {"loss/recon": out["recon"].item(), "loss/commit": out["commit"].item(),
                    "codes_used": float(out["codes_used"])}
        if self.opt is None:
            self.opt = self._transformer_opt()
        m.train()
        m.tokenizer.eval()
        self.steps += 1
        for grp in self.opt.param_groups:
            grp["lr"] = PixelGPTTrainer.lr(self, self.steps)
        tokens = m.encode_tokens(x)
        idx = y.tolist() if self.captions else []
        caps = [self.augment(self.captions[i]) if 0 <= i < len(self.captions) else [] for i in idx] or \
            [[] for _ in range(len(x))]
        text = torch.stack([m.text_ids(c) for c in caps])
        out = m.loss(text, tokens)
        self.opt.zero_grad(set_to_none=True)
        out["nll"].backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        self.opt.step()
        return {"loss/nll": out["nll"].item(), "bits_per_code": out["nll"].item() / math.log(2)}

    def inference_model(self):
        return self.model


# ==== adversarial random forest ===========================================================================
class ARFTrainer:
    """One adversarial round per ``step`` on the batch it is given (the training loop passes the whole data set
    as one batch, so an epoch is a round): fit a forest telling the real images from the current synthetic
    ones, make the forest's leaves the model's mixture, and draw the next synthetic set from it. The first
    synthetic set draws each pixel independently from its marginal (a warm start: the fitted model's own
    samples). Reports the forest's out-of-bag accuracy: 0.5 means it can no longer tell real from synthetic."""

    def __init__(self, model: ARF, cfg, precision: Precision):
        self.model, self.cfg = model, cfg
        self.rounds, self.synthetic = 0, None
        self.generator = torch.Generator().manual_seed(cfg.seed)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        from sklearn.ensemble import RandomForestClassifier

        c, m = self.model.config, self.model
        bits = binarize(x.float()).cpu()
        N = len(bits)
        if self.synthetic is None or len(self.synthetic) != N:
            if c.num_leaves:  # a fitted forest (a warm start) goes on from its own samples
                self.synthetic = binarize(m.sample(N, generator=self.generator)).cpu()
            else:  # product of the marginals
                marg = bits.mean(0).expand(N, -1)
                self.synthetic = (torch.rand(marg.shape, generator=self.generator) < marg).float()
        real = bits.numpy().astype(np.uint8)
        X = np.concatenate([real, self.synthetic.numpy().astype(np.uint8)])
        rf = RandomForestClassifier(c.trees, max_leaf_nodes=c.max_leaves, min_samples_leaf=c.min_leaf,
                                    max_features="sqrt", oob_score=True, n_jobs=torch.get_num_threads(),
                                    random_state=self.cfg.seed + self.rounds)
        with warnings.catch_warnings():  # few trees leave some rows without an out-of-bag vote: they are skipped
            warnings.simplefilter("ignore", UserWarning)
            rf.fit(X, np.r_[np.ones(N), np.zeros(N)])
        weights, probs = leaf_mixture(real.astype(np.float32), rf.apply(real), c.alpha)
        m.set_leaves(weights, probs)
        self.synthetic = binarize(m.sample(N, generator=self.generator)).cpu()
        self.rounds += 1
        return {"forest accuracy": float(rf.oob_score_), "leaves": float(len(weights))}

    def inference_model(self) -> ARF:
        return self.model


class LatentARFTrainer:
    """The ARF's rounds on an autoencoder's codes: a new model first takes the encoder and decoder of the shipped
    autoencoder its config names (``source``); the images are encoded once, then each ``step`` (the whole data
    set: an epoch) fits a forest telling the real codes from the current synthetic ones, makes its leaves the
    model's mixture and draws the next synthetic codes from it. The first synthetic set permutes each coordinate
    on its own (the product of the marginals). Reports the forest's out-of-bag accuracy (0.5: cannot tell)."""

    def __init__(self, model: LatentARF, cfg, precision: Precision):
        self.model, self.cfg = model, cfg
        self.rounds, self.codes, self.synthetic = 0, None, None
        self.generator = torch.Generator().manual_seed(cfg.seed)
        if not model.config.num_leaves:  # unfitted: start from the named autoencoder
            from ..registry import load

            model.set_autoencoder(load(model.config.source).net)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        m = self.model
        if self.codes is None or len(self.codes) != len(x):
            self.codes = m.codes(x.float()).numpy()
            self.synthetic = None
        N = len(self.codes)
        if self.synthetic is None:
            self.synthetic = (m.sample_codes(N, generator=self.generator).numpy() if self.rounds or
                              m.config.num_leaves > 1 else
                              marginal_shuffle(self.codes, np.random.default_rng(self.cfg.seed)))
        acc = fit_round(m, self.codes, self.synthetic, seed=self.cfg.seed + self.rounds,
                        threads=torch.get_num_threads())
        self.synthetic = m.sample_codes(N, generator=self.generator).cpu().numpy()
        self.rounds += 1
        return {"forest accuracy": acc, "leaves": float(m.config.num_leaves)}

    def inference_model(self) -> LatentARF:
        return self.model


def make_trainer(model: nn.Module, cfg, precision: Precision | torch.device):
    """The trainer of ``model``'s family (its entry in imggen/families.py: its own class, else its nearest base
    class); ``precision`` may be a plain device (then ``cfg.use_amp`` decides, as in the loop)."""
    from ..families import of_model  # the family table imports this module

    if isinstance(precision, torch.device):
        precision = Precision.for_run(precision, cfg.use_amp)
    family = of_model(model)
    if family is None or family.trainer is None:
        raise ValueError(f"no trainer for {type(model).__name__}: give its family a trainer in imggen/families.py")
    return family.trainer(model, cfg, precision)
