"""GAN training aids, each switched on alone and all together, against the same base recipe: same data (a small
960-image MNIST subset, where a discriminator overfits), same number of steps, same seed; FD, coverage,
confident fraction, precision/recall on 2,000 samples vs the test set, and each aid's CPU cost per step.

    python -m imggen bench gan_aids --steps 1500      # 1 thread; about 20 CPU-minutes

Writes bench/results/gan_aids.json and bench/results/gan_aids.md. Every number is measured in this run.
"""
from __future__ import annotations

import argparse
import json

from bench.gan import RESULTS, add_common_args, header, run_recipe, start

BASE_MODEL = {"latent_dim": 64, "g_width": 32, "d_width": 32, "upsample": "nearest", "use_spectral_norm": True}
BASE_TRAIN = {"loss": "hinge", "lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "use_ema": False}
AIDS = {  # name -> (model config changes, TrainConfig changes, what it is)
    "base": ({}, {}, "hinge loss, spectral-norm D, nearest+conv G with BatchNorm, Adam 2e-4 (0.5, 0.999), batch 64"),
    "+EMA": ({}, {"use_ema": True, "ema_decay": 0.999}, "EMA of G's weights (decay 0.999 with warm-up)"),
    "+DiffAugment": ({}, {"use_augment": True}, "differentiable translation/cutout/brightness on real and fake (Zhao et al. 2020)"),
    "+minibatch-std": ({"use_minibatch_std": True}, {}, "minibatch standard-deviation channel before D's head (ProGAN)"),
    "+R1": ({}, {"r1_gamma": 1.0}, "R1 gradient penalty on real images, γ = 1 (Mescheder et al. 2018)"),
    "+top-k": ({}, {"g_topk": 0.5}, "G trained on the half of each batch D finds most real (Sinha et al. 2020)"),
    "all": ({"use_minibatch_std": True}, {"use_ema": True, "ema_decay": 0.999, "use_augment": True, "r1_gamma": 1.0},
            "EMA, DiffAugment, minibatch-std and R1 together"),
}


def markdown(res: dict) -> str:
    a, base = res["args"], res["runs"][0]
    lines = [f"# GAN training aids ({res['date']}, {res['hardware']})", "",
             f"Each run: {a['steps']} steps on {res['train_images']} `{res['data']}` training images (batch 64, seed "
             f"{a['seed']}, G/D width 32); metrics on {a['eval_samples']} samples vs as many test images. "
             "CPU s/step is per CPU second on one thread (comparable on a shared machine).", "",
             "| recipe | FD | FD / base | coverage | confident | precision | recall | CPU s/step | cost / base |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        spp = r["cpu_s"] / max(r["steps"], 1)
        lines.append(f"| {r['recipe']} | {r['fd']:.2f} | {r['fd'] / base['fd']:.2f} | {r['coverage']}/10 | "
                     f"{r['confident_fraction']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {spp:.3f} | "
                     f"{spp / (base['cpu_s'] / max(base['steps'], 1)):.2f} |")
    lines += ["", *[f"- **{r['recipe']}**: {r['about']}" for r in res["runs"]], "",
              "One seed per recipe; the run-to-run spread was not measured.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--limit", type=int, default=960, help="training images")
    p.add_argument("--only", default="", help="comma-separated subset of recipes (quick checks; base is always run)")
    add_common_args(p)
    a = p.parse_args()
    name = start(a)

    from imggen.data import load_data

    data, test = load_data(name, split="train", limit=a.limit), load_data(name, split="test")
    names = ["base"] + [n for n in AIDS if n != "base" and (not a.only or n in a.only.split(","))]
    res = {**header(a, name, len(data)), "runs": []}
    for n in names:
        dm, dt, about = AIDS[n]
        spec = ("dcgan", 28, {**BASE_MODEL, **dm}, {**BASE_TRAIN, **dt}, about)
        r = run_recipe(n, data, test, float("inf"), a.eval_samples, 0, a.seed, spec=spec, max_steps=a.steps)
        res["runs"].append(r)
        print(json.dumps({k: v for k, v in r.items() if k not in ("curve", "train_config")}), flush=True)
    if a.only:
        print("--only: a partial run; bench/results/ left as it was")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gan_aids.json").write_text(json.dumps(res, indent=1))
    (RESULTS / "gan_aids.md").write_text(markdown(res))
    print(f"wrote {RESULTS / 'gan_aids.md'}")


if __name__ == "__main__":
    main()
