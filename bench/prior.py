"""Latent priors of a shipped DCGAN or VAE side by side in one run: z ~ N(0, I) vs Gaussian mixtures with K
components fitted to the trained generator (``DCGAN.fit_prior``: G's own samples clustered by D's features, one
Gaussian per cluster over the latents that made them) or to a VAE's aggregate posterior (``VAE.fit_prior``: one
z ~ q(z | x) per training image, EM; the "two-stage VAE"). Held-out digit metrics (classifier-FD and its floor, coverage,
confident fraction, precision / recall) for each sampling seed, the fit's time, and optionally truncation and
Jacobian truncation (``keep``) on top. Writes bench/results/prior.{json,md}.

    python -m imggen bench prior --components 30 100 300 --seeds 0 1 --threads 1
    python -m imggen bench prior --components 30 100 --fit-samples 20000 --shipped --truncation 1 0.8 --out …
    python -m imggen bench prior --model vae-mnist --components 10 20 --fit-samples 20000 --samples 1000 \
        --seeds 0 1 --out bench/results/prior-vae
"""
from __future__ import annotations

import argparse
import copy
import inspect
import json
import platform
import sys
import time
from pathlib import Path

import torch

from bench.common import RESULTS, quality, summary
from imggen import registry
from imggen.data import load_data
from imggen.evaluate import HeldOut, heldout


def rows_for(net, prior: str, fit_seconds: float, held: HeldOut, seeds, keeps, truncations) -> list[dict]:
    """Sample as ``imggen eval`` does (a CPU generator per seed) and measure, once per setting and seed."""
    rows = []
    for trunc in truncations:
        for keep in keeps:
            for seed in seeds:
                kw = {"keep": keep} if keep != 1 else {}  # Jacobian truncation: the DCGAN's only
                labels = None
                if getattr(net.config, "num_classes", 0):  # cycling labels, as imggen eval samples them
                    kw["labels"] = labels = torch.arange(len(held)) % net.config.num_classes
                with torch.no_grad():
                    x = net.sample(len(held), generator=torch.Generator().manual_seed(seed), truncation=trunc,
                                   **kw).cpu()
                r = held.score(x, labels)
                row = {"prior": prior, "components": net.config.prior_components, "truncation": trunc, "keep": keep,
                       "seed": seed, "fit_seconds": fit_seconds, "samples": len(held), **quality(r)}
                rows.append(row)
                print(f"{prior:32s} truncation {trunc:g} keep {keep:g} seed {seed}: {summary(row)}", flush=True)
    return rows


def run(model: str, components: list[int], fit_samples: list[int], n: int, seeds, keeps, truncations,
        shipped: bool, data: str | None) -> list[dict]:
    m = registry.load(model)
    base = copy.deepcopy(m.net).cpu().eval()
    c = base.config
    args = heldout(n, data, c.image_size, c.channels), seeds, keeps, truncations
    rows = []
    if shipped and c.prior_components:
        fit = m.card.get("prior", {})
        rows += [{**r, "fit": fit} for r in rows_for(base, f"shipped mixture K={c.prior_components}, "
                                                           f"{fit.get('samples', 0):,} latents", 0.0, *args)]
    base.clear_prior()  # the N(0, I) rows and the fits start from the plain generator
    rows = rows_for(base, "N(0, I)", 0.0, *args) + rows
    kw = {}
    if "images" in inspect.signature(base.fit_prior).parameters:  # a VAE: fitted to its training images' codes
        train = load_data(m.meta["recipe"].get("data") or "mnist", split="train", image_size=c.image_size,
                          channels=c.channels)
        kw = {"images": train.images, "labels": train.labels}
    for samples in fit_samples:
        for k in components:
            net = copy.deepcopy(base)
            t = time.perf_counter()
            info = net.fit_prior(k, samples, seed=0, **kw)
            rows += [{**r, "fit": info} for r in rows_for(net, f"mixture K={k}, {samples:,} latents",
                                                          time.perf_counter() - t, *args)]
    return rows


def markdown(res: dict) -> str:
    lines = ["# Latent priors of a trained DCGAN", "",
             f"`python -m imggen bench prior {res['args']}` on {res['model']} — {res['samples']} samples per row "
             f"vs {res['samples']} held-out test digits; floor = the other half of the test set; mixtures fitted "
             f"with seed 0 (K = components asked; small clusters are dropped); truncation redraws noise entries "
             f"beyond ±2·truncation before the mixture's transform; {res['threads']} CPU thread(s), "
             f"{res['machine']}.", "",
             "| prior | truncation | keep | seed | FD (× floor) | coverage | confident | precision | recall | fit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        fit = f"{r['fit_seconds']:.0f} s" if r["fit_seconds"] else "–"
        lines.append(f"| {r['prior']} | {r.get('truncation', 1.0):g} | {r['keep']:g} | {r['seed']} | "
                     f"{r['fd']:.3f} ({r['fd_ratio']:.2f}×) | "
                     f"{r['coverage']}/10 | {100 * r['confident_fraction']:.1f} % | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | {fit} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="dcgan-mnist")
    p.add_argument("--components", type=int, nargs="*", default=[30, 100, 300])
    p.add_argument("--fit-samples", type=int, nargs="*", default=[100_000],
                   help="latents drawn and clustered per mixture (each size a set of fits)")
    p.add_argument("--shipped", action="store_true", help="also measure the checkpoint's own fitted mixture")
    p.add_argument("--truncation", type=float, nargs="*", default=[1.0], help="truncation settings (1 = default)")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1], help="sampling seeds (each a row)")
    p.add_argument("--keep", type=float, nargs="*", default=[1.0], help="Jacobian truncation settings (1 = off)")
    p.add_argument("--data", default=None, help="test data (default: full MNIST when present, else mnist5k)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "prior"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = run(a.model, a.components, a.fit_samples, a.samples, a.seeds, a.keep, a.truncation, a.shipped, a.data)
    res = {"model": a.model, "args": " ".join(sys.argv[1:] if argv is None else argv), "threads": a.threads,
           "samples": rows[0]["samples"], "fit_samples": a.fit_samples,
           "machine": f"{platform.machine()} {platform.processor()}".strip(), "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
