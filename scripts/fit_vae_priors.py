"""Fit the shipped VAEs' sampling mixtures (two-stage VAE, issue 30) and rewrite their checkpoints where the
mixture samples better than N(0, I): only the prior buffers and metadata change, never the weights.

For each model: its card's sample metrics (N(0, I), ``imggen eval``'s setting: the card's sample count, seed 0)
are measured again, a K-component mixture is fitted to the aggregate posterior of its training images
(:func:`imggen.registry.fit_prior`) and measured the same way. The file is rewritten when the mixture's FD is
lower; the likelihood metrics (ELBO, IWAE: they use the training prior N(0, I) and the unchanged weights) are
kept, the sample metrics replaced, and the card's "prior" records both measurements.

    python scripts/fit_vae_priors.py vae-mnist cvae-mnist vaegan-mnist vae2d-mnist --components 20
    python scripts/fit_vae_priors.py vae-emoji32 --components 1  # 1,024-d spatial code: one full Gaussian (4 MB)
"""
from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
from pathlib import Path

import torch

from imggen import checkpoint, registry
from imggen.evaluate import heldout, own_test_data

SAMPLE_KEYS = ("fd", "coverage", "class_entropy", "confident_fraction", "class_histogram", "precision", "recall",
               "test_set", "num_samples", "seed", "fd_floor", "fd_ratio", "swd", "swd_floor", "label_accuracy",
               "real_confident_fraction", "features")


@torch.no_grad()
def measure(net, n: int, seed: int = 0, data: str | None = None, **kw) -> dict:
    """``imggen eval``'s sample metrics (cycling labels for a conditional model) against ``data``'s held-out
    images (None: test digits)."""
    held = heldout(n, data, net.config.image_size, net.config.channels)
    labels = None
    if getattr(net.config, "num_classes", 0):
        kw["labels"] = labels = torch.arange(len(held)) % net.config.num_classes
    x = net.sample(len(held), generator=torch.Generator().manual_seed(seed), **kw).cpu()
    return {"test_set": f"{held.test.name} test", "num_samples": len(held), "seed": seed,
            **held.score(x, labels, swd=True)}


def short(r: dict) -> dict:
    return {k: r[k] for k in ("fd", "fd_ratio", "coverage", "confident_fraction", "precision", "recall") if k in r}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--components", type=int, default=20)
    p.add_argument("--samples", type=int, default=20_000, help="training images whose posterior draws are fitted")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    for name in a.models:
        m = registry.load(name)
        old = m.card["metrics"]
        n = int(old.get("num_samples") or 1000)
        data = own_test_data(m.meta)  # as imggen eval: colour models on their held-out emoji
        plain = copy.deepcopy(m.net).cpu().eval()
        plain.clear_prior()
        before = measure(plain, n, data=data)
        found = {}

        def after_fit(net):
            found.update(measure(copy.deepcopy(net).cpu().eval(), n, data=data))
            return found

        path = registry.resolve(name)
        keep = {k: v for k, v in old.items() if k not in SAMPLE_KEYS}
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d) / path.name
            _, info = registry.fit_prior(name, a.components, a.samples, out=tmp,
                                         measure=lambda net: {**keep, **after_fit(net)})
            print(f"{name}: N(0, I) {short(before)}\n  mixture K={a.components} {short(found)} "
                  f"({info['fit_seconds']} s)", flush=True)
            if found["fd"] < before["fd"]:
                meta = checkpoint.read_metadata(tmp)
                checkpoint.update_metadata(tmp, registry.from_checkpoint(tmp),
                                           card={"prior": {**meta["card"]["prior"],
                                                           "normal_prior_metrics": short(before)}})
                shutil.move(tmp, path)
                print(f"  rewrote {path}: the mixture is its default sampler", flush=True)
            else:
                print("  kept N(0, I): the mixture does not sample better", flush=True)

if __name__ == "__main__":
    main()
