"""Discriminator-guided latent refinement (``sample(..., refine_steps=k)``, DDLS's energy without noise) on the
shipped GANs: held-out digit metrics (classifier-FD and its floor, coverage, confident fraction, precision /
recall) of the same latents refined 0, 10, 20, 40 and 60 steps at the default step size and 10 steps at larger ones, and
the time it adds to a 16-sample grid, side by side in one run. Writes bench/results/refine.{json,md}.

    python -m imggen bench refine --threads 1
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from bench.common import RESULTS, grid_ms, quality, summary
from imggen import registry
from imggen.evaluate import heldout
from imggen.models.gan import REFINE_STEP_SIZE

MODELS = ("dcgan-mnist", "cgan-mnist")


def run_model(name: str, n: int, settings: list[tuple[int, float]], data: str | None) -> list[dict]:
    m = registry.load(name)
    net, c = m.net, m.config
    held = heldout(n, data, c.image_size, c.channels)
    n = len(held)
    g = torch.Generator(device=net.device).manual_seed(0)
    labels = (torch.arange(n, device=net.device) % c.num_classes) if getattr(c, "num_classes", 0) else None
    z0 = net.latents(n, generator=g)  # the same latents for every setting: only refinement differs
    rows, done = [], {}  # step size -> (steps, latents, seconds) refined so far: more steps continue from there
    for steps, size in settings:
        t = time.perf_counter()
        k, z, spent = done.get(size, (0, z0, 0.0))
        if k > steps:
            k, z, spent = 0, z0, 0.0
        z = net.refine(z, labels, steps=steps - k, step_size=size)  # deterministic: k + (steps - k) = steps
        spent += time.perf_counter() - t
        done[size] = (steps, z, spent)
        t = time.perf_counter()
        xs, ds = [], []
        with torch.no_grad():
            for i in range(0, n, 500):
                yb = None if labels is None else labels[i:i + 500]
                xs.append(net.G(z[i:i + 500], yb))
                ds.append(net.D(xs[-1], yb).flatten())
        x, d = torch.cat(xs), torch.cat(ds)
        secs = spent + time.perf_counter() - t  # all refinement steps of this setting, then G and D
        r = held.score(x, labels)
        row = {"model": name, "steps": steps, "step_size": size, "samples": n, **quality(r),
               "mean_D": d.mean().item(), "seconds": secs,
               "grid16_ms": grid_ms(m, refine_steps=steps, refine_step_size=size)}
        rows.append(row)
        print(f"{name} steps {steps:3d} size {size:g}: {summary(row)} D {row['mean_D']:.3f} | "
              f"grid {row['grid16_ms']:.0f} ms", flush=True)
    return rows


def markdown(res: dict) -> str:
    lines = ["# Discriminator-guided latent refinement", "",
             f"`python -m imggen bench refine` — {res['samples']} samples per setting (the same latents, seed 0) vs "
             f"{res['samples']} held-out test digits; floor = the other half of the test set; {res['threads']} CPU "
             f"thread(s), {res['machine']}. Grid = one 16-sample draw as the Sample tab makes it (median of 5).", "",
             "| model | steps × size | FD (× floor) | coverage | confident | precision | recall | label acc. | mean D "
             "| grid of 16 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        base = next(b for b in res["rows"] if b["model"] == r["model"])  # the first setting (0 steps by default)
        lab = f"{100 * r['label_accuracy']:.1f} %" if "label_accuracy" in r else "–"
        lines.append(f"| {r['model']} | {r['steps']} × {r['step_size']:g} | {r['fd']:.3f} ({r['fd_ratio']:.2f}×) | "
                     f"{r['coverage']}/10 | {100 * r['confident_fraction']:.1f} % | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {lab} | {r['mean_D']:.3f} | {r['grid16_ms']:.0f} ms "
                     f"({r['grid16_ms'] / base['grid16_ms']:.1f}×) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="default: the shipped GANs")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--steps", type=int, nargs="*", default=[0, 10, 20, 40, 60])
    p.add_argument("--step-size", type=float, default=REFINE_STEP_SIZE)
    p.add_argument("--extra", nargs="*", default=["10x0.03", "10x0.1"], help="more settings as STEPSxSIZE")
    p.add_argument("--data", default=None, help="test data (default: full MNIST when present, else mnist5k)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "refine"))
    p.add_argument("--merge", nargs="*", help="only combine these result JSONs (e.g. one run per model) into --out")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.merge:
        parts = [json.loads(Path(f).read_text()) for f in a.merge]
        res = {**parts[0], "rows": [r for part in parts for r in part["rows"]],
               "threads": "/".join(str(part["threads"]) for part in parts)}
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(markdown(res))
        return
    torch.set_num_threads(a.threads)
    names = a.models if a.models is not None else [m for m in MODELS if m in registry.model_paths()]
    settings = [(s, a.step_size) for s in a.steps]
    settings += [(int(e.split("x")[0]), float(e.split("x")[1])) for e in a.extra]
    res = {"threads": a.threads, "samples": a.samples, "machine": f"{platform.machine()} {platform.processor()}".strip(),
           "rows": [r for name in names for r in run_model(name, a.samples, settings, a.data)]}
    res["samples"] = res["rows"][0]["samples"] if res["rows"] else a.samples
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))


if __name__ == "__main__":
    main()
