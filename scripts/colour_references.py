"""Write the side files of the shipped colour checkpoints: checkpoints/<name>.directions.json (Explore's labelled
directions: hue, saturation, brightness, size, roundness, emoji category) for every colour decoder, and
checkpoints/<name>.anomaly.json (typicality among the held-out emoji) for every colour likelihood model.

    python scripts/colour_references.py [NAME ...]      (default: every shipped RGB checkpoint; 1 CPU thread)

Each file carries the weights hash it was built for; the script prints it with the checkpoint's mtime, and builds
again when the checkpoint changed while it ran (a training run writing snapshots)."""
import json
import sys
import time

import torch

torch.set_num_threads(1)

from imggen import anomaly, checkpoint, latent, registry  # noqa: E402


def colour_checkpoints() -> dict:
    return {n: p for n, p in registry.model_paths().items()
            if checkpoint.read_metadata(p).get("config", {}).get("channels") == 3}


def build(name: str, path) -> dict:
    registry.load.cache_clear()
    model = registry.load(name)
    out = {"model": name, "weights": latent.weights_hash(path), "mtime": time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(path.stat().st_mtime))}
    if hasattr(model.net, "decode"):
        t = time.time()
        dirs = latent.directions_for(model.net, path, **latent.DISCOVER_DEFAULTS)
        out["directions"] = {"file": str(latent.cache_path(path)), "key": dirs.key, "seconds": round(time.time() - t, 1),
                             "sliders": dirs.slider_labels()}
    if hasattr(model.net, "log_likelihood"):
        t = time.time()
        images, data, words = anomaly.reference_data(model.config)
        ref = anomaly.build_reference(model.net, images, data=data, population=words, with_complexity=True)
        ref["weights"] = out["weights"]
        anomaly.reference_path(path).write_text(json.dumps(ref))
        out["anomaly"] = {"file": str(anomaly.reference_path(path)), "num_images": ref["num_images"],
                          "median_ll": ref["quantiles"][500], "seconds": round(time.time() - t, 1)}
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(colour_checkpoints())
    paths = registry.model_paths()
    for name in names:
        for _ in range(3):
            info = build(name, paths[name])
            if latent.weights_hash(paths[name]) == info["weights"]:
                break
            print(f"{name} changed while its files were built: building again", flush=True)
        print(json.dumps(info, indent=1), flush=True)
