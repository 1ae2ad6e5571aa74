"""Train stylegan-mnist from its named recipe with one CPU thread, optionally warm-started (``--init``), writing a
snapshot of the inference weights every ``--snapshot-every`` steps so a usable checkpoint exists whenever the run
is cut short. The run is ``imggen train --recipe stylegan-mnist [--init CKPT]`` plus that hook.

    nohup .venv/bin/python scripts/train_stylegan.py --init checkpoints/stylegan-mnist.safetensors \\
        --out runs/stylegan-mnist.safetensors > logs/stylegan-mnist.log 2>&1 &
"""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="stylegan-mnist")
    p.add_argument("--out", required=True)
    p.add_argument("--init", default="", help="warm-start from this checkpoint")
    p.add_argument("--time-limit", type=float, default=None, help="seconds of training (default: the recipe's)")
    p.add_argument("--model-config", default="", help="model config overrides as JSON (from scratch only)")
    p.add_argument("--train-config", default="", help="TrainConfig overrides as JSON")
    p.add_argument("--snapshot-every", type=int, default=800, help="write --out every N steps (0 = only at the end)")
    a = p.parse_args()
    torch.set_num_threads(1)

    from imggen.data import load_data
    from imggen.registry import warm_start
    from imggen.train import TrainConfig, train
    from imggen.training import WarmStart, recipes
    from imggen.training.loop import snapshot_every

    recipe = recipes.get(a.recipe)
    data = load_data(recipe.data, split="train", limit=recipe.limit)
    over = {**json.loads(a.train_config or "{}"), **({"time_limit_s": a.time_limit} if a.time_limit else {})}
    cfg = TrainConfig(**{"log_every": 100, **recipe.train, **over, "device": "cpu"})
    model_cfg = {**recipe.model, **json.loads(a.model_config or "{}")}
    if a.init and a.model_config:
        raise SystemExit("--model-config applies to a run from scratch; a warm start keeps its checkpoint's config")
    model = init = None
    if a.init:
        model, meta = warm_start(a.init, recipe.family)
        init = WarmStart(a.init, meta["recipe"])
    print(f"{a.recipe}: init={a.init or 'none'} model {model_cfg} train {cfg}", flush=True)
    t0 = time.time()
    for ev in train(recipe.family, data, cfg, model_config=model_cfg, model=model, init=init, out=a.out,
                    name=a.recipe, callbacks=[snapshot_every(a.out, a.snapshot_every)]):
        print(f"{ev.summary()} {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
