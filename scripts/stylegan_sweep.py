"""Side-by-side StyleGAN recipes at equal wall time on one CPU thread (issue 30): each variant trains for
``--seconds`` on full MNIST (same seed), from scratch or warm-started from a checkpoint, and is scored with the
same held-out metrics (imggen.evaluate.HeldOut: --samples samples vs test digits, classifier FD / floor, recall).

    nohup .venv/bin/python scripts/stylegan_sweep.py --seconds 300 > logs/stylegan-sweep.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import time

import torch

BASE = {"loss": "hinge", "lr": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "use_ema": True, "ema_decay": 0.999}
SG2 = {"loss": "bce", "r1_gamma": 0.1, "lr": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.99), "use_ema": True,
       "ema_decay": 0.999}
VARIANTS = {  # name: (model config, TrainConfig settings, warm start checkpoint or None)
    "base": ({}, BASE, None),
    "sg2": ({"use_spectral_norm": False}, SG2, None),
    "sg2-map2-mix.5": ({"use_spectral_norm": False, "mapping_layers": 2, "style_mixing": 0.5}, SG2, None),
    "warm-base": ({}, BASE, "checkpoints/stylegan-mnist.safetensors"),
    "warm-sg2loss": ({}, SG2, "checkpoints/stylegan-mnist.safetensors"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    p.add_argument("--extra", default="", help='JSON {"name": [model, train, init]} of more variants')
    p.add_argument("--out", default="runs/stylegan-sweep.json")
    a = p.parse_args()
    torch.set_num_threads(1)

    from imggen.data import load_data
    from imggen.evaluate import HeldOut
    from imggen.registry import load
    from imggen.train import TrainConfig, train

    variants = {**VARIANTS, **{k: tuple(v) for k, v in json.loads(a.extra or "{}").items()}}
    data, test = load_data("mnist", split="train"), load_data("mnist", split="test")
    held = HeldOut.split(test, a.samples)
    results = {}
    for name in a.only or list(variants):
        model_cfg, train_cfg, init = variants[name]
        torch.manual_seed(0)
        model = None
        if init:
            model = load(init).net.cpu()
            model.train()
        cfg = TrainConfig(**{"epochs": 100, "batch_size": 64, **train_cfg, "time_limit_s": a.seconds,
                             "eval_samples": 0, "num_grid": 4, "seed": 0, "device": "cpu"})
        t0, end = time.time(), None
        for ev in train("stylegan", data, cfg, model_config=model_cfg, model=model, out=f"runs/sweep-{name}.safetensors",
                        name=name):
            end = ev
        net = load(f"runs/sweep-{name}.safetensors").net.cpu().eval()
        with torch.no_grad():
            fake = net.sample(len(held), generator=torch.Generator().manual_seed(0)).float()
        m = held.score(fake)
        results[name] = {"steps": end.step, "seconds": round(time.time() - t0), "fd": m["fd"],
                         "fd_ratio": m.get("fd_ratio"), "recall": m["recall"], "precision": m["precision"],
                         "coverage": m["coverage"], "confident": m["confident_fraction"],
                         "model": model_cfg, "train": train_cfg, "init": init}
        print(name, json.dumps(results[name], default=str), flush=True)
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
