"""Classic MLP VAE (Kingma & Welling 2014: 784-400-20, Bernoulli decoder; optimiser as in pytorch/examples vae:
ReLU, Adam 1e-3, batch 128) vs the project's conv VAE (vae-mnist recipe), trained side by side in one run on the
same data by the same loop for the same wall time, then scored on the same held-out images:
IWAE NLL (Burda et al. 2015), ELBO, reconstruction error and classifier-FD of samples.

python -m imggen bench vae [--minutes 6] [--iwae-k 1000] [--iwae-images 500]
Writes bench/results/vae.json and vae.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

torch.set_num_threads(1)

from imggen.data import load_data  # noqa: E402
from imggen.evaluate import HeldOut  # noqa: E402
from imggen.models.vae import VAE, VAEConfig  # noqa: E402
from imggen.train import TrainConfig, train  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


class ClassicVAE(VAE):
    """The MLP VAE of Kingma & Welling: one 400-unit hidden layer each side, 20-d latent, Bernoulli pixels.
    Inherits the ELBO, IWAE and sampling code, so both models are scored by identical functions."""

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        D = config.channels * config.image_size ** 2
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, 400), nn.ReLU(), nn.Linear(400, 2 * config.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(config.latent_dim, 400), nn.ReLU(), nn.Linear(400, D),
                                     nn.Unflatten(1, (config.channels, config.image_size, config.image_size)))


def run_arm(name, model, data, cfg, cpu_seconds=None):
    t0, c0 = time.time(), time.process_time()
    last = None
    over_budget = (lambda: time.process_time() - c0 > cpu_seconds) if cpu_seconds else (lambda: False)
    for ev in train("vae", data, cfg, model=model, should_stop=over_budget):
        if ev.kind in ("epoch", "end"):
            last = ev
            print(f"  {name}: {ev.kind} step {ev.step} epoch {ev.epoch:.2f} elbo(train batch) {ev.losses.get('elbo', 0):.2f}",
                  flush=True)
    return {"train_seconds": round(time.time() - t0, 1), "train_cpu_seconds": round(time.process_time() - c0, 1),
            "steps": last.step, "epochs": round(last.epoch, 2)}


@torch.no_grad()
def score(model, test, iwae_k, iwae_images, fd_samples, seed=0):
    model.eval()
    t0 = time.time()
    out = model.eval_metrics(test.images, iwae_k=iwae_k, iwae_images=iwae_images, seed=seed)
    held = HeldOut.split(test, fd_samples)
    dm = held.score(model.sample(len(held), generator=torch.Generator().manual_seed(seed)))
    out.update({k: dm[k] for k in ("fd", "fd_floor", "fd_ratio", "coverage", "confident_fraction", "precision", "recall")})
    out["eval_seconds"] = round(time.time() - t0, 1)
    out["parameters"] = sum(p.numel() for p in model.parameters())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=6.0, help="training wall time per model")
    ap.add_argument("--cpu-seconds", type=float, default=None,
                    help="train each model for this much process CPU time instead (fair on a shared machine)")
    ap.add_argument("--iwae-k", type=int, default=1000)
    ap.add_argument("--iwae-images", type=int, default=500, help="test images for the IWAE bound (CPU time)")
    ap.add_argument("--fd-samples", type=int, default=5000)
    ap.add_argument("--data", default="mnist")
    a = ap.parse_args(argv)
    data, test = load_data(a.data, split="train"), load_data(a.data, split="test")
    cfg = TrainConfig(epochs=10_000, batch_size=128, lr=1e-3, betas=(0.9, 0.999), use_ema=False,
                      time_limit_s=None if a.cpu_seconds else a.minutes * 60, eval_samples=0, num_grid=16, seed=0)
    arms = {
        "classic MLP VAE (784-400-20)": ClassicVAE(VAEConfig(latent_dim=20)),
        "imggen conv VAE (vae-mnist recipe)": VAE(VAEConfig(latent_dim=32)),
    }
    results = {}
    for name, model in arms.items():
        torch.manual_seed(0)
        print(f"training {name} for " + (f"{a.cpu_seconds:g} CPU s" if a.cpu_seconds else f"{a.minutes:g} min"), flush=True)
        res = run_arm(name, model, data, cfg, a.cpu_seconds)
        res.update(score(model, test, a.iwae_k, a.iwae_images, a.fd_samples))
        results[name] = res
        print(json.dumps(res, indent=1), flush=True)
    classic, ours = results.values()
    gain = classic["iwae_nll"] - ours["iwae_nll"]
    report = {"benchmark": "vae", "data": f"{data.name} train ({len(data)}) / test ({len(test)})",
              "train_config": {k: v for k, v in asdict(cfg).items() if k not in ("device",)},
              "budget_per_model": f"{a.cpu_seconds:g} CPU s" if a.cpu_seconds else f"{a.minutes * 60:g} wall s",
              "iwae_k": a.iwae_k, "iwae_images": a.iwae_images,
              "hardware": f"CPU ({platform.processor() or platform.machine()}), 1 torch thread, shared machine",
              "results": results, "nll_gain_nats": gain, "target_gain_nats": 5.0, "target_met": gain >= 5.0}
    OUT.mkdir(exist_ok=True)
    (OUT / "vae.json").write_text(json.dumps(report, indent=2))
    keys = [("iwae_nll", "IWAE NLL (nats) ↓"), ("iwae_bits_per_dim", "bits/dim ↓"), ("elbo", "ELBO (nats) ↑"),
            ("recon_mse", "recon MSE ↓"), ("fd", "classifier-FD ↓"), ("fd_ratio", "FD / real floor ↓"),
            ("steps", "train steps"), ("epochs", "epochs"), ("train_seconds", "train wall s"),
            ("train_cpu_seconds", "train CPU s"), ("parameters", "parameters")]
    md = ["# VAE benchmark: classic MLP VAE vs imggen conv VAE", "",
          f"Same data ({report['data']}), same training loop and optimiser (Adam lr 1e-3, batch 128), "
          + (f"same CPU time ({a.cpu_seconds:g} s of process time each, 1 thread; the shared 2-core machine was "
             "saturated by other jobs, so equal wall time would not have meant equal compute). "
             if a.cpu_seconds else f"same wall time ({a.minutes:g} min each, 1 CPU thread on a shared 2-core machine). ")
          + 
          f"IWAE bound with k={a.iwae_k} on {a.iwae_images} test images (fixed random subset); ELBO and "
          f"reconstruction MSE (on [0,1] pixels) on all {len(test)} test images; classifier-FD of "
          f"{min(a.fd_samples, len(test) // 2)} samples vs held-out test digits. Bernoulli likelihood of grey levels "
          "(not binarised MNIST), so nats are not comparable with binarised-MNIST papers. The machine was shared "
          "with other jobs, so the CPU seconds each arm actually got are reported too.", "",
          "| metric | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for k, label in keys:
        md.append(f"| {label} | " + " | ".join(_fmt(r.get(k)) for r in results.values()) + " |")
    md += ["", f"**NLL gain of the project VAE: {gain:+.2f} nats** (target ≥ 5: "
           f"{'met' if gain >= 5 else 'NOT met'})."]
    (OUT / "vae.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def _fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
