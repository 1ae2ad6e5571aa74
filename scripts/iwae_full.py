"""IWAE bound (k=1000) on the whole 10,000-image MNIST test set for a shipped VAE, stored in its metadata and card:
python scripts/iwae_full.py NAME [--threads N]   (about 40 CPU-minutes per model at k=1000)."""
import argparse
import json
import time

import torch
from tqdm import tqdm

from imggen import checkpoint, latent
from imggen.evaluate import test_data
from imggen.models.vae import bits_per_dim
from imggen.registry import load, model_paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("name")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=50)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = load(a.name)
    net, test = model.net.eval(), test_data("mnist").images
    g = torch.Generator().manual_seed(0)
    t0, ll = time.time(), []
    with torch.no_grad():
        for x in tqdm(test.split(a.batch), desc=f"IWAE k={a.k}", unit="batch"):
            ll.append(net.log_likelihood(x, k=a.k, generator=g))
    ll = torch.cat(ll)
    nll = -ll.mean().item()
    res = {"iwae_nll": nll, "iwae_bits_per_dim": bits_per_dim(nll, test[0].numel()), "iwae_k": a.k,
           "iwae_images": len(test), "iwae_nll_sem": (ll.std() / len(ll) ** 0.5).item(),
           "iwae_seconds": round(time.time() - t0, 1)}
    print(json.dumps(res), flush=True)
    path = model_paths()[a.name]
    meta = checkpoint.read_metadata(path)
    checkpoint.update_metadata(path, net.cpu(), metrics={**meta["metrics"], **res})
    load.cache_clear()
    latent.directions_for(load(a.name).net, path)  # the file changed: refresh the slider basis cache


if __name__ == "__main__":
    main()
