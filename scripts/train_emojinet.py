"""Train and ship checkpoints/metrics/emojinet-emoji.safetensors, the emoji feature network behind the colour metrics
(emoji32 train split only, scored on the held-out emoji), and write its card next to it (NAME.md, the layout of
``python -m imggen card``, which reads only the registry's model families).

    python scripts/train_emojinet.py --epochs 20     # ~100 s an epoch on one busy CPU thread
    python scripts/train_emojinet.py --card-only     # rewrite the card from the checkpoint's metadata
"""
import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from imggen import checkpoint
from imggen.data import load_data
from imggen.models.emojinet import EmojiNetConfig, fit

ROOT = Path(__file__).resolve().parents[1]


def card_text(path: Path) -> str:
    """The model card of an emoji-net checkpoint, from its metadata."""
    meta = checkpoint.read_metadata(path)
    cfg, m, rec, card = meta["config"], meta["metrics"], meta["recipe"], meta["card"]
    name = path.name.removesuffix(".safetensors")
    params = sum(math.prod(s) for s in checkpoint.tensor_shapes(path).values())
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        rel = path
    lines = ["---", "license: mit", "library_name: imggen", "pipeline_tag: image-classification",
             f"datasets: [{rec['data']}]", "tags: [imggen, emojinet, emoji, safetensors]", "metrics: [accuracy]", "---",
             f"# {name}", "",
             "A small colour CNN (three conv blocks on 32-px RGB, a 128-d feature layer, a category head and a "
             "subcategory head) trained by the project on the emoji32 train split only. Its block features (each "
             "conv block's mean activation per channel, standardised by the train split's statistics: 224-d) drive "
             "the colour metrics (`imggen.metrics.emoji_metrics`: Fréchet distance, k-NN precision / recall); its "
             "category head reads whether a conditional sample shows the category asked for. Not a generator.", "",
             "## Config", "", "| | |", "|---|---|",
             "| family | `emojinet` (`imggen/models/emojinet.py`; not a registry family: loaded by `imggen.metrics`) |",
             f"| file | `{rel}` ({path.stat().st_size / 1e6:.1f} MB; config, recipe and metrics in its metadata) |",
             f"| parameters | {params:,} (every tensor in the file) |", f"| config | `{json.dumps(cfg)}` |", "",
             "## Data", "",
             f"Trained on {rec['data']} train ({rec['train_images']:,} images: Noto Emoji and Twemoji, every skin tone, "
             f"{rec['sampling']}); evaluated on {m['test_set']}, never trained on (the split is by emoji). "
             f"{rec['epochs']} epochs at batch {rec['batch_size']}, {rec['optimizer']}, {rec['loss']}, "
             f"{rec['augment']}; {card['train_seconds']:.0f} s ({card['train_seconds'] / 60:.0f} min) on "
             f"{card['hardware']}.", "",
             "## How to reproduce", "", "```bash",
             f"python scripts/train_emojinet.py --epochs {rec['epochs']}" + (f" --seed {rec['seed']}" if rec["seed"] else ""),
             "```", "",
             "## Held-out metrics", "", "Stored in the checkpoint by its training script.", "",
             "| metric | value |", "|---|---|",
             f"| category accuracy | **{100 * m['test_accuracy']:.1f} %** on {m['test_set']} |",
             f"| category accuracy, balanced (mean over the 10 categories) | {100 * m['balanced_accuracy']:.1f} % |",
             f"| subcategory accuracy ({cfg['num_subcategories']} subcategories) | "
             f"{100 * m['subcategory_accuracy']:.1f} % |",
             *([f"| category accuracy by category | " + ", ".join(
                 f"{card['classes'][int(k)]} {100 * v:.0f} %" for k, v in m["category_accuracy_by_class"].items())
                + " |"] if "category_accuracy_by_class" in m else []), "",
             "## Use", "",
             "`imggen.metrics.emoji_metrics(samples, real, labels)` scores colour samples with it; "
             "`python -m imggen bench emoji` measures its floors (real train vs real held out) and scores colour "
             "checkpoints (`bench/results/emoji.md`).", "",
             "## Limits", "",
             "Held-out emoji are new emoji, so its accuracy is that of reading an unseen emoji's category from its look; "
             "categories are unbalanced (People & Body is 60 % of the images, mostly skin-tone variants), and some "
             "are read far less reliably than others (the per-category row above). Anything that is not an emoji on white still gets "
             "a (meaningless) category. Trained on emoji32 only: other images are resized to 32 px first.", ""]
    return "\n".join(lines)


p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "metrics" / "emojinet-emoji.safetensors")
p.add_argument("--card-only", action="store_true", help="only rewrite the card of --out")
a = p.parse_args()
if a.card_only:
    a.out.with_suffix(".md").write_text(card_text(a.out))
    raise SystemExit(f"wrote {a.out.with_suffix('.md')}")
torch.set_num_threads(a.threads)
tr, te = load_data("emoji32", split="train"), load_data("emoji32", split="test")
cfg = EmojiNetConfig(num_categories=tr.num_classes, num_subcategories=len(tr.extras["subcategories"]))
t0 = time.time()
model, res = fit(tr.images, tr.labels, tr.extras["subcategory"], tr.extras["emoji"],
                 (te.images, te.labels, te.extras["subcategory"]), epochs=a.epochs, seed=a.seed, config=cfg,
                 log=lambda s: print(f"[{time.time() - t0:.0f}s] {s}", flush=True))
dt = time.time() - t0
n_emoji = len(te.extras["emoji"].unique())
checkpoint.save(model, a.out, family="emojinet", name="emojinet-emoji", config=asdict(cfg),
                metrics={**res, "test_set": f"emoji32 test ({len(te)} images of {n_emoji} held-out emoji)"},
                recipe={"epochs": a.epochs, "batch_size": 64, "optimizer": "AdamW 2e-3 one-cycle, weight decay 5e-4",
                        "augment": "mirror + affine jitter on white", "sampling": "every emoji equally likely",
                        "loss": "category + subcategory cross-entropy, label smoothing 0.05", "seed": a.seed,
                        "block_stats": "emoji32 train split (6,820 images), after training",
                        "data": "emoji32", "train_images": len(tr)},
                card={"description": "Emoji feature network behind the colour FD, precision/recall and category "
                                     "accuracy (imggen.metrics.emoji_metrics).",
                      "data": "emoji32", "classes": list(tr.classes), "subcategories": list(tr.extras["subcategories"]),
                      "train_seconds": round(dt, 1), "hardware": f"CPU, {a.threads} threads".replace("1 threads", "1 thread")})
a.out.with_suffix(".md").write_text(card_text(a.out))
print(f"saved {a.out} and its card: " + ", ".join(f"{k} {v:.4f}" for k, v in res.items() if isinstance(v, float))
      + f" in {dt:.0f}s")
