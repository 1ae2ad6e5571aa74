"""Train a shipped GAN (recipes dcgan-mnist / cgan-mnist) on full MNIST with imggen.train, one CPU thread, saving
the inference weights (EMA G + D) after every epoch so a usable checkpoint exists even if the run is cut short.

    nohup .venv/bin/python scripts/train_gan.py cgan --out checkpoints/cgan-mnist.safetensors \
        --time-limit 3300 > logs/cgan-mnist.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

FAMILIES = {"dcgan": "dcgan-mnist", "cgan": "cgan-mnist"}  # family -> its recipe in imggen.training.recipes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", choices=sorted(FAMILIES))
    p.add_argument("--out", required=True)
    p.add_argument("--data", default="mnist")
    p.add_argument("--time-limit", type=float, default=None, help="seconds of training (default: the recipe's)")
    p.add_argument("--epochs", type=int, default=None, help="(default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs)")
    p.add_argument("--device", default="cpu", help="cpu, cuda (bf16 autocast), cuda:1 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", help="warm start: a checkpoint of the same family whose G and D weights to continue from")
    p.add_argument("--lr", type=float, help="learning rate for G and D (default: the recipe's)")
    p.add_argument("--ema-decay", type=float, help="EMA decay of G (default: the recipe's)")
    p.add_argument("--g-topk", type=float, help="fraction of each G batch, most real-looking first, that trains G")
    p.add_argument("--train-prior", action="store_true",
                   help="keep the --init checkpoint's fitted latent mixture and train G on latents drawn from it")
    p.add_argument("--blocks", type=int, help="extra 3x3 convs per resolution in G and D (new runs; default: the recipe's)")
    p.add_argument("--width", type=int, help="g_width and d_width (new runs; default: the recipe's)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from imggen.data import load_data
    from imggen.registry import build, warm_start
    from imggen.train import TrainConfig, train
    from imggen.training import WarmStart, recipes

    data = load_data(a.data, split="train")
    recipe = recipes.get(FAMILIES[a.family])
    train_over = {k: v for k, v in recipe.train.items() if k not in ("epochs", "time_limit_s", "eval_samples")}
    if a.lr:
        train_over.update(lr=a.lr, lr_d=a.lr)
    if a.ema_decay:
        train_over.update(ema_decay=a.ema_decay)
    if a.g_topk:
        train_over.update(g_topk=a.g_topk)
    if a.train_prior:
        train_over.update(train_prior=True)
    cfg = TrainConfig(**{**recipe.train, **train_over, "batch_size": a.batch_size, "seed": a.seed, "device": a.device,
                         **({"epochs": a.epochs} if a.epochs is not None else {}),
                         **({"time_limit_s": a.time_limit} if a.time_limit is not None else {})})
    torch.manual_seed(a.seed)
    init = None
    if a.init:  # continue from a checkpoint's weights (fresh optimiser; EMA starts from the loaded G)
        try:
            model, meta = warm_start(a.init, a.family)
        except ValueError as e:
            raise SystemExit(f"--init {e}") from None
        init = WarmStart(a.init, meta["recipe"])  # the checkpoint's recipe then lists every phase
    else:
        model = build(a.family, channels=1, image_size=28,
                      **{**recipe.model, **({"blocks": a.blocks} if a.blocks is not None else {}),
                         **({"g_width": a.width, "d_width": a.width} if a.width is not None else {})})
    name = Path(a.out).stem
    t0 = time.time()

    def snapshot(ev, snap):  # after every epoch, so an interrupted run still leaves a checkpoint
        if ev.kind == "epoch":
            snap.save(a.out, "snapshot after an epoch")

    print(f"{name}: {model.num_params()} params, {len(data)} images, recipe {json.dumps(train_over)}", flush=True)
    for ev in train(a.family, data, cfg, model=model, name=name, out=a.out, init=init, callbacks=[snapshot]):
        print(f"{ev.summary()} {time.time() - t0:.0f}s", flush=True)

if __name__ == "__main__":
    main()
