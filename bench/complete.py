"""Completion benchmark: held-out MNIST test digits x masks (bottom half, right half, centre box); per model and
method: classifier accuracy of the completions against the true label, PSNR/SSIM on the missing region,
diversity between the n completions of an image, wall time. Writes bench/results/complete.{json,md}
after every row, so a partial run still reports what it measured.

    python -m imggen bench complete                      # 1,000 digits, every shipped MNIST model
    python -m imggen bench complete --images 200 --models vae-mnist dcgan-mnist --threads 1
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.common import RESULTS
from imggen import registry
from imggen.complete import LEARNED, auto_method, card_settings, complete_batch, mask_preset
from imggen.convert import to01
from imggen.data import load_data
from imggen.latent import weights_hash
from imggen.metrics import classify

MASKS = ("bottom", "right", "centre")
HALF_MASKS = ("bottom", "right")
CLASSICAL = ("telea", "biharmonic")
MODELS = ("vae-mnist", "cvae-mnist", "ae-mnist", "vaegan-mnist", "vae2d-mnist", "dcgan-mnist", "cgan-mnist", "arf-mnist",
          "pixelgpt-mnist", "stylegan-mnist")


def test_digits(n: int, seed: int = 0):
    """The first n of a fixed permutation of the MNIST test set (full 10k when present, else mnist5k's 500)."""
    try:
        data = load_data("mnist", split="test")
    except (FileNotFoundError, ValueError):
        data = load_data("mnist5k", split="test")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return data.images[perm], data.labels[perm], data.name


def _gauss(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-(torch.arange(size) - size // 2).float() ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None])[None, None]


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004, Gaussian window 7, sigma 1.5) per pixel for images in [0, 1], (N, 1, H, W)."""
    w = _gauss()
    f = lambda x: F.conv2d(F.pad(x, (3, 3, 3, 3), mode="reflect"), w)  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cov = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))


def score(out: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, m: torch.Tensor) -> dict:
    """out (B, n, 1, H, W), x (B, 1, H, W) in [-1, 1], m (B, 1, H, W): accuracy, PSNR/SSIM in the hole, diversity."""
    B, n = out.shape[:2]
    flat = out.reshape(B * n, *out.shape[2:])
    pred = classify(flat)[1].argmax(1).view(B, n)
    o01, x01 = to01(out), to01(x)[:, None].expand_as(out)
    hole = m[:, None].expand_as(out).bool()
    k = hole.flatten(2).sum(2).clamp_min(1)  # (B, n) missing pixels
    mse = ((o01 - x01) ** 2 * hole).flatten(2).sum(2) / k
    psnr = 10 * torch.log10(1 / mse.clamp_min(1e-10))
    s = ssim_map(o01.reshape(B * n, 1, *out.shape[-2:]), x01.reshape(B * n, 1, *out.shape[-2:])).view_as(out)
    ssim = (s * hole).flatten(2).sum(2) / k
    div = torch.tensor(0.0)
    if n > 1:  # mean pairwise RMS difference between completions of the same image, in the hole ([0, 1] units)
        d = [(((o01[:, i] - o01[:, j]) ** 2 * hole[:, 0]).flatten(1).sum(1) / k[:, 0]).sqrt()
             for i in range(n) for j in range(i + 1, n)]
        div = torch.stack(d).mean()
    return {"correct": (pred == labels[:, None]).float().sum().item(), "count": B * n,
            "psnr": psnr.sum().item(), "ssim": ssim.sum().item(), "diversity": div.item() * B,
            "any_correct": (pred == labels[:, None]).any(1).float().sum().item()}


def run(net, method: str, x, y, mask_name: str, n: int, batch: int, seed: int, **kw) -> dict:
    tot: dict[str, float] = {}
    m1 = mask_preset(mask_name, x.shape[-1])
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        mb = m1.expand(len(xb), -1, -1, -1)
        g = torch.Generator().manual_seed(seed + i)
        out = complete_batch(net, xb, mb, method, n, generator=g, **kw)
        for k, v in score(out, xb, yb, mb).items():
            tot[k] = tot.get(k, 0.0) + v
    secs = time.perf_counter() - t0
    N = len(x)
    return {"accuracy": tot["correct"] / tot["count"], "any_of_n_accuracy": tot["any_correct"] / N,
            "psnr": tot["psnr"] / tot["count"], "ssim": tot["ssim"] / tot["count"],
            "diversity": tot["diversity"] / N, "seconds_per_image": secs / N, "images": N, "samples": n}


def reference(x, y) -> dict:
    """Classifier accuracy on the clean digits and on the masked ones (hole = background)."""
    out = {"clean": (classify(x)[1].argmax(1) == y).float().mean().item()}
    for mk in MASKS:
        m = mask_preset(mk, x.shape[-1])
        out[f"masked_{mk}"] = (classify(torch.where(m.bool(), -1.0, x))[1].argmax(1) == y).float().mean().item()
    return out


def methods_for(net) -> list[str]:
    return [m for m, (need, _) in LEARNED.items() if hasattr(net, need)]


def markdown(res: dict) -> str:
    lines = [f"# Completion benchmark\n\n{res['images']} held-out {res['data']} test digits, {res['samples']} "
             f"completions each; accuracy = classifier reads the true digit (mean over completions); PSNR/SSIM on "
             f"the missing region; diversity = mean pairwise RMS difference between an image's completions in "
             f"the hole ([0, 1] units); time per image, {res['threads']} CPU thread(s), {res['machine']}.\n",
             "Reference: classifier accuracy on the clean digits " + f"{res['reference']['clean']:.1%}; with the "
             "hole left black: " + ", ".join(f"{k.split('_')[1]} {v:.1%}" for k, v in res["reference"].items()
                                             if k.startswith("masked")) + ".\n"]
    for mk in MASKS:
        rows = [r for r in res["rows"] if r["mask"] == mk]
        if not rows:
            continue
        lines += [f"\n## {mk} mask\n", "| model | method | accuracy | any-of-n | PSNR (dB) | SSIM | diversity | s/image |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: -r["accuracy"]):
            lines.append(f"| {r['model']} | {r['method']} | {r['accuracy']:.1%} | {r['any_of_n_accuracy']:.1%} | "
                         f"{r['psnr']:.2f} | {r['ssim']:.3f} | {r['diversity']:.3f} | {r['seconds_per_image']:.3f} |")
    s = summary(res)
    if s:
        lines += ["\n## Summary (half masks)\n", s]
    return "\n".join(lines) + "\n"


def summary(res: dict) -> str:
    half = [r for r in res["rows"] if r["mask"] in HALF_MASKS]
    learned = [r for r in half if r["method"] not in CLASSICAL]
    classical = [r for r in half if r["method"] in CLASSICAL]
    if not learned or not classical:
        return ""
    out = []
    for mk in HALF_MASKS:
        lr = [r for r in learned if r["mask"] == mk]
        cr = [r for r in classical if r["mask"] == mk]
        if lr and cr:
            bl, bc = max(lr, key=lambda r: r["accuracy"]), max(cr, key=lambda r: r["accuracy"])
            out.append(f"- {mk}: best learned {bl['model']}/{bl['method']} {bl['accuracy']:.1%} vs best classical "
                       f"{bc['method']} {bc['accuracy']:.1%} (+{100 * (bl['accuracy'] - bc['accuracy']):.1f} points)")
    return "\n".join(out)


def best_per_family(res: dict) -> dict:
    """family -> learned method with the highest mean accuracy on the half masks (feeds each family's
    ``completion`` in imggen/families.py)."""
    acc: dict[tuple, list] = {}
    for r in res["rows"]:
        if r["mask"] in HALF_MASKS and r["method"] not in CLASSICAL:
            acc.setdefault((r["family"], r["method"]), []).append(r["accuracy"])
    best: dict[str, tuple] = {}
    for (fam, meth), v in acc.items():
        a = sum(v) / len(v)
        if fam not in best or a > best[fam][1]:
            best[fam] = (meth, a)
    return {f: m for f, (m, _) in best.items()}


def current_hashes(models) -> dict[str, str]:
    """The weights hash of each of these models as registered now (names not registered are left out)."""
    paths = registry.model_paths()
    return {m: weights_hash(paths[m]) for m in models if m in paths}


def is_current(row: dict, hashes: dict[str, str]) -> bool:
    """Whether a result row was measured on the weights in ``hashes`` (classical rows: None == None, always)."""
    return row.get("checkpoint") == hashes.get(row["model"])


def merge(files: list[Path], out: Path) -> None:
    """Combine result files measured on the same digits: for the same model/method/mask a row of the weights
    shipped now beats one of replaced weights, else later files win."""
    runs = [json.loads(f.read_text()) for f in files]
    keys = {(r["images"], r["samples"], r.get("seed", 0)) for r in runs}
    assert len(keys) == 1, f"results measured on different digits/samples cannot be merged: {keys}"
    current = current_hashes({r["model"] for run_ in runs for r in run_["rows"]})
    res, rows = dict(runs[0]), {}
    for run_ in runs:
        for r in run_["rows"]:
            k = (r["model"], r["method"], r["mask"])
            if k not in rows or is_current(r, current) or not is_current(rows[k], current):
                rows[k] = r
    res["rows"] = list(rows.values())
    res["best_per_family"] = best_per_family(res)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--samples", type=int, default=4, help="completions per image")
    p.add_argument("--models", nargs="*", default=None, help="default: every shipped MNIST model")
    p.add_argument("--methods", nargs="*", default=None,
                   help="default: telea, biharmonic and each model's auto method; name methods to compare them")
    p.add_argument("--masks", nargs="*", default=list(MASKS))
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(RESULTS / "complete"))
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="keep rows of an earlier run on the same digits and skip them")
    p.add_argument("--merge", nargs="*", default=None,
                   help="only combine these result .json files (runs in parallel on the same digits) into --out")
    a = p.parse_args(argv)
    if a.merge is not None:
        return merge([Path(f) for f in a.merge], Path(a.out))
    torch.set_num_threads(a.threads)
    x, y, data_name = test_digits(a.images, a.seed)
    res = {"images": len(x), "samples": a.samples, "data": data_name, "threads": a.threads,
           "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "masks": a.masks,
           "reference": reference(x, y), "rows": []}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.resume and out.with_suffix(".json").exists():  # keep rows measured on the same digits by earlier runs
        old = json.loads(out.with_suffix(".json").read_text())
        if (old["images"], old["samples"], old.get("seed", 0)) == (len(x), a.samples, a.seed):
            res["rows"] = old["rows"]
    res["seed"] = a.seed

    def save():
        res["best_per_family"] = best_per_family(res)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(markdown(res))

    names = a.models if a.models is not None else [m for m in MODELS if m in registry.model_paths()]
    jobs = [(None, "classical", m) for m in CLASSICAL if a.methods is None or m in a.methods]
    for name in names:
        lm = registry.load(name, device="cpu")
        lm.checkpoint_hash = weights_hash(registry.model_paths()[name])  # of the weights loaded (files may be replaced later)
        jobs += [(lm, name, m) for m in methods_for(lm.net) if (a.methods is None and m == auto_method(lm.net, lm.family))
                 or (a.methods is not None and m in a.methods)]
    current = {name: lm.checkpoint_hash for lm, name, _ in jobs if lm is not None}
    stale = [r for r in res["rows"] if r["model"] in current and not is_current(r, current)]
    if stale:  # rows of weights that have since been replaced are measured again
        print(f"re-measuring {len(stale)} rows of replaced checkpoints", flush=True)
        res["rows"] = [r for r in res["rows"] if r not in stale]
    done = {(r["model"], r["method"], r["mask"]) for r in res["rows"]}
    for lm, name, method in jobs:
        for mk in a.masks:
            if (name, method, mk) in done:
                continue
            kw = card_settings(lm.card, method) if lm else {}  # as the Complete tab runs it
            r = run(lm.net if lm else None, method, x, y, mk, a.samples, a.batch, a.seed, **kw)
            r.update(model=name, family=lm.family if lm else "-", method=method, mask=mk, settings=kw,
                     checkpoint=lm.checkpoint_hash if lm else None,
                     checkpoint_recipe=lm.meta["recipe"] if lm else None)
            res["rows"].append(r)
            save()
            print(f"{name:14s} {method:10s} {mk:7s} acc {r['accuracy']:.3f} psnr {r['psnr']:.2f} "
                  f"ssim {r['ssim']:.3f} div {r['diversity']:.3f} {r['seconds_per_image']:.3f}s/img", flush=True)
    save()


if __name__ == "__main__":
    main()
