"""Inversion benchmark (Explore's "start from your digit"): for every explorable shipped model, held-out MNIST test
digits inverted into its latent space (imggen.invert: encoder mean or seeded GAN optimisation, as the tab runs it);
mean/min PSNR of the reconstructions, GANs' starting PSNR, and seconds per inversion. Writes
bench/results/invert.{json,md}.

    python -m imggen bench invert               # 50 digits, 2 threads, every explorable shipped model
    python -m imggen bench invert --images 10 --models vae-mnist dcgan-mnist
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from bench.common import RESULTS, machine, save
from imggen import invert, registry
from imggen.convert import to01
from imggen.data import load_data

MODELS = ("vae-mnist", "cvae-mnist", "ae-mnist", "vaegan-mnist", "vae2d-mnist", "dcgan-mnist", "cgan-mnist",
          "stylegan-mnist")


def digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n held-out test digits (a fixed permutation of mnist5k's test split), (n, 1, 28, 28) in [0, 1]."""
    d = load_data("mnist5k", split="test")
    perm = torch.randperm(len(d), generator=torch.Generator().manual_seed(seed))[:n]
    return to01(d.images[perm]), d.labels[perm]


def run(name: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    m = registry.load(name, device="cpu")
    rs = []
    for i in range(len(x)):
        rs.append(invert.invert(m, x[i:i + 1], seed=0))
    psnr = [r.psnr for r in rs]
    start = [10 * math.log10(1 / r.start_mse) for r in rs if not math.isnan(r.start_mse)]
    row = {"model": name, "family": m.family, "method": rs[0].method, "images": len(rs),
           "psnr_mean": round(statistics.mean(psnr), 2), "psnr_min": round(min(psnr), 2),
           "mse_mean": round(statistics.mean(r.mse for r in rs), 5),
           "start_psnr_mean": round(statistics.mean(start), 2) if start else None,
           "seconds_per_inversion": round(statistics.mean(r.seconds for r in rs), 3)}
    if rs[0].label is not None:
        row["class_matches_label"] = round(sum(r.label == int(t) for r, t in zip(rs, y)) / len(rs), 3)
    return row


def markdown(res: dict) -> str:
    lines = ["# Inverting held-out digits into each model's latent space (`bench/invert.py`)", "",
             "The same fixed draw of MNIST test digits (never trained on; *n* per model), "
             f"{res['threads']} CPU threads, {res['machine']}. "
             f"GANs: {res['gan']['restarts']} seeded starts x {res['gan']['steps']} Adam steps (lr {res['gan']['lr']}) "
             "of L1 + prior + discriminator loss, the lowest-loss start kept; autoencoders: the encoder's mean. "
             "PSNR of the reconstruction on [0, 1] pixels (higher is better); *start* = the best random start "
             "before optimising. Measured on a shared machine: times are upper bounds.", "",
             "| model | method | n | PSNR mean (dB) | PSNR min | start PSNR | s / inversion | class read right |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        start = "-" if r["start_psnr_mean"] is None else f"{r['start_psnr_mean']:.1f}"
        cls = f"{100 * r['class_matches_label']:.0f} %" if "class_matches_label" in r else "-"
        lines.append(f"| {r['model']} | {r['method']} | {r['images']} | {r['psnr_mean']:.1f} | "
                     f"{r['psnr_min']:.1f} | {start} | "
                     f"{r['seconds_per_inversion']:.3f} | {cls} |")
    lines += ["", "Explore's sliders live in z, so GANs are inverted there: the style-based GAN (undertrained, and its z "
              "reaches the image through a mapping network) and some DCGAN digits stay near their start (PSNR min); "
              "the 2-D VAE can only hold a digit's rough shape."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--gan-images", type=int, default=None,
                   help="fewer digits for the GANs (seconds each on a shared CPU); default --images")
    p.add_argument("--models", nargs="*", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "invert"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    x, y = digits(a.images)
    names = a.models or [m for m in MODELS if m in registry.model_paths()]
    res = {"images": len(x), "threads": a.threads, "machine": machine(), "rows": [],
           "gan": {"restarts": invert.GAN_RESTARTS, "steps": invert.GAN_STEPS, "lr": invert.GAN_LR}}
    for name in names:
        t = time.perf_counter()
        n = len(x) if hasattr(registry.load(name, device="cpu").net, "encode") else a.gan_images or len(x)
        res["rows"].append(run(name, x[:n], y[:n]))
        print(f"{name}: {res['rows'][-1]} ({time.perf_counter() - t:.0f} s)", flush=True)
        save(a.out, res, markdown)


if __name__ == "__main__":
    main()
