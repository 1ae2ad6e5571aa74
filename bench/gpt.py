"""Pixel GPT (``pixelgpt``) against the project's other exact-likelihood model of binarized digits, side by side
in one run on the same held-out digits:
- independent pixels (each pixel from its training marginal): the floor every model must beat;
- arf-mnist (adversarial random forest), plain and at its card's truncation;
- pixelgpt-mnist, unconditional (the class drawn from its learned frequencies) at truncation (temperature) 1 and
  the ones given, and label -> image with the labels cycling (label accuracy);
- with --train-seconds S: two pixel GPTs trained here for S seconds each on the same images, one pixel per token
  (784 tokens) and 2x2 patches (196 tokens, the shipped choice), to show what the patches buy at equal CPU time.
Columns: exact NLL of the same binarized test digits, sample quality (classifier FD / floor, coverage, confident,
precision / recall), milliseconds per sample, and bottom-half completion accuracy (bench/complete.py's scoring).

    python -m imggen bench gpt --truncation 0.9 0.8 --train-seconds 300
Writes bench/results/gpt.{json,md}.
"""
from __future__ import annotations

import argparse
import sys

import torch

from bench.common import RESULTS, machine, quality, save, summary, timed_samples
from bench.complete import run as run_completion
from imggen import registry
from imggen.complete import auto_method, card_settings
from imggen.data import load_data
from imggen.evaluate import heldout
from imggen.models.arf import ARF, ARFConfig, binarize
from imggen.train import TrainConfig, TrainState, train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpt", default="pixelgpt-mnist", help="the pixel GPT to measure (name or checkpoint)")
    p.add_argument("--arf", default="arf-mnist", help="the random forest beside it ('' to skip)")
    p.add_argument("--truncation", type=float, nargs="*", default=[0.9, 0.8], help="pixel GPT temperatures")
    p.add_argument("--samples", type=int, default=5000, help="samples per row (and test digits they are compared to)")
    p.add_argument("--nll-images", type=int, default=1000, help="test digits whose exact NLL every model scores")
    p.add_argument("--complete-images", type=int, default=200, help="test digits completed (bottom half), 0 = skip")
    p.add_argument("--train-seconds", type=float, default=0, help="patch 1 vs patch 2 trained this long each")
    p.add_argument("--train-data", default="mnist5k")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "gpt"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    held = heldout(a.samples)
    test = held.test
    nll_x = test.images[:a.nll_images]
    cx, cy = test.images[len(test) - a.complete_images:], test.labels[len(test) - a.complete_images:]
    n, rows, scored = len(held), [], {}

    def nll(net) -> float:  # the likelihood does not depend on the sampling settings: once per model
        if id(net) not in scored:
            scored[id(net)] = -net.log_likelihood(nll_x).mean().item()
        return scored[id(net)]

    def add(name, net, sample_kw=None, completion=None, **extra):
        kw = dict(sample_kw or {})
        x, ms = timed_samples(net, n, **kw)
        labels = kw.pop("labels", None)
        row = {"model": name, **kw, "ms_per_sample": round(ms, 2),
               **quality(held.score(x, labels)),
               "nll_nats": nll(net), **extra}
        row["bits_per_dim"] = row["nll_nats"] / (784 * 0.6931471805599453)
        if completion and a.complete_images:
            method, ckw = completion
            row["completion"] = run_completion(net, method, cx, cy, "bottom", 4, 50, 0, **ckw)
        rows.append(row)
        comp = f" completion {100 * row['completion']['accuracy']:.1f}%" if "completion" in row else ""
        print(f"{name:44s} NLL {row['nll_nats']:.1f} {summary(row)} {ms:.1f} ms/sample{comp}", flush=True)

    train_bits = binarize(load_data(test.name, split="train").images)
    indep = ARF(ARFConfig())
    indep.set_leaves(torch.ones(1), train_bits.mean(0, keepdim=True).clamp(1e-3, 1 - 1e-3))
    add("independent pixels", indep)
    if a.arf:
        lm = registry.load(a.arf, device="cpu")
        add(a.arf, lm.net)
        t = (lm.card.get("sampling") or {}).get("truncation")
        if t is not None:
            add(f"{a.arf}, truncation {t:g} (its card's)", lm.net, {"truncation": t},
                (auto_method(lm.net, lm.family), card_settings(lm.card, auto_method(lm.net, lm.family))))
    gm = registry.load(a.gpt, device="cpu")
    gpt = gm.net
    t_card = (gm.card.get("sampling") or {}).get("truncation", 1.0)
    for t in [1.0, *a.truncation]:
        comp = ("gpt", {"truncation": t}) if t == t_card else None
        add(f"{a.gpt}, truncation {t:g}", gpt, {"truncation": t}, comp,
            parameters=sum(p.numel() for p in gpt.parameters()))
    if gpt.config.num_classes:
        add(f"{a.gpt}, labels cycling, truncation {t_card:g}", gpt,
            {"truncation": t_card, "labels": torch.arange(n) % gpt.config.num_classes})
    if a.train_seconds:
        data = load_data(a.train_data, split="train")
        base = {k: getattr(gpt.config, k) for k in ("n_layer", "n_head", "n_embd", "levels")}
        for patch in (1, 2):
            torch.manual_seed(0)
            cfg = TrainConfig(epochs=1000, batch_size=64, lr=1e-3, time_limit_s=a.train_seconds, eval_samples=0)
            state = TrainState()
            ev = list(train("pixelgpt", data, cfg, model_config={**base, "patch": patch}, state=state))[-1]
            net = state.model.eval()
            add(f"trained {a.train_seconds:g} s here, patch {patch}", net, {}, None, patch=patch, steps=ev.step,
                train_images=len(data))
    res = {"args": " ".join(argv if argv is not None else sys.argv[1:]), "test": len(test), "floor": held.fd_floor,
           "nll_images": len(nll_x), "samples": n, "complete_images": a.complete_images, "threads": a.threads,
           "machine": machine(), "rows": rows}
    save(a.out, res, markdown)


def markdown(res: dict) -> str:
    rows = res["rows"]
    base = next((r for r in rows if r["model"].startswith("arf")), rows[0])
    lines = [f"# Pixel GPT vs the other exact-likelihood models (`python -m imggen bench gpt {res['args']}`)", "",
             f"Same held-out digits for every row: exact NLL of the first {res['nll_images']:,} binarized test digits; "
             f"{res['samples']:,} samples per row compared with one half of the test set (floor "
             f"{res['floor']:.3f}); completion = classifier accuracy of 4 completions of the bottom half of "
             f"{res['complete_images']} other test digits. Ratios against `{base['model']}`. {res['threads']} "
             f"thread(s), {res['machine']}.", "",
             "| model | NLL nats (bits/px) | NLL vs ref | FD × floor | classes | confident | precision / recall | "
             "label acc. | ms / sample | completion |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        comp = f"{100 * r['completion']['accuracy']:.1f} % ({1000 * r['completion']['seconds_per_image']:.0f} ms)" \
            if "completion" in r else "-"
        acc = f"{100 * r['label_accuracy']:.1f} %" if "label_accuracy" in r else "-"
        lines.append(f"| {r['model']} | {r['nll_nats']:.1f} ({r['bits_per_dim']:.4f}) | "
                     f"{r['nll_nats'] / base['nll_nats']:.2f}× | {r['fd_ratio']:.2f} | {r['coverage']}/10 | "
                     f"{100 * r['confident_fraction']:.1f} % | {r['precision']:.2f} / {r['recall']:.2f} | {acc} | "
                     f"{r['ms_per_sample']:.1f} | {comp} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
