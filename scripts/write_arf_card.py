"""Write checkpoints/arf-mnist.md from the checkpoint's metadata (recipe, card, `imggen eval --write` metrics) and
the benchmarks that measured it (bench/results/arf.json, bench/results/complete.json).

    python -m imggen train arf --data mnist --epochs 5 --config '{"trees": 4, "max_leaves": 1500, "min_leaf": 3}' \
        --out checkpoints/arf-mnist.safetensors
    python -m imggen eval arf-mnist --write && python -m imggen bench arf && python scripts/write_arf_card.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cards import bench_section  # noqa: E402  (scripts/cards.py)
from imggen import registry  # noqa: E402

NAME = "arf-mnist"


def completion_rows() -> list[str]:
    path = ROOT / "bench" / "results" / "complete.json"
    res = json.loads(path.read_text()) if path.exists() else {"rows": []}
    rows = [r for r in res["rows"] if r["model"] == NAME]
    if not rows:
        return []
    out = ["", f"## Completion (`bench/results/complete.md`, {res['images']} held-out test digits, {res['samples']} "
               "completions each)", "",
           "Each completion draws a leaf from its exact posterior given the known pixels, then the missing pixels "
           f"from that leaf, sharpened at the card's truncation {rows[0].get('settings', {}).get('truncation', 1):g} "
           "as the Complete tab does. Drawn exactly (truncation 1) on the same digits, 2026-11-26 23:20 UTC: "
           "76.5 / 85.0 / 64.5 % (bottom / right / centre), PSNR 10.0 / 10.1 / 6.2 dB, diversity 0.34-0.54.", "",
           "| mask | accuracy | any-of-n | PSNR (dB) | SSIM | diversity | s/image |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['mask']} | {r['accuracy']:.1%} | {r['any_of_n_accuracy']:.1%} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
            f"{r['diversity']:.3f} | {r['seconds_per_image']:.3f} |" for r in rows]
    return out


def main() -> None:
    card = registry.list_models()[NAME]
    m, rec, cfg = card["metrics"], card["recipe"], card["config"]
    size = Path(card["path"]).stat().st_size / 2**20
    lines = [f"# {NAME}", "",
             "Adversarial random forest (Watson et al. 2023): a random forest learns to tell real digits from "
             "synthetic ones, the synthetic ones are redrawn from its leaves, and the rounds repeat. Each leaf of the "
             "last forest is one component of a mixture of independent Bernoullis over binarized pixels, so the model "
             "samples, scores an exact likelihood and completes masked digits exactly (`imggen/models/arf.py`).", "",
             "| | |", "|---|---|",
             f"| family | `arf` (`imggen/models/arf.py`) |",
             f"| file | `checkpoints/{NAME}.safetensors` ({size:.1f} MB: leaf weights and float16 pixel probabilities, "
             "config in metadata) |",
             f"| config | `{json.dumps(cfg)}` |",
             f"| training data | full MNIST training set ({rec['train_images']:,} images, binarized at 0.5); evaluation "
             "on the 10,000 test images, never trained on |",
             f"| training | {rec['steps']} adversarial rounds (one per epoch, all images at once) in "
             f"{card['train_seconds']:.0f} s on {card['hardware']} |",
             f"| reproduce | `python -m imggen train arf --data mnist --epochs {rec['steps']} --config "
             f"'{json.dumps({k: cfg[k] for k in ('trees', 'max_leaves', 'min_leaf')})}' --out "
             f"checkpoints/{NAME}.safetensors`, then `python -m imggen eval {NAME} --write` |", "",
             "## Measured (`python -m imggen eval arf-mnist --write`: 5,000 samples vs 5,000 test digits; "
             "likelihood on all 10,000)", "",
             "| metric | value |", "|---|---|",
             f"| exact NLL | {m['nll_nats']:.2f} nats per image ({m['bits_per_dim']:.4f} bits per pixel), binarized "
             "test digits |",
             f"| classifier-FD | {m['fd']:.2f} (floor {m['fd_floor']:.3f}, {m['fd'] / m['fd_floor']:.0f}×) |",
             f"| coverage | {m['coverage']}/10 classes |",
             f"| confident fraction | {100 * m['confident_fraction']:.1f} % (real test digits "
             f"{100 * m['real_confident_fraction']:.1f} %) |",
             f"| precision / recall | {m['precision']:.3f} / {m['recall']:.3f} |", "",
             "Samples drawn exactly (truncation 1) are binary and speckled: within a leaf the pixels are independent, "
             "and a leaf holds about a dozen digits of similar but not identical shape. Truncation sharpens each "
             "pixel's probability (logit ÷ truncation) before it is drawn; the Sample tab starts at "
             f"{card.get('sampling', {}).get('truncation', 1):g} (`card[\"sampling\"]`), the lowest FD before recall "
             "falls (table below: 0.1 gains 10 % on FD and loses 13 % of recall).", "",
             "What the benchmark says plainly: a mixture of 1,000 Bernoullis fitted by EM beats the forest on "
             "likelihood (120.9 vs 128.1 nats) and, sharpened alike, on FD (1.15 vs 12.6 at truncation 0.2) — its "
             "samples are near its 1,000 prototypes (recall 0.13 against the forest's 0.33). The forest fits in "
             "about a minute where that EM took 5-7; rounds help it (round 1, a plain forest, 135.0 nats; round 5, "
             "128.1), and completion is exact conditional sampling at a few milliseconds per digit.", "",
             "Shape of the forest, tried on 10,000 training digits (4 rounds; NLL on 2,000 test digits; FD of "
             "1,000 samples against 1,000 training digits, the training loop's per-epoch check): 16 trees × 400 "
             "leaves (at least 5 images a leaf) 131.2 nats, FD 46.1; 8 × 800 (5) 128.6 nats, FD 39.0; 4 × 1,600 (3) "
             "129.0 nats, FD 36.0. On all 60,000, 5 rounds: 4 × 1,500 (3; shipped) 127.8 nats, FD 40.3; 2 × 3,000 "
             "(2) 128.9 nats, FD 39.1. Many shallow trees did worst; the deeper shapes are close.", "",
             "Smoothing: a leaf's pixel probabilities are its digits' means with α = 1 pseudo-image of the data's "
             "marginals; α was chosen on the last 5,000 training digits held out (same forest, validation NLL for "
             "α = 0.1 / 0.3 / 1 / 3 / 10: 131.9 / 130.5 / 129.9 / 131.8 / 136.0 nats)."]
    lines += bench_section("arf", "Against classic pixel mixtures (`bench/results/arf.md`)") + completion_rows()
    out = ROOT / "checkpoints" / f"{NAME}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
