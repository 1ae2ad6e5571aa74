"""D-ranked candidates (``sample(..., candidates=k)``: each sample the best of k by the GAN's own discriminator,
for its class when conditional) on the shipped GANs, side by side in one run: held-out figures (``imggen eval``'s
own measurement: FD as a multiple of its floor, precision / recall, the share read as the asked class, confident
digits) for k = 1 (plain sampling) up to 16, each over two sampling seeds, and the time a 16-sample grid takes.
Writes bench/results/candidates.{json,md}.

    python -m imggen bench candidates --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.common import RESULTS, grid_ms, machine, save
from imggen import registry
from imggen.evaluate import evaluate_model, held_out_for

MODELS = ("cgan-emoji32", "cgan-mnist", "dcgan-mnist")  # stylegan-mnist too with --models
KEYS = ("fd_ratio", "precision", "recall", "label_accuracy", "confident_fraction")


def run_model(name: str, ks: list[int], seeds: list[int], n: int) -> list[dict]:
    m = registry.load(name)
    held, rows = held_out_for(m, n), []
    for k in ks:
        runs = [evaluate_model(name, n=n, seed=s, sample_kw={"candidates": k} if k > 1 else None, held=held)
                for s in seeds]
        row = {"model": name, "candidates": k, "samples": runs[0]["num_samples"], "seeds": seeds,
               **{key: statistics.mean(r[key] for r in runs) for key in KEYS if key in runs[0]},
               "per_seed": [{key: r[key] for key in KEYS if key in r} for r in runs],
               "grid16_ms": grid_ms(m, candidates=k)}
        rows.append(row)
        print(name, {key: round(v, 3) if isinstance(v, float) else v for key, v in row.items() if key != "per_seed"},
              flush=True)
    return rows


def markdown(res: dict) -> str:
    lines = ["# D-ranked candidates (`bench/candidates.py`)", "",
             "Each sample is the best of *k* drawn by the GAN's own discriminator (as the asked class for conditional "
             "models); *k* = 1 is plain sampling. Held-out figures as `imggen eval` measures them (FD on the digit "
             "classifier's or the emoji net's features, as a multiple of the real-vs-real floor; k-NN precision / "
             "recall; *asked class* = the share read as the class asked for; *confident* = digits read with "
             f"probability ≥ 0.8), the mean of sampling seeds {res['seeds']}. {res['threads']} CPU thread(s), "
             f"{res['machine']}, {res['seconds']:.0f} s.", "",
             "| model | k | samples | FD × floor | precision | recall | asked class | confident | 16-grid ms |",
             "|---|---|---|---|---|---|---|---|---|"]

    def pct(v):
        return "–" if v is None else f"{100 * v:.1f} %"
    for r in res["rows"]:
        lines.append(f"| `{r['model']}` | {r['candidates']} | {r['samples']} | {r['fd_ratio']:.2f}× | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {pct(r.get('label_accuracy'))} | "
                     f"{pct(r.get('confident_fraction'))} | {r['grid16_ms']:.0f} |")
    lines += ["", "Per seed: `candidates.json`. Reproduce: `python -m imggen bench candidates`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--candidates", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("-n", type=int, default=1000, help="samples per row at most (colour models: their held-out half)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "candidates"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    rows = [r for name in a.models if name in registry.model_paths() for r in run_model(name, a.candidates,
                                                                                          a.seeds, a.n)]
    res = {"seeds": a.seeds, "threads": a.threads, "machine": machine(), "seconds": round(time.time() - t0, 1),
           "rows": rows}
    save(a.out, res, markdown)


if __name__ == "__main__":
    main()
