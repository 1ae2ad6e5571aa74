"""Style-based GAN (``stylegan``), side by side in one run on the same held-out digits:
- sample quality of stylegan-mnist at truncations psi (styles pulled toward the mean style) beside dcgan-mnist
  (plain sampling from its fitted prior) and cgan-mnist (labels drawn at random): classifier FD / floor, coverage,
  confident fraction, precision / recall, milliseconds per sample;
- what style mixing moves: pairs (A, B) of confidently classified samples of different digits; each layer
  resolution in turn takes its styles from B. Share of mixes read as B's digit, as A's digit, and mean pixel change
  from A — coarse layers should carry the digit, fine ones only the stroke;
- latent walks between two confident samples of different digits (the Interpolate tab's walks): a straight line in
  the style space W against slerp in z (and the other models' z walks): how often a walk passes through a third
  digit, how many of its frames are unclear, and its length in classifier-feature space over the straight distance
  (a perceptual-path-length-like detour; 1 = straight);
- with --train-seconds S: a style-based GAN and a DCGAN trained from scratch for S seconds each on the same images
  with the same recipe (hinge, Adam 2e-4, batch 64, EMA), to compare what the same CPU time buys.

    python -m imggen bench stylegan --truncation 0.8 0.6 --pairs 1000 --walks 500 --train-seconds 600
Writes bench/results/stylegan.{json,md}.
"""
from __future__ import annotations

import argparse
import sys

import torch

from bench.common import RESULTS, machine, quality, save, summary, timed_samples
from imggen import metrics, registry
from imggen.data import load_data
from imggen.evaluate import heldout
from imggen.interpolate import latent_path
from imggen.train import TrainConfig, TrainState, train

CONFIDENT = 0.8  # the confident-fraction threshold of imggen.metrics


def confident_pairs(net, n: int, seed: int, render=None):
    """(z_a, z_b, class_a, class_b, images_a): up to n latent pairs whose images (``render``, default the
    generator) are confident digits of different classes."""
    render = render or net.decode
    g = torch.Generator().manual_seed(seed)
    za, zb = net.latents(4 * n, generator=g), net.latents(4 * n, generator=g)
    with torch.no_grad():
        xa, xb = render(za), render(zb)
    pa, pb = metrics.classify(xa)[1], metrics.classify(xb)[1]
    ca, cb = pa.argmax(1), pb.argmax(1)
    ok = (pa.max(1).values >= CONFIDENT) & (pb.max(1).values >= CONFIDENT) & (ca != cb)
    i = ok.nonzero().flatten()[:n]
    return za[i], zb[i], ca[i], cb[i], xa[i]


def mixing_rows(net, pairs: int, truncation: float, seed: int = 0) -> list[dict]:
    """For each layer resolution: how often mixing in B's styles there turns A's digit into B's."""
    za, zb, ca, cb, xa = confident_pairs(net, pairs, seed, lambda z: net.render(z, truncation))
    if not len(za):  # a generator without confident digits of two classes has nothing to mix
        return []
    rows = []
    for r in sorted(set(net.layer_resolutions)):
        x = torch.cat([net.mix_pairs(a, b, {r}, truncation) for a, b in zip(za.split(500), zb.split(500))])
        c = metrics.classify(x)[1].argmax(1)
        rows.append({"layers": f"{r}×{r}", "pairs": len(za), "reads_as_b": (c == cb).float().mean().item(),
                     "reads_as_a": (c == ca).float().mean().item(),
                     "pixel_change": ((x - xa).abs() / 2).mean().item()})
    return rows


@torch.no_grad()
def walk_row(name: str, net, mode: str, walks: int, steps: int, seed: int = 2) -> dict | None:
    """Walks of ``steps`` frames (imggen.interpolate, as the Interpolate tab draws them) between confident
    samples of different digits: share passing through a confident third digit, share of unclear frames, and
    the walk's length in classifier features over the straight distance between its ends."""
    za, zb, ca, cb, _ = confident_pairs(net, walks, seed)
    if not len(za):  # no confident digits of two classes: nothing to walk between
        return None
    frames = torch.stack([(net.render_styles if mode == "w" else net.decode)(latent_path(net, a, b, steps, mode))
                          for a, b in zip(za, zb)])  # (walks, steps, C, H, W)
    f, p = metrics.classify(frames.flatten(0, 1))
    f, p = f.view(len(za), steps, -1), p.view(len(za), steps, -1)
    conf, cls = p.max(2)
    third = ((conf >= CONFIDENT) & (cls != ca[:, None]) & (cls != cb[:, None])).any(1)
    length = (f[:, 1:] - f[:, :-1]).norm(dim=2).sum(1) / (f[:, -1] - f[:, 0]).norm(dim=1).clamp_min(1e-6)
    return {"model": name, "path": mode, "walks": len(za), "steps": steps,
            "third_digit": third.float().mean().item(), "unclear_frames": (conf < CONFIDENT).float().mean().item(),
            "detour": length.mean().item(), "detour_median": length.median().item()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="stylegan-mnist")
    p.add_argument("--others", nargs="*", default=["dcgan-mnist", "cgan-mnist"])
    p.add_argument("--truncation", type=float, nargs="*", default=[0.8, 0.6])
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--pairs", type=int, default=1000, help="style-mixing pairs (0 = skip)")
    p.add_argument("--walks", type=int, default=500, help="latent walks per path (0 = skip)")
    p.add_argument("--walk-steps", type=int, default=16, help="frames per walk")
    p.add_argument("--train-seconds", type=float, default=0, help="style GAN vs DCGAN from scratch, this long each")
    p.add_argument("--train-data", default="mnist5k")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "stylegan"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    held = heldout(a.samples)
    n, rows = len(held), []

    def add(name, net, **kw):
        x, ms = timed_samples(net, n, **kw)
        row = {"model": name, **kw, "ms_per_sample": round(ms, 3),
               "parameters_g": sum(p.numel() for p in net.G.parameters()),
               **quality(held.score(x))}
        rows.append(row)
        print(f"{name:44s} {summary(row)} {ms:.2f} ms/sample", flush=True)

    net = registry.load(a.model, device="cpu").net
    for t in [1.0, *a.truncation]:
        add(f"{a.model}, truncation {t:g}", net, truncation=t)
    for other in a.others:
        add(other, registry.load(other, device="cpu").net)
    mixing = []
    for t in ([1.0] if a.pairs else []):
        mixing = mixing_rows(net, a.pairs, t)
        for r in mixing:
            print(f"mixing {r['layers']:8s} reads as B {100 * r['reads_as_b']:.1f}% as A {100 * r['reads_as_a']:.1f}% "
                  f"pixel change {r['pixel_change']:.3f}", flush=True)
    walks = []
    if a.walks:
        others = {o: registry.load(o, device="cpu").net for o in a.others}
        for name, m, mode in ((a.model, net, "w"), (a.model, net, "slerp"), (a.model, net, "lerp"),
                              *((o, m, "slerp") for o, m in others.items() if not m.num_classes)):
            r = walk_row(name, m, mode, a.walks, a.walk_steps)
            if r is None:
                break  # a generator without confident digits of two classes: no walks to compare
            walks.append(r)
            print(f"walk {name} {mode:6s} third digit {100 * r['third_digit']:.1f}% unclear frames "
                  f"{100 * r['unclear_frames']:.1f}% detour {r['detour']:.2f}", flush=True)
    trained = []
    if a.train_seconds:
        data = load_data(a.train_data, split="train")
        for fam, over in (("stylegan", {}), ("dcgan", {"upsample": "nearest"})):
            torch.manual_seed(0)
            state = TrainState()
            cfg = TrainConfig(epochs=10_000, batch_size=64, lr=2e-4, time_limit_s=a.train_seconds, eval_samples=0)
            ev = list(train(fam, data, cfg, model_config=over, state=state))[-1]
            add(f"{fam} trained {a.train_seconds:g} s here", state.trainer.inference_model())
            rows[-1].update(steps=ev.step, train_images=len(data))
            trained.append(rows[-1]["model"])
    res = {"args": " ".join(argv if argv is not None else sys.argv[1:]), "samples": n, "floor": held.fd_floor,
           "threads": a.threads, "machine": machine(), "rows": rows, "mixing": mixing, "walks": walks}
    save(a.out, res, markdown)


def markdown(res: dict) -> str:
    rows = res["rows"]
    base = rows[0]
    lines = [f"# Style-based GAN (`python -m imggen bench stylegan {res['args']}`)", "",
             f"{res['samples']:,} samples per row against one half of the MNIST test set (floor {res['floor']:.3f}); "
             f"ratios against `{base['model']}`. {res['threads']} thread(s), {res['machine']}.", "",
             "| model | G parameters | FD × floor | FD vs ref | classes | confident | precision / recall | ms / sample "
             "| steps |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters_g']:,} | {r['fd_ratio']:.2f} | {r['fd'] / base['fd']:.2f}× | "
                     f"{r['coverage']}/10 | {100 * r['confident_fraction']:.1f} % | {r['precision']:.2f} / "
                     f"{r['recall']:.2f} | {r['ms_per_sample']:.2f} | {r.get('steps', '-')} |")
    if res["mixing"]:
        m = res["mixing"]
        lines += ["", f"## What style mixing moves ({m[0]['pairs']} pairs of confident samples of different digits)",
                  "", "Image A with the styles of one layer resolution taken from image B; the classifier's reading of "
                  "the mix, and the mean pixel change from A (in [0, 1] units).", "",
                  "| layers from B | reads as B's digit | reads as A's digit | pixel change |", "|---|---|---|---|"]
        lines += [f"| {r['layers']} | {100 * r['reads_as_b']:.1f} % | {100 * r['reads_as_a']:.1f} % | "
                  f"{r['pixel_change']:.3f} |" for r in m]
    if res.get("walks"):
        w = res["walks"]
        base = w[0]
        lines += ["", f"## Latent walks ({base['walks']} walks of {base['steps']} frames between confident samples of "
                  "different digits)", "", "As the Interpolate tab draws them: `w` = a straight line between the "
                  "endpoints' styles, `slerp` / `lerp` = in z. *Third digit*: the walk shows a confident digit that is "
                  "neither end's. *Detour*: the walk's length in classifier features over the straight distance "
                  "between its ends (1 = straight), mean (median); ratios against the first row.", "",
                  "| model | path | third digit | unclear frames | detour | detour vs first |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['path']} | {100 * r['third_digit']:.1f} % | {100 * r['unclear_frames']:.1f} % "
                  f"| {r['detour']:.2f} ({r['detour_median']:.2f}) | {r['detour'] / base['detour']:.2f}× |" for r in w]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
