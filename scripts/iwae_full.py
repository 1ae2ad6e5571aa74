"""IWAE bound (k=1000) on the whole 10,000-image MNIST test set for a shipped VAE, stored in its metadata and card:
python scripts/iwae_full.py NAME [--threads N]   (about 40 CPU-minutes per model at k=1000)."""
import argparse
import json
import time

import torch

from imggen import checkpoint
from imggen.evaluate import test_data
from imggen.registry import load, model_paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("name")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=50)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    net, test = load(a.name).net.eval(), test_data("mnist").images
    t0 = time.time()
    m = net.eval_metrics(test, batch_size=a.batch, iwae_k=a.k, iwae_images=len(test), progress=True)
    res = {k: m[k] for k in ("iwae_nll", "iwae_bits_per_dim", "iwae_k", "iwae_images", "iwae_nll_sem")}
    res["iwae_seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res), flush=True)
    path = model_paths()[a.name]
    checkpoint.update_metadata(path, net.cpu(), metrics=res)  # merged into the stored metrics; slider cache stays


if __name__ == "__main__":
    main()
