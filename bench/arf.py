"""Adversarial random forest (``arf``) against the classic models of the same kind, side by side in one run on the
same training images, all scored by the same functions (the same mixture-of-Bernoullis class, so sampling and the
exact likelihood are one code path):

- independent pixels: every pixel from its marginal (one component; what ARF starts from);
- mixture of Bernoullis fitted by EM (k-means++-style seeding from the data, Laplace-smoothed M-steps), K components;
- ARF after each round (round 1 is a plain random forest's leaves; later rounds are adversarial);
- the final forest and the largest EM mixture sampled with truncation (each pixel's probability sharpened);
- in a learned space (``--latent``, the codes the shipped autoencoder gives the same training digits, decoded by
  it): a full-covariance Gaussian mixture by EM (sklearn) and the latent forest (``latentarf``) after each round.
  Their density is of codes, so they have no pixel NLL.

Per row: held-out exact NLL (nats per image and bits per pixel on binarized test digits), classifier-FD of samples
with its floor, coverage, confident fraction, precision / recall (5,000 samples vs 5,000 held-out test digits; the
binarized test digits give the floor a binary model can reach), fit time and the size of the fitted mixture.

    python -m imggen bench arf --rounds 5 --em 100 1000 --truncation 0.5 0.3 0.2 0.1
    python -m imggen bench arf --rounds 3 --em 100 --truncation 0.2 --latent ae-mnist --out bench/results/arf-latent
Writes bench/results/arf.{json,md}.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from bench.common import RESULTS, machine, quality, save, summary
from imggen.convert import from01
from imggen.data import load_data
from imggen.evaluate import HeldOut, heldout
from imggen.models.arf import ARF, ARFConfig, binarize
from imggen.models.latent_arf import LatentARFConfig
from imggen.train import TrainConfig, TrainState, train

RECIPE = {k: getattr(ARFConfig(), k) for k in ("trees", "max_leaves", "min_leaf")}  # arf-mnist's (the defaults)
LATENT_RECIPE = {k: getattr(LatentARFConfig(), k) for k in ("trees", "max_leaves", "min_leaf", "leaf_density")}


def em_mixture(bits: torch.Tensor, k: int, iters: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture of independent Bernoullis by EM: (weights (k,), probabilities (k, D)). Components start at k data
    points (k-means++ style: each next one far, in Hamming distance, from those chosen) blended with the mean."""
    g = torch.Generator().manual_seed(seed)
    N = len(bits)
    idx = [int(torch.randint(N, (1,), generator=g))]
    dist = (bits - bits[idx[0]]).abs().sum(1)
    for _ in range(k - 1):
        i = int(torch.multinomial(dist.pow(2) + 1e-9, 1, generator=g))
        idx.append(i)
        dist = torch.minimum(dist, (bits - bits[i]).abs().sum(1))
    mean = bits.mean(0)
    p, w = 0.75 * bits[idx] + 0.25 * mean, torch.full((k,), 1 / k)
    for _ in range(iters):
        pc = p.clamp(1e-4, 1 - 1e-4)
        log_r = w.log() + bits @ pc.log().T + (1 - bits) @ (-pc).log1p().T  # (N, k)
        r = log_r.softmax(1)
        nk = r.sum(0)
        w = nk / N
        p = (r.T @ bits + 1) / (nk[:, None] + 2)
    return w, p


def score(model: ARF, held: HeldOut, seed: int = 0, truncation: float = 1.0) -> dict:
    with torch.no_grad():
        x = model.sample(len(held), generator=torch.Generator().manual_seed(seed), truncation=truncation)
    return {**quality(held.score(x)), **model.eval_metrics(held.test.images),
            "leaves": model.config.num_leaves}


def latent_rows(source: str, data, held: HeldOut, rounds: int, gmm: list[int], add_row) -> None:
    """The learned-space rows: Gaussian mixtures on ``source``'s codes of ``data`` and the latent forest's rounds."""
    from sklearn.mixture import GaussianMixture

    from imggen import registry
    from imggen.train import TrainConfig, TrainState, train

    ae = registry.load(source).net.cpu().eval()
    with torch.no_grad():
        codes = torch.cat([ae.encode(b)[0] for b in data.images.split(1000)]).double().numpy()
    for k in gmm:
        t = time.perf_counter()
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=0).fit(codes)
        fit = time.perf_counter() - t
        g = torch.Generator().manual_seed(0)
        comp = torch.multinomial(torch.from_numpy(gm.weights_).float(), len(held), True, generator=g)
        L = torch.linalg.cholesky(torch.from_numpy(gm.covariances_).float())
        z = torch.from_numpy(gm.means_).float()[comp] + (L[comp] @ torch.randn(len(held), codes.shape[1], 1,
                                                                                 generator=g)).squeeze(-1)
        with torch.no_grad():
            x = ae.decode(z)
        add_row(f"{source} codes, Gaussian mixture, full, K={k}", fit, {**quality(held.score(x)), "leaves": k})
    state, fit, mark = TrainState(), 0.0, time.perf_counter()
    for ev in train("latentarf", data, TrainConfig(epochs=rounds, eval_samples=0),
                    model_config={**LATENT_RECIPE, "source": source}, state=state):
        if ev.kind == "epoch":
            fit += time.perf_counter() - mark  # encoding and rounds so far; scoring is not fitting
            m = state.model
            with torch.no_grad():
                x = m.sample(len(held), generator=torch.Generator().manual_seed(0))
            add_row(f"{source} codes, latent forest round {ev.step}", fit,
                    {**quality(held.score(x)), "leaves": m.config.num_leaves,
                     "forest_accuracy": ev.losses["forest accuracy"]})
            mark = time.perf_counter()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="training images (default: full MNIST when present, else mnist5k)")
    p.add_argument("--limit", type=int, default=None, help="at most this many training images")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--em", type=int, nargs="*", default=[100, 500], help="EM mixture sizes")
    p.add_argument("--em-iters", type=int, default=20)
    p.add_argument("--truncation", type=float, nargs="*", default=[0.5, 0.3, 0.2, 0.1],
                   help="sampling truncations (pixel probabilities sharpened) of the final forest and the largest EM")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--latent", default=None, help="also the learned-space rows on this autoencoder's codes")
    p.add_argument("--latent-rounds", type=int, default=2, help="rounds of the latent forest")
    p.add_argument("--gmm", type=int, nargs="*", default=[100], help="Gaussian mixture sizes on the codes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "arf"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    held = heldout(a.samples)
    test = held.test
    data = load_data(a.data or test.name, split="train", limit=a.limit)
    binary = held.score(from01(binarize(held.reference).view_as(held.reference)))  # binarized test digits
    n, rows = len(held), []

    def add(name, model, seconds, truncation=1.0, **extra):
        row = {"model": name, "fit_seconds": round(seconds, 1), "truncation": truncation,
               **score(model, held, truncation=truncation), **extra}
        rows.append(row)
        print(f"{name:34s} NLL {row['nll_nats']:.1f} nats ({row['bits_per_dim']:.4f} bits/px) {summary(row)} "
              f"{row['fit_seconds']:.0f}s", flush=True)

    bits = binarize(data.images)
    t = time.perf_counter()
    indep = ARF(ARFConfig())
    indep.set_leaves(torch.ones(1), ((bits.sum(0) + 0.5) / (len(bits) + 1))[None])
    add("independent pixels", indep, time.perf_counter() - t)
    for k in a.em:
        t = time.perf_counter()
        em = ARF(ARFConfig())
        em.set_leaves(*em_mixture(bits, k, a.em_iters))
        add(f"mixture of Bernoullis, EM, K={k}", em, em_seconds := time.perf_counter() - t, iterations=a.em_iters)
    for t in a.truncation if a.em else []:  # the largest EM mixture sampled as sharply as the forest below
        add(f"mixture of Bernoullis, EM, K={a.em[-1]}, truncation {t:g}", em, em_seconds, truncation=t)
    state, fit, mark = TrainState(), 0.0, time.perf_counter()
    for ev in train("arf", data, TrainConfig(epochs=a.rounds, eval_samples=0), model_config=RECIPE, state=state):
        if ev.kind == "epoch":
            fit += time.perf_counter() - mark  # rounds so far; scoring is not fitting
            add(f"ARF round {ev.step}", state.model, fit, forest_accuracy=ev.losses["forest accuracy"])
            mark = time.perf_counter()
    for t in a.truncation:  # sampling settings of the final forest (the likelihood does not change)
        add(f"ARF round {a.rounds}, truncation {t:g}", state.model, fit, truncation=t)

    def add_row(name, seconds, scores):
        rows.append(row := {"model": name, "fit_seconds": round(seconds, 1), "truncation": 1.0, **scores})
        print(f"{name:34s} {summary(row)} {row['fit_seconds']:.0f}s", flush=True)

    if a.latent:
        latent_rows(a.latent, data, held, a.latent_rounds, a.gmm, add_row)
    res = {"data": data.name, "train_images": len(data), "test": test.name, "samples": n, "threads": a.threads,
           "recipe": RECIPE, **({"latent_recipe": LATENT_RECIPE, "latent": a.latent} if a.latent else {}),
           "machine": machine(), "binarized_test": quality(binary), "rows": rows,
           "args": " ".join(sys.argv[1:] if argv is None else argv)}
    save(a.out, res, markdown)


def markdown(res: dict) -> str:
    b = res["binarized_test"]
    lines = ["# Adversarial random forest vs classic pixel mixtures", "",
             f"`python -m imggen bench arf {res['args']}` — fitted on {res['train_images']:,} {res['data']} training "
             f"digits (binarized at 0.5); {res['samples']:,} samples per row vs {res['samples']:,} held-out "
             f"{res['test']} test digits; NLL = exact negative log-likelihood of every binarized test digit; ARF "
             f"recipe {res['recipe']}; {res['threads']} CPU thread(s), {res['machine']}. The binarized test digits "
             f"themselves score FD {b['fd']:.2f} ({b['fd_ratio']:.1f}× the grey floor {b['fd_floor']:.3f}), "
             f"{b['coverage']}/10 classes, {100 * b['confident_fraction']:.1f} % confident: the best a binary model "
             "can read.", "",
             "| model | components | NLL (nats) | bits / pixel | FD (× floor) | coverage | confident | precision | "
             "recall | fit |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        nll = f"{r['nll_nats']:.1f} | {r['bits_per_dim']:.4f}" if "nll_nats" in r else "– | –"
        lines.append(f"| {r['model']} | {r['leaves']:,} | {nll} | "
                     f"{r['fd']:.{2 if r['fd'] < 10 else 1}f} ({r['fd_ratio']:.0f}×) | {r['coverage']}/10 | "
                     f"{100 * r['confident_fraction']:.1f} % | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{r['fit_seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
