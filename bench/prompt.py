"""Prompt -> image adherence (``imggen/prompt.py``), side by side for the conditional models: for every digit, the
plain prompt ("7") and each attribute word ("thick 7", "thin 7", ...) on the same seeds. Per model and word:
label accuracy (the classifier reads the digit asked for), the attribute's change from the plain prompt in spreads
of that attribute over plain samples, and the share of seeds moved the right way. Models without a latent (the
pixel GPT) take the digit only.

    python -m imggen bench prompt --per-digit 50
Writes bench/results/prompt.{json,md}.
"""
from __future__ import annotations

import argparse
import sys

import torch

from bench.common import RESULTS, machine, save
from imggen import latent, metrics, prompt, registry
from imggen.convert import from01

WORDS = ("thick", "thin", "slanted", "left", "wide", "narrow", "tall", "short")
MODELS = ("cgan-mnist", "cvae-mnist", "pixelgpt-mnist")


def measure(name: str, text: str, n: int, seed: int) -> tuple[torch.Tensor, dict]:
    x, p, notes = prompt.generate(name, text, n, seed)
    xm = from01(x)
    return metrics.classify(xm)[1].argmax(1), {a: getattr(latent, a)(xm) for a in latent.ATTRIBUTES}


def run_model(name: str, n: int, seed: int, words=WORDS) -> list[dict]:
    has_latent = hasattr(registry.load(name).net, "decode")
    plain = {d: measure(name, str(d), n, seed) for d in range(10)}
    spread = {a: torch.cat([plain[d][1][a] for d in range(10)]).std().item() for a in latent.ATTRIBUTES}
    acc = torch.cat([(plain[d][0] == d).float() for d in range(10)]).mean().item()
    rows = [{"model": name, "prompt": "<digit>", "label_accuracy": acc}]
    for w in words if has_latent else ():
        attr, sign = prompt.WORDS[w]
        moved = {d: measure(name, f"{w} {d}", n, seed) for d in range(10)}
        delta = torch.cat([moved[d][1][attr] - plain[d][1][attr] for d in range(10)])
        rows.append({"model": name, "prompt": f"{w} <digit>", "attribute": attr, "sign": sign,
                     "label_accuracy": torch.cat([(moved[d][0] == d).float() for d in range(10)]).mean().item(),
                     "change_in_spreads": delta.mean().item() / spread[attr],
                     "moved_right_way": (delta * sign > 0).float().mean().item()})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="default: the shipped conditional models")
    p.add_argument("--per-digit", type=int, default=50, help="seeds per digit and prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS / "prompt"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = a.models if a.models is not None else [m for m in MODELS if m in registry.model_paths()]
    rows = []
    for name in names:
        for r in run_model(name, a.per_digit, a.seed):
            rows.append(r)
            extra = (f" change {r['change_in_spreads']:+.2f} spreads, right way {100 * r['moved_right_way']:.0f}%"
                     if "attribute" in r else "")
            print(f"{name:16s} {r['prompt']:18s} label acc {100 * r['label_accuracy']:.1f}%{extra}", flush=True)
    res = {"args": " ".join(argv if argv is not None else sys.argv[1:]), "per_digit": a.per_digit,
           "strength": prompt.STRENGTH, "threads": a.threads, "machine": machine(), "rows": rows}
    save(a.out, res, markdown)


def markdown(res: dict) -> str:
    lines = [f"# Prompt → image (`python -m imggen bench prompt {res['args']}`)", "",
             f"{res['per_digit']} seeds per digit and prompt, the same seeds for every prompt; an attribute word moves "
             f"the latent {res['strength']:g} prior standard deviations along the model's direction for it. Change = "
             "mean change of the measured attribute from the plain prompt, in spreads (standard deviations) of that "
             "attribute over the plain samples; right way = share of seeds whose attribute moved the way the word "
             f"says. {res['threads']} thread(s), {res['machine']}.", "",
             "| model | prompt | label accuracy | attribute | change (spreads) | right way |", "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        tail = (f"{r['attribute']} | {r['change_in_spreads']:+.2f} | {100 * r['moved_right_way']:.0f} %"
                if "attribute" in r else "- | - | -")
        lines.append(f"| {r['model']} | {r['prompt']} | {100 * r['label_accuracy']:.1f} % | {tail} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
