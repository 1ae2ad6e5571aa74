"""GAN benchmark: the classic DCGAN recipe vs the project's best recipe on the same data and CPU time budget,
then a mode-collapse recipe vs its cure with class coverage per epoch.

    python -m imggen bench gan --budget-s 180 --collapse-steps 2000      # 1 thread by default

Writes bench/results/gan.json and bench/results/gan.md. Every number is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (family, image size, model config, TrainConfig overrides, what it is)
RECIPES = {
    "classic-dcgan": ("dcgan", 64,
                      {"latent_dim": 100, "g_width": 32, "d_width": 32, "upsample": "conv_transpose",
                       "d_norm": "batch", "use_spectral_norm": False},
                      {"loss": "bce", "lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 128, "use_ema": False},
                      "Radford et al. 2016: 64 px, ConvT G + BN, BN D, Adam 2e-4 β1 0.5, batch 128, BCE "
                      "(widths 32 instead of 128 to fit a CPU)"),
    "best": ("dcgan", 28,
             {"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "nearest", "use_spectral_norm": True,
              "blocks": 1},
             {"loss": "hinge", "lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "use_ema": True},
             "imggen: 28 px, nearest+conv G and one extra 3x3 conv per resolution in G and D (blocks 1), "
             "spectral-norm D, hinge, EMA 0.999, batch 64 (the dcgan-mnist architecture, which trained at batch 128)"),
    "collapse": ("dcgan", 28,
                 {"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "conv_transpose", "g_norm": "none",
                  "use_spectral_norm": False, "use_minibatch_std": False},
                 {"loss": "bce", "lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "use_ema": False},
                 "plain GAN: DCGAN G without BatchNorm (the failure case of Arjovsky et al. 2017), unnormalised D, "
                 "BCE, Adam 2e-4, batch 64"),
    "cure": ("dcgan", 28,
             {"latent_dim": 64, "g_width": 64, "d_width": 64, "upsample": "nearest", "g_norm": "batch",
              "use_spectral_norm": True, "use_minibatch_std": True},
             {"loss": "bce", "lr": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "use_ema": True},
             "same loss/lr/batch + BatchNorm in G, spectral norm and minibatch-std in D, EMA of G, nearest+conv G"),
}


def run_recipe(name: str, data, test, budget_s: float | None, eval_samples: int, epoch_eval: int, seed: int,
               spec: tuple | None = None, max_steps: int | None = None) -> dict:
    """Train one recipe (``RECIPES[name]``, or ``spec`` in the same form) until ``budget_s`` CPU seconds (None: no
    limit) or ``max_steps`` steps, then measure ``eval_samples`` samples against the test set."""
    from imggen.evaluate import HeldOut
    from imggen.registry import build
    from imggen.train import TrainConfig, train

    family, size, model_cfg, train_over, about = spec or RECIPES[name]
    from imggen.data import _resize  # same images, resized for the 64 px recipe
    import copy

    d = data if data.images.shape[-1] == size else _resize(copy.copy(data), size, 1)
    cfg = TrainConfig(epochs=10_000, eval_samples=epoch_eval, seed=seed, device="cpu", num_grid=16, max_steps=max_steps,
                      **train_over)
    torch.manual_seed(seed)
    model = build(family, channels=1, image_size=size, **model_cfg)
    kept = {}  # the run's snapshot hook, to take the inference weights once the timing is done
    keep = lambda ev, snap: kept.setdefault("snapshot", snap)  # noqa: E731
    curve, t0, c0, end = [], time.time(), time.process_time(), None
    over_budget = lambda: budget_s is not None and time.process_time() - c0 > budget_s  # CPU time: fair on a shared machine  # noqa: E731
    for ev in train(family, d, cfg, model=model, should_stop=over_budget, callbacks=[keep]):
        if ev.kind == "epoch":
            curve.append({"epoch": round(ev.epoch, 2), "step": ev.step, "seconds": round(time.time() - t0, 1),
                          **{k: ev.metrics[k] for k in ("coverage", "class_entropy", "fd", "confident_fraction")
                             if k in ev.metrics}})
        if ev.kind in ("end", "error"):
            end = ev
    wall, cpu = time.time() - t0, time.process_time() - c0
    net = kept["snapshot"].model()
    held = HeldOut.split(test, eval_samples)
    g = torch.Generator().manual_seed(seed + 1)
    m = held.score(net.sample(len(held), generator=g))
    steps_per_epoch = max(1, len(d) // cfg.batch_size)
    sps = end.step / cpu  # per CPU second (1 thread), comparable between recipes on a shared machine
    return {"recipe": name, "about": about, "family": family, "image_size": size, "model_config": model_cfg,
            "train_config": {k: v for k, v in asdict(cfg).items() if k != "device"}, "params": net.num_params(),
            "steps": end.step, "epochs": round(end.epoch, 3), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "steps_per_s": round(sps, 3),
            "s_per_epoch": round(steps_per_epoch / sps, 1), "status": end.kind, "curve": curve,
            **{k: v for k, v in m.items() if k != "class_histogram"}, "class_histogram": m["class_histogram"]}


def coverage_summary(curve: list[dict]) -> str:
    """One line on a per-epoch coverage curve: when it first covers all 10 classes and whether it keeps them."""
    cov = [e["coverage"] for e in curve]
    n = len(cov)
    text = (f"{n} epochs; ≥ 8 classes in {sum(c >= 8 for c in cov) / n:.0%} of them, all 10 in "
            f"{sum(c == 10 for c in cov) / n:.0%}; mean class entropy {sum(e['class_entropy'] for e in curve) / n:.2f} bits")
    if 10 not in cov:
        return text + f"; never covers all 10 (at most {max(cov)})"
    first = cov.index(10)
    after = cov[first:]
    if min(after) == 10:
        return text + f"; all 10 from epoch {first + 1} to the end"
    text += (f"; first all 10 at epoch {first + 1}, then below 10 in {sum(c < 10 for c in after)} of the "
             f"{len(after)} epochs from there (down to {min(after)})")
    if cov[-1] < 10:
        return text + f", {cov[-1]} at the last epoch"
    streak = next(i for i in range(n - 1, -1, -1) if cov[i] < 10) + 2
    return text + f"; all 10 from epoch {streak} to the end"


def markdown(res: dict) -> str:
    a = res["args"]
    a_sbs, a_cvc = res.get("side_by_side_args", a), res.get("collapse_vs_cure_args", a)
    when = {p: f", measured {res[p + '_measured']}" for p in ("side_by_side", "collapse_vs_cure") if p + "_measured" in res}
    lines = [f"# GAN benchmark ({res['date']}, {res['hardware']})", "",
             f"Data: `{res['data']}` ({res['train_images']} training images); metrics on {a['eval_samples']} samples "
             f"vs the same number of `{res['test']}` test images (FD floor = real-vs-real on a disjoint half).", ""]
    if res["side_by_side"]:
        lines += side_by_side_markdown(res["side_by_side"], a_sbs, when.get("side_by_side", ""))
    if res["collapse_vs_cure"]:
        lines += collapse_markdown(res["collapse_vs_cure"], a_cvc, when.get("collapse_vs_cure", ""))
    return "\n".join(lines)


def side_by_side_markdown(rows: list[dict], a: dict, when: str) -> list[str]:
    lines = [f"## Classic DCGAN vs imggen's best recipe ({a['budget_s']:.0f} s CPU each{when})", "",
             "| recipe | px | params | steps | epochs | steps/s | s/epoch | FD | FD floor | FD/floor | coverage | "
             "confident | precision | recall |", "|" + "---|" * 14]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['image_size']} | {r['params'] / 1e6:.2f}M | {r['steps']} | {r['epochs']:.2f} | "
                     f"{r['steps_per_s']:.2f} | {r['s_per_epoch']:.0f} | {r['fd']:.2f} | {r['fd_floor']:.2f} | "
                     f"{r['fd_ratio']:.1f} | {r['coverage']}/10 | {r['confident_fraction']:.3f} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} |")
    return lines + ["", *[f"- **{r['recipe']}**: {r['about']}" for r in rows], ""]


def collapse_markdown(rows: list[dict], a: dict, when: str) -> list[str]:
    lines = [f"## Mode collapse vs cure ({a['collapse_steps']} steps each, epochs of {a['collapse_limit']} training "
             f"images, seed {a['seed']}{when})", "",
              "| recipe | steps | CPU s | final coverage | class entropy (bits) | final FD | confident | class histogram |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | {r['steps']} | {r['cpu_s']:.0f} | {r['coverage']}/10 | {r['class_entropy']:.2f} | "
                     f"{r['fd']:.2f} | {r['confident_fraction']:.3f} | {r['class_histogram']} |")
    lines.append("")
    lines += [f"- {r['recipe']}: {coverage_summary(r['curve'])}" for r in rows if r["curve"]]
    lines += ["", "Coverage per epoch (classes with ≥ 2% of the samples; H = entropy of the class histogram in bits, "
              f"3.32 = all 10 equally often; per-epoch eval on {a['epoch_eval']} samples):", "", "| epoch | " + " | ".join(r["recipe"] for r in rows) + " |",
              "|---" * (1 + len(rows)) + "|"]
    curves = [r["curve"] for r in rows]
    for i in range(max(len(c) for c in curves)):
        cells = [f"{c[i]['coverage']} (H {abs(c[i]['class_entropy']):.2f}, FD {c[i]['fd']:.1f})" if i < len(c) else ""
                 for c in curves]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return lines + ["", *[f"- **{r['recipe']}**: {r['about']}" for r in rows], ""]


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The options every GAN benchmark (this one, gan_aids.py) shares."""
    p.add_argument("--data", default=None, help="mnist (default when available) or mnist5k")
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)


def start(a: argparse.Namespace) -> str:
    """Apply --threads; the data set to use: --data, else full MNIST when present, else the built-in 5k digits."""
    from imggen.data import default_mnist_root

    torch.set_num_threads(a.threads)
    return a.data or ("mnist" if default_mnist_root() else "mnist5k")


def header(a: argparse.Namespace, name: str, train_images: int) -> dict:
    """Date, machine, data and arguments at the top of a results file."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "hardware": f"{platform.processor() or platform.machine()}, {a.threads} thread(s), shared 2-core machine",
            "data": name, "train_images": train_images, "args": vars(a)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-s", type=float, default=180.0, help="CPU seconds per recipe (classic vs best)")
    p.add_argument("--collapse-steps", type=int, default=2000, help="steps per recipe (collapse vs cure)")
    p.add_argument("--collapse-budget-s", type=float, default=None, help="optional CPU-seconds cap per recipe "
                   "(collapse vs cure)")
    p.add_argument("--collapse-limit", type=int, default=6400, help="training images for the collapse runs "
                   "(one epoch = this many images)")
    p.add_argument("--epoch-eval", type=int, default=500, help="samples for per-epoch coverage")
    p.add_argument("--only", default="", help="comma-separated subset of recipes (for quick checks)")
    p.add_argument("--out", default=str(RESULTS / "gan"), help="results path without extension (.json and .md)")
    add_common_args(p)
    a = p.parse_args()
    name = start(a)

    from imggen.data import load_data

    data, test = load_data(name, split="train"), load_data(name, split="test")
    only = set(a.only.split(",")) if a.only else set(RECIPES)
    for pair in (("classic-dcgan", "best"), ("collapse", "cure")):  # compared side by side: never half a pair
        if only & set(pair) and not set(pair) <= only:
            raise SystemExit(f"--only {a.only}: {pair[0]} and {pair[1]} are compared side by side in one run; "
                             "re-run both or neither")
    res = {**header(a, name, len(data)), "test": name, "side_by_side": [], "collapse_vs_cure": []}
    for r in ("classic-dcgan", "best"):
        if r in only:
            res["side_by_side"].append(run_recipe(r, data, test, a.budget_s, a.eval_samples, 0, a.seed))
            print(json.dumps({k: v for k, v in res["side_by_side"][-1].items() if k != "curve"}), flush=True)
    small = load_data(name, split="train", limit=a.collapse_limit)
    for r in ("collapse", "cure"):
        if r in only:
            res["collapse_vs_cure"].append(run_recipe(r, small, test, a.collapse_budget_s, a.eval_samples,
                                                      a.epoch_eval, a.seed, max_steps=a.collapse_steps))
            print(json.dumps(res["collapse_vs_cure"][-1]), flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prev_file = out.with_suffix(".json")
    if a.only and prev_file.exists():  # a partial re-run keeps the other part's earlier results (and says so)
        prev = json.loads(prev_file.read_text())
        for part in ("side_by_side", "collapse_vs_cure"):
            if not res[part] and prev.get(part):
                res[part] = prev[part]
                res[f"{part}_measured"] = prev.get(f"{part}_measured", prev["date"])
                res[f"{part}_args"] = prev.get(f"{part}_args", prev["args"])
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and .md")


if __name__ == "__main__":
    main()
