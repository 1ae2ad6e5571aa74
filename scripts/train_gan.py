"""Train a shipped GAN (dcgan-mnist / cgan-mnist) on full MNIST with imggen.train, one CPU thread, saving the
inference weights (EMA G + D) after every epoch so a usable checkpoint exists even if the run is cut short.

    nohup .venv/bin/python scripts/train_gan.py cgan --out checkpoints/cgan-mnist.safetensors \
        --time-limit 3300 > logs/cgan-mnist.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch

RECIPES = {  # family -> (model config, TrainConfig overrides): the project's best recipe for 28 px MNIST
    "dcgan": ({"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "nearest", "use_spectral_norm": True},
              {"loss": "hinge", "lr": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "use_ema": True, "ema_decay": 0.999}),
    "cgan": ({"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "nearest", "use_spectral_norm": True},
             {"loss": "hinge", "lr": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "use_ema": True, "ema_decay": 0.999}),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", choices=sorted(RECIPES))
    p.add_argument("--out", required=True)
    p.add_argument("--data", default="mnist")
    p.add_argument("--time-limit", type=float, default=3300.0, help="seconds of training")
    p.add_argument("--epochs", type=int, default=50)
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
    device = torch.device(a.device)

    from imggen import checkpoint
    from imggen.data import load_data
    from imggen.device import describe
    from imggen.registry import build, warm_start
    from imggen.train import TrainConfig, train

    data = load_data(a.data, split="train")
    model_cfg, train_over = RECIPES[a.family]
    train_over = dict(train_over)
    if a.lr:
        train_over.update(lr=a.lr, lr_d=a.lr)
    if a.ema_decay:
        train_over.update(ema_decay=a.ema_decay)
    if a.g_topk:
        train_over.update(g_topk=a.g_topk)
    if a.train_prior:
        train_over.update(train_prior=True)
    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, time_limit_s=a.time_limit, seed=a.seed,
                      eval_samples=1000, device=a.device, **train_over)
    torch.manual_seed(a.seed)
    prior = {"steps": 0, "epochs": 0.0, "train_seconds": 0.0}
    if a.init:  # continue from a checkpoint's weights (fresh optimiser; EMA starts from the loaded G)
        try:
            model, meta = warm_start(a.init, a.family)
        except ValueError as e:
            raise SystemExit(f"--init {e}") from None
        rec = meta.get("recipe", {})
        steps = float(rec.get("steps", 0))
        prior = {"steps": steps, "epochs": float(rec.get("epochs", steps / -(-len(data) // a.batch_size))),
                 "train_seconds": float(rec.get("train_seconds", 0)),
                 "history": rec.get("history", []) + [
                     {**{k: rec.get(k) for k in ("steps", "epochs", "train_seconds", "lr", "lr_d", "ema_decay",
                                                  "time_limit_s", "batch_size", "g_topk", "train_prior")},
                      "hardware": meta["card"].get("hardware")}]}
    else:
        model = build(a.family, channels=1, image_size=28, **({"num_classes": 10} if a.family == "cgan" else {}),
                      **{**model_cfg, **({"blocks": a.blocks} if a.blocks is not None else {}),
                         **({"g_width": a.width, "d_width": a.width} if a.width is not None else {})})
    captured = {}
    make = model.make_trainer
    model.make_trainer = lambda c, d: captured.setdefault("trainer", make(c, d))  # keep a handle for snapshots
    name = Path(a.out).stem
    t0 = time.time()
    print(f"{name}: {model.num_params()} params, {len(data)} images, recipe {json.dumps(train_over)}", flush=True)
    for ev in train(a.family, data, cfg, model=model, name=name):  # saved here, with the warm start's history
        losses = " ".join(f"{k}={v:.3f}" for k, v in ev.losses.items())
        mets = " ".join(f"{k}={v:.4g}" for k, v in ev.metrics.items() if isinstance(v, (int, float)))
        print(f"[{ev.kind}] {time.time() - t0:.0f}s step {ev.step} ep {ev.epoch:.2f} {ev.steps_per_s:.2f} it/s "
              f"{losses} {mets} {ev.message}", flush=True)
        if ev.kind in ("epoch", "end"):  # snapshot so an interrupted run still leaves a checkpoint
            net = captured["trainer"].inference_model()
            recipe = {**{k: v for k, v in asdict(cfg).items() if k != "device"},
                      "epochs": prior["epochs"] + ev.epoch, "steps": int(prior["steps"]) + ev.step,
                      "train_seconds": round(prior["train_seconds"] + time.time() - t0, 1),
                      "data": data.name, "train_images": len(data)}
            if a.init:  # the earlier phases of this run (a warm start keeps the full history)
                recipe["history"] = prior["history"]
            checkpoint.save(net, a.out, family=a.family, config=asdict(net.config), name=name, metrics=ev.metrics,
                            recipe=recipe, card={"status": "snapshot after an epoch", "data": data.name,
                                                 "parameters": net.num_params(),
                                                 "train_seconds": recipe["train_seconds"],
                                                 "hardware": describe(device, cfg.use_amp)})


if __name__ == "__main__":
    main()
