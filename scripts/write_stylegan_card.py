"""Write checkpoints/stylegan-mnist.md from the checkpoint's metadata (recipe, card, `imggen eval --write` metrics)
and the benchmark that measured it beside the other GANs (bench/results/stylegan.{json,md}).

    python -m imggen train stylegan --data mnist --epochs 100 --time-limit 6600 --lr 2e-4 --batch-size 64 \
        --train-config '{"lr_d": 2e-4}' --out checkpoints/stylegan-mnist.safetensors
    python -m imggen eval stylegan-mnist --write
    python -m imggen bench stylegan && python scripts/write_stylegan_card.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cards import bench_section  # noqa: E402  (scripts/cards.py)
from imggen import registry  # noqa: E402

NAME = "stylegan-mnist"


def main() -> None:
    card = registry.list_models()[NAME]
    m, rec, cfg = card["metrics"], card["recipe"], card["config"]
    size = Path(card["path"]).stat().st_size / 2**20
    t = (card.get("sampling") or {}).get("truncation", 1.0)
    net = registry.load(NAME).net
    g_params = sum(p.numel() for p in net.G.parameters())
    phases = rec.get("history") or [rec]
    lines = [f"# {NAME}", "",
             "A style-based GAN (StyleGAN, Karras et al. 2019, with StyleGAN2's modulated convolutions): a "
             f"{cfg['mapping_layers']}-layer mapping network turns z into a style w; the synthesis network starts "
             f"from a learned {net.G.layer_res[0]}×{net.G.layer_res[0]} constant and each of its "
             f"{len(net.G.layer_res)} layers ({', '.join(f'{r}×{r}' for r in net.G.layer_res)}) is modulated by a "
             "style, with per-pixel noise and skip RGB outputs. Each layer takes its own copy of w, so styles from "
             "two latents can be mixed by layer (Explore tab → Style mixing; `mix`, `mixing_grid`), and truncation "
             "works in W. Discriminator, hinge loss and trainer are the DCGAN's (`imggen/models/stylegan.py`).", "",
             "| | |", "|---|---|",
             "| family | `stylegan` (`imggen/models/stylegan.py`) |",
             f"| file | `checkpoints/{NAME}.safetensors` ({size:.1f} MB, safetensors, config + recipe + metrics in "
             "metadata) |",
             f"| parameters | {card['parameters']:,} (G {g_params:,}) |",
             f"| config | `{json.dumps(cfg)}` |",
             f"| training data | full MNIST training set ({rec['train_images']:,} images); evaluation on the 10,000 test "
             "images, never trained on |",
             f"| recipe | hinge loss, Adam lr G {rec['lr']:g} / D {rec['lr_d']:g}, betas {tuple(rec['betas'])}, batch "
             f"{rec['batch_size']}, EMA of G ({rec['ema_decay']}), style mixing in {100 * cfg['style_mixing']:.0f} % "
             "of batches, minibatch-std in D |",
             f"| trained | {rec['steps']:,} steps ({rec['epochs']:.1f} epochs) in {rec['train_seconds'] / 60:.0f} min on "
             f"{card['hardware']} (sharing the 2 cores with other jobs)"
             + (": " + ", then ".join(f"{h['steps']:,} steps in {h['train_seconds'] / 60:.0f} min" for h in phases)
                if len(phases) > 1 else "") + " |",
             "| reproduce | " + ", then ".join(
                 f"`python -m imggen train stylegan --data mnist --epochs 100 --time-limit {h['time_limit_s']:g} "
                 f"--lr {h['lr']:g} --batch-size {h['batch_size']} --train-config '{{\"lr_d\": {rec['lr_d']:g}}}'"
                 + (" --init <previous phase>" if i else "") + f" --out runs/{NAME}.safetensors`"
                 for i, h in enumerate(phases)) + f", then `python -m imggen eval {NAME} --write` |",
             f"| use | `imggen.load(\"{NAME}\").sample(16, seed=0, truncation={t:g})`; style mixing: "
             f"`imggen.load(\"{NAME}\").net.mixing_grid(z_rows, z_cols, {{7}})` |", "",
             f"## Measured (`python -m imggen eval {NAME} --write`: 5,000 samples vs 5,000 test digits; floor = the "
             "other half of the test set)", "",
             "| metric | value |", "|---|---|",
             f"| classifier-FD | **{m['fd']:.3f}** (floor {m['fd_floor']:.3f}, {m['fd'] / m['fd_floor']:.1f}×) |",
             f"| coverage | {m['coverage']}/10 classes (class entropy {m['class_entropy']:.3f} bits of 3.32) |",
             f"| confident fraction | {100 * m['confident_fraction']:.1f} % (real test digits "
             f"{100 * m['real_confident_fraction']:.1f} %) |",
             f"| precision / recall | {m['precision']:.3f} / {m['recall']:.3f} |"]
    lines += ["", "Plainly: this model is undertrained next to dcgan-mnist and cgan-mnist (FD many times theirs, far lower "
              f"recall): it had {rec['steps'] / 1000:.1f}k steps on one shared CPU thread where they had GPU time. Truncation "
              "in W does not buy quality here (ψ 0.8: the same FD and confidence, less recall; ψ 0.6: worse), so the "
              "Sample tab starts it at 1. It is shipped for what only it does — mixing styles by layer — and as the "
              "start of a longer run (`imggen train stylegan --init checkpoints/stylegan-mnist.safetensors ...`)."]
    lines += bench_section("stylegan", "Beside the other GANs (`bench/results/stylegan.md`)")
    lines += ["", "The digit's identity is spread over the 7×7 and 14×14 styles (taking either from B turns most mixes "
              "into neither digit); the 28×28 styles change the fewest pixels and leave A's digit readable most often."]
    walks = {r["path"]: r for r in json.loads((ROOT / "bench" / "results" / "stylegan.json").read_text()).get("walks", [])
             if r["model"] == NAME}
    if {"w", "slerp"} <= set(walks):
        w, z = walks["w"], walks["slerp"]
        lines += ["", f"Walks (Interpolate tab): a straight line in W passes a third digit in {100 * w['third_digit']:.1f} % "
                  f"of walks against {100 * z['third_digit']:.1f} % for slerp in z, and is {w['detour']:.2f} against "
                  f"{z['detour']:.2f} times the straight distance in classifier features — W is the flatter space, as "
                  "the StyleGAN paper found, so the tab walks there for this model."]
    out = ROOT / "checkpoints" / f"{NAME}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
