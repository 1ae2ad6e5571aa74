"""Train a shipped colour model from its named recipe (cgan-emoji32, vae-emoji32) with one CPU thread, writing a
snapshot of the inference weights every ``--snapshot-every`` steps so a usable checkpoint exists whenever the run
is cut short; ``--snapshot-at STEP:PATH`` also keeps the weights of one step (the side-by-side with and without
DiffAugment compares two runs at the same step). The run is ``imggen train --recipe NAME`` plus these hooks.
Reconstructing models (the VAE) print held-out PSNR each epoch and store their held-out metrics (ELBO,
reconstruction MSE and PSNR on every test emoji, IWAE bound) in the checkpoint at the end.

    nohup .venv/bin/python scripts/train_emoji.py cgan-emoji32 --out checkpoints/cgan-emoji32.safetensors \\
        > logs/cgan-emoji32.log 2>&1 &
    nohup .venv/bin/python scripts/train_emoji.py cgan-emoji32 --train-config '{"augment": ""}' --max-steps 600 \\
        --out runs/cgan-emoji32-noaug.safetensors > logs/cgan-emoji32-noaug.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import shlex
import time

import torch

CARD = {  # the card's prose for each recipe (imggen/cards.py takes card["about"] / card["limits"] over the family's)
    "cgan-emoji32": dict(
        about="Class-conditional GAN (BigGAN-style: conditional BatchNorm in G, projection discriminator, spectral "
              "norm, EMA of G) on the 10 emoji32 categories, trained with DiffAugment (Zhao et al. 2020: colour, "
              "translation and cutout applied alike to real and fake images before D), since 6,820 images are "
              "little data for a GAN.",
        limits="No likelihood: a GAN is judged by its samples only. A compact net trained for a CPU time box on one "
               "thread shared with other work (the Data line gives steps and time): far from converged, samples "
               "are colourful emoji-like shapes, not clean emoji; a longer (GPU) run of the same recipe is what it "
               "needs. Conditional on category only, not on style (Noto / Twemoji). Generator and discriminator "
               "are stored together (D powers *Detection* and GAN inversion)."),
    "cgan-emoji32-style": dict(
        about="Class-conditional GAN (BigGAN-style: conditional BatchNorm in G, projection discriminator, spectral "
              "norm, EMA of G) on the 20 emoji32 (category, style) pairs, e.g. \"Flags · noto\" and \"Flags · "
              "twemoji\": the Sample tab picks a category and a style. Trained with DiffAugment (Zhao et al. 2020: "
              "colour, translation and cutout applied alike to real and fake images before D), since 6,820 images "
              "are little data for a GAN; warm-started from the category-only GAN, each category's embeddings "
              "copied to its two styles (CGAN.split_classes). Its last phase adds a class term (`class_weight` "
              "0.2: D's projection read as a classifier learns the real labels, G is pushed toward images it reads "
              "as their asked class), which raised the share read as the asked category from 58 % to 73 % at some "
              "cost in FD.",
        limits="No likelihood: a GAN is judged by its samples only. A compact net trained for CPU time boxes on one "
               "thread shared with other work (the Data line gives steps and time): far from converged, samples "
               "are colourful emoji-like shapes, not clean emoji; a longer (GPU) run of the same recipe is what it "
               "needs. Label accuracy counts the asked category (the emoji net reads no style). Generator and "
               "discriminator are stored together (D powers *Detection* and GAN inversion)."),
    "vae-emoji32": dict(
        about="Convolutional VAE (Kingma & Welling 2014) on colour emoji32 with a spatial code: 16 channels at "
              "8×8 (a 1,024-d Gaussian posterior, N(0, I) prior; 3x3 convs in and out of the code instead of FC "
              "layers), Gaussian decoder with a learned per-channel scale on RGB values in [-1, 1]; made for "
              "reconstruction, interpolation and completion of 32 px emoji.",
        limits="Trained for a CPU time box: reconstructions are somewhat blurry (thin lines and small details "
               "smear). The spatial code keeps reconstructions local and sharp, but N(0, I) samples are "
               "texture-like, not emoji, and interpolating between two emoji is close to a cross-fade: it is "
               "for reconstruction and completion first. Inputs should be 32 px RGB "
               "emoji-like images on white. Likelihoods are those of a Gaussian decoder on continuous RGB values: "
               "comparable only with models that use the same decoder."),
}


@torch.no_grad()
def heldout_psnr(net, images: torch.Tensor, batch_size: int = 256) -> dict:
    """Reconstruction error on ``images`` in [-1, 1]: mean MSE on [0, 1] pixels, the PSNR of that mean and the
    mean of per-image PSNRs (dB)."""
    net.eval()
    mse = torch.cat([((net.reconstruct(x) - x) / 2).pow(2).mean((1, 2, 3)) for x in images.split(batch_size)])
    return {"recon_mse": mse.mean().item(), "psnr": (-10 * mse.mean().log10()).item(),
            "psnr_mean": (-10 * mse.clamp_min(1e-10).log10()).mean().item()}


def train_overrides(name: str, stored: dict) -> dict:
    """The training settings of a checkpoint's last phase (its stored recipe) that differ from recipe ``name``:
    what ``--train-config`` must repeat to reproduce it (run lengths and bookkeeping aside)."""
    from dataclasses import fields

    from imggen.train import CLI_TRAIN_DEFAULTS, TrainConfig
    from imggen.training import recipes

    def plain(v):
        return list(v) if isinstance(v, tuple) else v
    skip = {"epochs", "max_steps", "time_limit_s", "device", "log_every"}
    base = {**{f.name: f.default for f in fields(TrainConfig)}, **CLI_TRAIN_DEFAULTS, **recipes.get(name).train}
    return {k: stored[k] for k in base if k not in skip and k in stored and plain(stored[k]) != plain(base[k])}


def finish(name: str, out: str, test, iwae_images: int = 200) -> None:
    """Store the held-out metrics and card fields of the checkpoint ``out`` trained by recipe ``name``, write its card."""
    from imggen import checkpoint
    from imggen.cards import write_card
    from imggen.data import asked_category
    from imggen.evaluate import HeldOut
    from imggen.registry import load

    net = load(out).net.cpu().eval()
    meta = checkpoint.read_metadata(out)
    held = HeldOut.split(test, 1000)  # two halves of the test emoji: compared with, and the real-vs-real floor
    n = len(held)
    labels = torch.arange(n) % net.config.num_classes if getattr(net.config, "num_classes", 0) else None
    with torch.no_grad():
        fake = net.sample(n, generator=torch.Generator().manual_seed(0), **({"labels": labels} if labels is not None
                                                                            else {})).float()
    asked = None if labels is None else asked_category(labels, test.classes)
    m = {"test_set": f"{test.name} test", "num_samples": n, "seed": 0, **held.score(fake, asked)}
    if hasattr(net, "reconstruct") and hasattr(net, "eval_metrics"):
        m.update({**net.eval_metrics(test.images, iwae_images=iwae_images), **heldout_psnr(net, test.images)})
    steps = meta["recipe"].get("history", [meta["recipe"]])[-1]["steps"]  # this phase's
    init = meta["recipe"].get("init")
    extra = train_overrides(name, meta["recipe"])
    flags = f" --train-config {shlex.quote(json.dumps(extra))}" if extra else ""
    card = {**CARD.get(name, {}), "reproduce": [
        *([f"# a warm-started phase from {init} as it was before it (see its earlier card in git history):"]
          if init else []),
        *([] if init else [f"python -m imggen train --recipe {name}{flags} --max-steps {steps} --time-limit 1e9 "
                           f"--out {out}"]),
        f"python scripts/train_emoji.py {name}{f' --init {init}' if init else ''}{flags} --max-steps {steps} "
        f"--time-limit 1e9 --out {out}  # the same recipe and seed, plus snapshots and the held-out metrics above"]}
    checkpoint.update_metadata(out, net, metrics=m, card=card)
    print("held-out: " + " ".join(f"{k}={v:.4g}" for k, v in m.items() if isinstance(v, float)), flush=True)
    print(f"card: {write_card(out)}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", help="a named recipe of imggen.training.recipes (cgan-emoji32, vae-emoji32)")
    p.add_argument("--out", required=True)
    p.add_argument("--time-limit", type=float, default=None, help="seconds of training (default: the recipe's)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--train-config", default="", help="TrainConfig overrides as JSON")
    p.add_argument("--init", default="", help="warm-start from this checkpoint (a CGAN's classes split to the recipe's)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--snapshot-every", type=int, default=500, help="write --out every N steps (0 = only at the end)")
    p.add_argument("--snapshot-at", action="append", default=[], metavar="STEP:PATH",
                   help="also write the weights of step STEP to PATH (repeatable)")
    p.add_argument("--iwae-images", type=int, default=200, help="test images for the IWAE k=1000 bound (VAEs)")
    p.add_argument("--finish-only", action="store_true",
                   help="train nothing: measure the checkpoint at --out, store the metrics and card fields, write its card")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from imggen.data import load_data
    from imggen.train import CLI_TRAIN_DEFAULTS, TrainConfig, train
    from imggen.training import recipes
    from imggen.training.loop import snapshot_every

    recipe = recipes.get(a.recipe)
    test = recipe.labelled(load_data(recipe.data, split="test"))
    if a.finish_only:
        return finish(a.recipe, a.out, test, a.iwae_images)
    data = recipe.labelled(load_data(recipe.data, split="train", limit=recipe.limit))
    model = init = None
    if a.init:
        from imggen.registry import warm_start
        from imggen.training import WarmStart

        model, meta = warm_start(a.init, recipe.family, recipe.model.get("num_classes"))
        init = WarmStart(a.init, meta["recipe"])
    over = {**json.loads(a.train_config or "{}"),
            **({"time_limit_s": a.time_limit} if a.time_limit is not None else {}),
            **({"max_steps": a.max_steps} if a.max_steps is not None else {})}
    cfg = TrainConfig(**{**CLI_TRAIN_DEFAULTS, **recipe.train, **over, "device": "cpu"})
    at = {int(s.split(":", 1)[0]): s.split(":", 1)[1] for s in a.snapshot_at}
    print(f"{a.recipe}: {recipe.family} on {data.name} ({len(data)} images {tuple(data.images.shape[1:])}), "
          f"threads={torch.get_num_threads()}, model {recipe.model}, train {cfg}", flush=True)
    t0 = time.time()

    def checks(ev, snap):
        if ev.kind == "epoch" and hasattr(snap.model(), "reconstruct"):
            r = heldout_psnr(snap.model(), test.images)
            print(f"held-out step {ev.step}: " + " ".join(f"{k}={v:.4g}" for k, v in r.items()), flush=True)
        if ev.step in at:
            print(f"snapshot step {ev.step} -> {snap.save(at.pop(ev.step), f'snapshot at step {ev.step}')}", flush=True)

    for ev in train(recipe.family, data, cfg, model_config=recipe.model, model=model, init=init, out=a.out, name=a.recipe,
                    callbacks=[checks, snapshot_every(a.out, a.snapshot_every)]):
        if ev.kind == "step" and ev.step % 100:
            continue
        print(f"{ev.summary()} {time.time() - t0:.0f}s", flush=True)
    finish(a.recipe, a.out, test, a.iwae_images)


if __name__ == "__main__":
    main()
