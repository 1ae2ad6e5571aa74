"""Train the shipped autoencoder models on full MNIST, time-boxed, 1 CPU thread:
python scripts/train_vae.py NAME MINUTES [resume]  (NAME in ae-mnist, vae-mnist, cvae-mnist, vaegan-mnist, vae2d-mnist).
With ``resume`` training continues from checkpoints/NAME.safetensors (fresh optimiser) and the recipe's step,
epoch and time counters are summed over the sessions."""
import sys
import time

import torch

torch.set_num_threads(1)

from imggen.data import load_data  # noqa: E402
from imggen.train import TrainConfig, train  # noqa: E402

RECIPES = {  # name -> (family, model config, batch size)
    "ae-mnist": ("ae", {"latent_dim": 16}, 128),
    "vae-mnist": ("vae", {"latent_dim": 32}, 128),
    "cvae-mnist": ("cvae", {"latent_dim": 32}, 128),
    "vaegan-mnist": ("vaegan", {"latent_dim": 32}, 64),
    "vae2d-mnist": ("vae", {"latent_dim": 2}, 128),
}

if __name__ == "__main__":
    name, minutes = sys.argv[1], float(sys.argv[2])
    family, model_cfg, bs = RECIPES[name]
    data = load_data("mnist", split="train")
    test = load_data("mnist", split="test")
    cfg = TrainConfig(epochs=1000, batch_size=bs, lr=1e-3, betas=(0.9, 0.999), loss="bce", use_ema=False,
                      time_limit_s=minutes * 60, eval_samples=1000, seed=0)
    out = f"checkpoints/{name}.safetensors"
    resume = len(sys.argv) > 3 and sys.argv[3] == "resume"
    model, prev = None, {}
    if resume:
        from imggen import checkpoint
        from imggen.registry import load

        prev = checkpoint.read_metadata(out)["recipe"]
        model = load(out).net.train()
    t0 = time.time()
    for ev in train(family, data, cfg, model_config=model_cfg, model=model, out=out, name=name, eval_data=test):
        if ev.kind != "step":
            losses = " ".join(f"{k}={v:.3f}" for k, v in ev.losses.items())
            mets = " ".join(f"{k}={v:.3g}" for k, v in ev.metrics.items() if isinstance(v, (int, float)))
            print(f"[{ev.kind}] {time.time() - t0:.0f}s step {ev.step} epoch {ev.epoch:.2f} {losses} {mets} {ev.message}",
                  flush=True)

    if resume:
        meta = checkpoint.read_metadata(out)
        rec = meta["recipe"]
        total = {k: round(prev.get(k, 0) + rec.get(k, 0), 2) for k in ("steps", "train_seconds")}
        total["epochs"] = round(total["steps"] * bs / len(data), 2)  # from steps: older recipes stored planned epochs
        total["sessions"] = prev.get("sessions", 1) + 1
        net = load.__wrapped__(out).net
        checkpoint.update_metadata(out, net, recipe=total)
        print("resumed; totals", total, flush=True)
