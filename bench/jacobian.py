"""Jacobian-based truncation (``sample(..., keep=q)``, Tanielian et al. 2020) on the shipped unconditional GAN:
held-out digit metrics (classifier-FD and its floor, coverage, confident fraction, precision / recall) when only the
fraction q of latents where G is least steep is kept, alone and followed by discriminator-guided refinement, and
the time it adds to a 16-sample grid, side by side in one run. Writes bench/results/jacobian.{json,md}.

One pool of samples/min(keep) latents (seed 0) is scored once; a row with keep q keeps the q least steep of the
pool — the rule ``sample(n, keep=q)`` applies to its own n/q latents — and measures a seeded random n of them.
The sampler itself, seed by seed, is measured by ``imggen eval``; its JSON files in bench/results/jacobian-evals/
become a second table (``--tables`` rebuilds both tables without re-measuring).

    python -m imggen bench jacobian --threads 2
    python -m imggen eval dcgan-mnist --keep 0.65 --seed 1 \
        > bench/results/jacobian-evals/dcgan-mnist.keep0.65.seed1.json
    python -m imggen bench jacobian --tables
"""
from __future__ import annotations

import argparse
import json
import math
import platform
from pathlib import Path

import torch

from bench.common import RESULTS, grid_ms, quality, summary
from imggen import registry
from imggen.evaluate import heldout
from imggen.models.gan import REFINE_STEP_SIZE

MODELS = ("dcgan-mnist",)


def run_model(name: str, n: int, settings: list[tuple[float, int]], data: str | None,
              probes: int | None = None) -> list[dict]:
    m = registry.load(name)
    net, c = m.net, m.config
    held = heldout(n, data, c.image_size, c.channels)
    n = len(held)
    pool = math.ceil(n / min(q for q, _ in settings) - 1e-9)
    g = torch.Generator(device=net.device).manual_seed(0)
    z = net.latents(pool, generator=g)
    order = net.steepness(z, generator=g, probes=probes).argsort(stable=True)
    rows = []
    for keep, steps in settings:
        kept = order[:math.ceil(pool * keep - 1e-9)]
        pick = kept[torch.randperm(len(kept), generator=torch.Generator().manual_seed(1))[:n]].sort().values
        zk = net.refine(z[pick], None, steps=steps) if steps else z[pick]
        with torch.no_grad():
            x = torch.cat([net.G(zk[i:i + 500]) for i in range(0, n, 500)])
        r = held.score(x)
        row = {"model": name, "keep": keep, "refine_steps": steps, "refine_step_size": REFINE_STEP_SIZE,
               "probes": probes or "default", "samples": n, "pool": pool, **quality(r),
               "grid16_ms": grid_ms(m, keep=keep, refine_steps=steps)}
        rows.append(row)
        print(f"{name} keep {keep:g} refine {steps}: {summary(row)} | grid {row['grid16_ms']:.0f} ms", flush=True)
    return rows


def direct_rows(folder: Path) -> list[dict]:
    """``imggen eval --keep`` results (one sampler draw per seed) in files MODEL.*.json, by model, keep, seed."""
    rows = []
    for f in sorted(folder.glob("*.json")):
        r = json.loads(f.read_text())
        rows.append({"model": f.name.split(".")[0], "file": f.name, "keep": r["sampling"].get("keep", 1.0),
                     "refine_steps": r["sampling"].get("refine_steps", 0), "seed": r["seed"],
                     **quality(r)})
    return sorted(rows, key=lambda r: (r["model"], -r["keep"], r["refine_steps"], r["seed"]))


def markdown(res: dict) -> str:
    lines = ["# Jacobian-based truncation", "",
             f"`python -m imggen bench jacobian` — {res['samples']} samples per setting vs {res['samples']} held-out "
             f"test digits (floor = the other half of the test set), kept from one pool of {res['pool']} latents "
             f"(seed 0) ranked once by `steepness`; {res['threads']} CPU thread(s), {res['machine']}. Grid = one "
             "16-sample draw with `sample(16, keep=…)` as the Sample tab makes it (median of 5).", "",
             "| model | keep | refine steps | FD (× floor) | coverage | confident | precision | recall | grid of 16 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        base = next(b for b in res["rows"] if b["model"] == r["model"])  # the first setting (keep 1 by default)
        lines.append(f"| {r['model']} | {r['keep']:g} | {r['refine_steps']} | {r['fd']:.3f} ({r['fd_ratio']:.2f}×) | "
                     f"{r['coverage']}/10 | {100 * r['confident_fraction']:.1f} % | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {r['grid16_ms']:.0f} ms ({r['grid16_ms'] / base['grid16_ms']:.1f}×) |")
    if res.get("direct"):
        lines += ["", "## The sampler itself, seed by seed", "",
                  "`python -m imggen eval MODEL --keep q --seed s`: `sample(n, seed=s, keep=q)` draws its own "
                  "n/q latents and keeps the n least steep (files in `bench/results/jacobian-evals/`); the spread "
                  "between seeds is the noise of a 5,000-sample estimate.", "",
                  "| model | keep | refine steps | seed | FD (× floor) | coverage | confident | precision | recall |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['keep']:g} | {r['refine_steps']} | {r['seed']} | "
                  f"{r['fd']:.3f} ({r['fd_ratio']:.2f}×) | "
                  f"{r['coverage']}/10 | {100 * r['confident_fraction']:.1f} % | {r['precision']:.3f} | "
                  f"{r['recall']:.3f} |" for r in res["direct"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="default: the shipped unconditional GAN")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--keep", type=float, nargs="*", default=[1.0, 0.9, 0.8, 0.7, 0.65, 0.6, 0.5])
    p.add_argument("--refined", nargs="*", default=["0.7x10", "0.65x10"], help="more settings as KEEPxSTEPS")
    p.add_argument("--probes", type=int, default=None, help="probe directions per latent (default: the sampler's)")
    p.add_argument("--data", default=None, help="test data (default: full MNIST when present, else mnist5k)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(RESULTS / "jacobian"))
    p.add_argument("--evals", default=str(RESULTS / "jacobian-evals"),
                   help="folder of `imggen eval --keep` JSON files for the seed-by-seed table")
    p.add_argument("--tables", action="store_true", help="only rebuild --out's tables (pool rows kept, evals re-read)")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.tables:
        res = {**json.loads(out.with_suffix(".json").read_text()), "direct": direct_rows(Path(a.evals))}
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(markdown(res))
        return
    torch.set_num_threads(a.threads)
    names = a.models if a.models is not None else [m for m in MODELS if m in registry.model_paths()]
    settings = [(q, 0) for q in a.keep] + [(float(e.split("x")[0]), int(e.split("x")[1])) for e in a.refined]
    rows = [r for name in names for r in run_model(name, a.samples, settings, a.data, a.probes)]
    res = {"threads": a.threads, "machine": f"{platform.machine()} {platform.processor()}".strip(),
           "samples": rows[0]["samples"] if rows else a.samples, "pool": rows[0]["pool"] if rows else 0, "rows": rows,
           "direct": direct_rows(Path(a.evals))}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))


if __name__ == "__main__":
    main()
