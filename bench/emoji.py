"""Colour benchmark (issue 27): what the emoji metrics (imggen.metrics.emoji_metrics: FD on the project's emoji net,
k-NN precision / recall, category accuracy, Laplacian SWD) read on real emoji, and where colour models stand.

Every row is scored against the same real set, the held-out emoji32 split (752 images of emoji never trained on):
- floors: real train images (seeded draws of as many) vs held out: the real-vs-real FD, P/R and SWD a perfect model
  of the training emoji would get;
- references: the same train draws blurred by a 5x5 binomial kernel (at 32 px, and at 64 px then area-downsampled):
  the FD of a plainly imperfect "model", as a multiple of the floor;
- models: each colour checkpoint given (default: every emoji-trained one in checkpoints/), as many samples as
  held-out images, conditional ones asked for the held-out images' categories ("reads as the asked category");
  autoencoders also reconstruct the held-out images (PSNR, [0, 1] pixels).
Writes bench/results/emoji.{json,md}.

    python -m imggen bench emoji                                  # floors + the shipped colour checkpoints
    python -m imggen bench emoji checkpoints/cgan-emoji32.safetensors runs/cgan-emoji32-noaug.safetensors
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from imggen import checkpoint, metrics, registry
from imggen.convert import to01
from imggen.data import load_data, style_categories

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGETS = {"fd_ratio": 10.0, "recall": 0.4, "category_accuracy": 0.7, "psnr": 24.0}  # issue 27's targets


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Each channel convolved with the 5x5 binomial kernel ([1, 4, 6, 4, 1] outer itself / 256), reflect-padded."""
    k = torch.tensor([1.0, 4, 6, 4, 1])
    k = (k[:, None] * k[None]) / 256
    c = x.shape[1]
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k.expand(c, 1, 5, 5), groups=c)


def draw(n: int, seed: int, name: str = "emoji32") -> tuple[torch.Tensor, torch.Tensor]:
    """n train images (a seeded draw without replacement) and their categories."""
    d = load_data(name, split="train")
    idx = torch.randperm(len(d), generator=torch.Generator().manual_seed(seed))[:n]
    return d.images[idx], d.labels[idx]


@torch.no_grad()
def category_features(x: torch.Tensor) -> torch.Tensor:
    """The emoji net's penultimate features (what its category head reads)."""
    net = metrics.emoji_net()
    return torch.cat([net.features(x[i:i + 500]) for i in range(0, len(x), 500)])


def scored(x: torch.Tensor, real: torch.Tensor, labels: torch.Tensor | None = None, *, penultimate: bool = False) -> dict:
    """emoji_metrics, plus (``penultimate``) the FD on the category features, for comparison."""
    out = metrics.emoji_metrics(x, real, labels)
    if penultimate:
        out["fd_penultimate"] = metrics.frechet_distance(category_features(x), category_features(real))
    return out


def colour_checkpoints() -> list[Path]:
    """Shipped checkpoints trained on emoji (recipe or card data emoji32 / emoji64)."""
    out = []
    for path in sorted(registry.CHECKPOINT_DIR.glob("*.safetensors")):
        try:
            meta = checkpoint.read_metadata(path)
        except checkpoint.CheckpointError:
            continue
        data = str(meta["recipe"].get("data") or meta["card"].get("data") or "")
        if data.startswith("emoji") and meta["family"] != "emojinet":
            out.append(path)
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of [0, 1] images."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return 10 * torch.log10(1 / mse)


def model_row(path: Path, test, floor: dict, seed: int) -> dict:
    """One model's row against the held-out split ``test`` (an ImageData)."""
    real, labels = test.images, test.labels
    m = registry.load(str(path), device="cpu")
    cfg, rec, card = m.meta["config"], m.meta["recipe"], m.meta["card"]
    size = cfg.get("image_size", 32)
    conditional = bool(cfg.get("num_classes"))
    n = len(real)
    t = time.perf_counter()
    ask = labels  # a model with a class per category and style is asked for each real image's own pair
    if conditional and style_categories(m.classes):
        ask = test.by_style().labels
    with torch.no_grad():
        x = torch.cat([m.sample(len(i), seed=seed + j, **({"labels": ask[i]} if conditional else {}))
                       for j, i in enumerate(torch.arange(n).split(250))])
    ms = 1000 * (time.perf_counter() - t) / n
    r = scored(x * 2 - 1, real, labels if conditional else None)
    r["fd_ratio"] = r["fd"] / max(floor["fd"], 1e-12)
    row = {"model": path.name.removesuffix(".safetensors"), "path": str(path.resolve().relative_to(ROOT))
           if path.resolve().is_relative_to(ROOT) else str(path), "family": m.family, "image_size": size,
           "conditional": conditional, "augment": rec.get("augment", ""), "steps": rec.get("steps"),
           "train_seconds": rec.get("train_seconds", card.get("train_seconds")),
           "hardware": card.get("hardware"), "samples": n, "ms_per_sample": round(ms, 2), **r}
    if callable(getattr(m.net, "reconstruct", None)) and getattr(m.net, "encode", None) is not None:
        if size != real.shape[-1]:
            test = load_data(f"emoji{size}" if size in (32, 64) else "emoji32", split="test", image_size=size)
        x01 = to01(test.images)
        with torch.no_grad():  # a conditional autoencoder is given each image's own category
            rec_x = torch.cat([m.reconstruct(x01[i:i + 250], **({"labels": test.labels[i:i + 250]} if conditional
                                                                 else {})) for i in range(0, len(x01), 250)])
        p = psnr(rec_x.clamp(0, 1), x01)
        row["recon_psnr"], row["recon_psnr_min"] = round(p.mean().item(), 2), round(p.min().item(), 2)
    return row


def markdown(res: dict) -> str:
    f, net = res["floor"], res["emoji_net"]
    lines = [
        "# Colour metrics on emoji (`bench/emoji.py`)", "",
        f"Real set: the held-out emoji32 split ({res['real_images']} images of emoji never trained on, 32 px RGB). "
        f"Features: `{net['path']}` (category accuracy on that split {100 * net['test_accuracy']:.1f} %, balanced "
        f"{100 * net['balanced_accuracy']:.1f} %, subcategory {100 * net['subcategory_accuracy']:.1f} %). FD on its "
        f"{net['feature_dim']}-d block features (each conv block's mean activation per channel, standardised by the "
        "train split); precision / recall k-NN (k = 3) in the same space; *FD cat.* = FD on its 128-d penultimate "
        "features (what the category head reads), shown for comparison; SWD ×1e3 on 7×7 Laplacian-pyramid "
        f"patches. {res['threads']} CPU thread(s), {res['machine']}, {res['seconds']:.0f} s.", "",
        "## Floors: real train vs real held out", "",
        f"{len(res['floors'])} seeded draws of {res['real_images']} train images (categories read right: the net on "
        "real training emoji).", "",
        "| draw | FD | precision | recall | SWD | category read right | FD cat. |", "|---|---|---|---|---|---|---|",
        *[f"| seed {r['seed']} | {r['fd']:.4g} | {r['precision']:.3f} | {r['recall']:.3f} | {r['swd']:.1f} | "
          f"{100 * r['category_accuracy']:.1f} % | {r['fd_penultimate']:.4g} |" for r in res["floors"]],
        f"| **mean** | **{f['fd']:.4g}** | {f['precision']:.3f} | {f['recall']:.3f} | {f['swd']:.1f} | "
        f"{100 * f['category_accuracy']:.1f} % | {f['fd_penultimate']:.4g} |", "",
        "## References", "",
        "| reference | FD | × floor | precision | recall | SWD | category read right | FD cat. (× its floor) |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['reference']} | {r['fd']:.4g} | **{r['fd_ratio']:.1f}×** | {r['precision']:.3f} | {r['recall']:.3f} | "
          f"{r['swd']:.1f} | {100 * r['category_accuracy']:.1f} % | "
          + (f"{r['fd_penultimate']:.4g} ({r['fd_penultimate_ratio']:.1f}×)" if "fd_penultimate" in r else "-") + " |"
          for r in res["references"]], "",
        "## Models", "",
        f"Targets (issue 27): GAN FD ≤ {TARGETS['fd_ratio']:g}× the floor, recall ≥ {TARGETS['recall']}, "
        f"≥ {100 * TARGETS['category_accuracy']:.0f} % of conditional samples read as the asked category; VAE "
        f"reconstructions of held-out emoji ≥ {TARGETS['psnr']:g} dB PSNR. Conditional models are asked for the "
        "held-out images' categories."
        + (f" For scale: the blurred train emoji above score {res['references'][0]['fd_ratio']:.1f}× the floor, "
           f"recall {res['references'][0]['recall']:.2f}." if res["references"] else ""), ""]
    if res["rows"]:
        lines += ["| model | family | augment | steps | train time | FD | × floor | precision | recall | asked category "
                  "| SWD | recon PSNR (dB) | ms / sample |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["rows"]:
            ts = r.get("train_seconds")
            cat = f"{100 * r['category_accuracy']:.1f} %" if "category_accuracy" in r else "-"
            minutes = f"{float(ts) / 60:.0f} min" if ts else "?"
            lines.append(
                f"| `{r['model']}` | {r['family']} | {r['augment'] or 'none'} | {r['steps'] or '?'} | "
                f"{minutes} | {r['fd']:.4g} | {r['fd_ratio']:.1f}× | {r['precision']:.3f} | {r['recall']:.3f} | {cat} | "
                f"{r['swd']:.1f} | {r.get('recon_psnr', '-')} | {r['ms_per_sample']:.2f} |")
    else:
        lines.append("No colour checkpoint was given or shipped when this ran: "
                     "`python -m imggen bench emoji PATH...` adds rows.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", type=Path,
                   help="colour checkpoints to score (default: every emoji-trained one in checkpoints/)")
    p.add_argument("--draws", type=int, default=3, help="seeded train draws for the floor")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="the models' sampling seed")
    p.add_argument("--out", default=str(RESULTS / "emoji"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    test = load_data("emoji32", split="test")
    real, n = test.images, len(test)
    net_meta = checkpoint.read_metadata(metrics.EMOJINET_PATH)
    floors, refs = [], []
    for s in range(a.draws):
        x, y = draw(n, s)
        floors.append({"seed": s, **scored(x, real, y, penultimate=True)})
        print("floor", floors[-1], flush=True)
        if s == 0:
            x64, y64 = draw(n, s, "emoji64")
            for name, xb in (("train draw (seed 0) blurred 5×5 binomial at 32 px", binomial_blur(x)),
                             ("train draw (seed 0) blurred 5×5 binomial at 64 px, then 2×2 mean to 32 px",
                              F.avg_pool2d(binomial_blur(x64), 2))):
                refs.append({"reference": name, **scored(xb, real, y, penultimate=True)})
                print("reference", refs[-1], flush=True)
    keys = ("fd", "precision", "recall", "swd", "category_accuracy", "fd_penultimate")
    floor = {k: statistics.mean(r[k] for r in floors) for k in keys}
    floor["fd_spread"] = [min(r["fd"] for r in floors), max(r["fd"] for r in floors)]
    for r in refs:
        r["fd_ratio"] = r["fd"] / max(floor["fd"], 1e-12)
        r["fd_penultimate_ratio"] = r["fd_penultimate"] / max(floor["fd_penultimate"], 1e-12)
    rows = []
    for path in a.checkpoints or colour_checkpoints():
        rows.append(model_row(path, test, floor, a.seed))
        print("model", rows[-1], flush=True)
    res = {"real_images": n, "real": "emoji32 test split", "threads": a.threads, "machine":
           f"{platform.machine()} {platform.processor() or ''}".strip(), "seconds": round(time.time() - t0, 1),
           "emoji_net": {"path": str(metrics.EMOJINET_PATH.relative_to(ROOT)),
                         "feature_dim": 7 * net_meta["config"]["channels"],
                         **{k: net_meta["metrics"][k] for k in ("test_accuracy", "balanced_accuracy",
                                                                "subcategory_accuracy")}},
           "targets": TARGETS, "floor": floor, "floors": floors, "references": refs, "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
