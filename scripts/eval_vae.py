"""Evaluate a shipped autoencoder model on the MNIST test set, cache its anomaly reference and write its card:
python scripts/eval_vae.py NAME [--card-only] [--iwae-images 1000]   (1 CPU thread)."""
import json
import sys

import torch

torch.set_num_threads(1)

from imggen import anomaly  # noqa: E402
from imggen.cards import write_card  # noqa: E402
from imggen.evaluate import evaluate_model, test_data  # noqa: E402
from imggen.registry import load, model_paths  # noqa: E402

ANOMALY_IMAGES = 500  # test images in the typicality reference (first 500 of the 10k test set; CPU time)

if __name__ == "__main__":
    name = sys.argv[1]
    if "--card-only" not in sys.argv:
        iwae = int(sys.argv[sys.argv.index("--iwae-images") + 1]) if "--iwae-images" in sys.argv else 1000
        res = evaluate_model(name, n=1000, write=True, iwae_images=iwae)
        print(json.dumps(res, indent=1), flush=True)
        load.cache_clear()
        model = load(name)
        if hasattr(model.net, "log_likelihood"):
            ref_file = anomaly.reference_path(model_paths()[name])
            ref = anomaly.build_reference(model.net, test_data("mnist").images[:ANOMALY_IMAGES], data="mnist test")
            ref_file.write_text(json.dumps(ref))
            print("anomaly reference", {k: v for k, v in ref.items() if k != "quantiles"}, flush=True)
    print(f"wrote {write_card(model_paths()[name])}")
