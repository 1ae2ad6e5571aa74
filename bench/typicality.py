"""Does the colour typicality score mean something? A colour VAE's percentile (imggen.anomaly: IWAE log-likelihood
among the held-out emoji of its shipped reference) for held-out emoji, training emoji and images that are not
emoji: MNIST digits drawn dark on white, uniform noise, flat colour squares on white, blurred emoji, a blank white
image. Per set: median percentile, share scored "unusual" (< 5 %) and AUROC of held-out emoji vs that set, for the
shipped score (log-likelihood + complexity) and for the log-likelihood alone.
Writes bench/results/typicality-colour.{json,md}.

    python -m bench.typicality --model vae-emoji32 --images 200
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.common import RESULTS
from imggen import anomaly, latent, registry
from imggen.convert import to01
from imggen.data import load_data


def sets(n: int, size: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """name -> (n, 3, size, size) images in [-1, 1]."""
    held = load_data(f"emoji{size}", split="test", image_size=size).images
    train = load_data(f"emoji{size}", split="train", image_size=size, limit=n).images
    digits = load_data("mnist5k", split="test", image_size=size).images[:n]
    digits = (-digits).expand(-1, 3, -1, -1)  # dark ink on white, as a drawing in a colour upload
    noise = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    flat = torch.ones(n, 3, size, size)
    colour = torch.rand(n, 3, 1, 1, generator=g) * 2 - 1
    q = size // 4
    flat[..., q:-q, q:-q] = colour.expand(-1, -1, size - 2 * q, size - 2 * q)
    k = torch.tensor([1.0, 4, 6, 4, 1])
    k = (k[:, None] * k[None]) / 256
    blurred = F.conv2d(F.pad(held[:n], (2, 2, 2, 2), mode="replicate"), k.expand(3, 1, 5, 5), groups=3)
    return {"held-out emoji": held, "training emoji": train, "MNIST digits (dark on white)": digits,
            "uniform noise": noise, "flat colour square on white": flat, "held-out emoji, 5x5 blur": blurred,
            "blank white": torch.ones(1, 3, size, size)}


def auroc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a held-out emoji scores higher than an image of the other set), ties count half."""
    d = pos.double()[:, None] - neg.double()[None]
    return float(((d > 0).double() + 0.5 * (d == 0).double()).mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vae-emoji32")
    p.add_argument("--images", type=int, default=200, help="images per set (held-out emoji: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "typicality-colour"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = registry.load(a.model)
    path = registry.model_paths()[a.model]
    ref = anomaly.reference(model)
    res = {"model": a.model, "weights": latent.weights_hash(path), "reference": {k: v for k, v in ref.items()
                                                                                 if k != "quantiles"}, "sets": []}
    held = None
    for name, x in sets(a.images, model.config.image_size, torch.Generator().manual_seed(0)).items():
        ll, pct = anomaly.typicality(model, to01(x))
        score = ll.double() + (anomaly.complexity(x) if ref.get("score") == "log-likelihood + complexity" else 0)
        assert torch.equal(anomaly.percentile(ref, score), pct)
        held = (score, ll) if held is None else held
        first = name == "held-out emoji"
        row = {"set": name, "images": len(x), "median_ll": float(ll.median()), "median_percentile":
               float(pct.median()), "unusual_share": float((pct < 5).float().mean()),
               "auroc_vs_heldout": None if first else auroc(held[0], score),
               "auroc_ll_only": None if first else auroc(held[1], ll)}
        res["sets"].append(row)
        print(json.dumps(row), flush=True)
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    lines = [f"# Colour typicality: {a.model}\n",
             f"Weights {res['weights']}; reference: {ref['num_images']} {anomaly.population(ref)} ({ref['data']}), "
             f"IWAE k={ref['k']}. *percentile* = share of the reference's held-out emoji with a log-likelihood at "
             "or below the image's; *unusual* = percentile < 5 (what the Reconstruct tab calls unusual); *AUROC* = "
             "P(a held-out emoji scores higher than an image of the set).\n",
             "| set | images | median log-lik (nats) | median percentile | unusual (< 5 %) | AUROC held-out vs set | "
             "AUROC, log-likelihood alone |", "|---|---|---|---|---|---|---|"]
    for r in res["sets"]:
        au, au_ll = ("" if r[k] is None else f"{r[k]:.3f}" for k in ("auroc_vs_heldout", "auroc_ll_only"))
        lines.append(f"| {r['set']} | {r['images']} | {r['median_ll']:.1f} | {r['median_percentile']:.1f} | "
                     f"{100 * r['unusual_share']:.0f} % | {au} | {au_ll} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
