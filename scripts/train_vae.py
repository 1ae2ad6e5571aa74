"""Train the shipped autoencoder models on full MNIST, time-boxed, 1 CPU thread:
python scripts/train_vae.py NAME MINUTES [resume]  (NAME in ae-mnist, vae-mnist, cvae-mnist, vaegan-mnist, vae2d-mnist:
the recipes of imggen.training.recipes). With ``resume`` training continues from checkpoints/NAME.safetensors
(fresh optimiser) and the checkpoint's recipe lists every session under "history" with their totals."""
import sys
import time

import torch

torch.set_num_threads(1)

from imggen.data import load_data  # noqa: E402
from imggen.train import TrainConfig, train  # noqa: E402
from imggen.training import WarmStart, recipes  # noqa: E402

NAMES = ("ae-mnist", "vae-mnist", "cvae-mnist", "vaegan-mnist", "vae2d-mnist")

if __name__ == "__main__":
    name, minutes = sys.argv[1], float(sys.argv[2])
    if name not in NAMES:
        sys.exit(f"NAME must be one of {', '.join(NAMES)}")
    recipe = recipes.get(name)
    data = load_data(recipe.data, split="train")
    test = load_data(recipe.data, split="test")
    cfg = TrainConfig(**{**recipe.train, "time_limit_s": minutes * 60, "seed": 0})
    out = f"checkpoints/{name}.safetensors"
    model = init = None
    if len(sys.argv) > 3 and sys.argv[3] == "resume":
        from imggen.registry import warm_start

        model, meta = warm_start(out, recipe.family)
        init = WarmStart(out, meta["recipe"])
    t0 = time.time()
    for ev in train(recipe.family, data, cfg, model_config=recipe.model, model=model, out=out, name=name,
                    eval_data=test, init=init):
        if ev.kind != "step":
            losses = " ".join(f"{k}={v:.3f}" for k, v in ev.losses.items())
            mets = " ".join(f"{k}={v:.3g}" for k, v in ev.metrics.items() if isinstance(v, (int, float)))
            print(f"[{ev.kind}] {time.time() - t0:.0f}s step {ev.step} epoch {ev.epoch:.2f} {losses} {mets} {ev.message}",
                  flush=True)
