"""What the benchmarks share: a row's held-out figures, timed seeded sampling, and writing results. The held-out
set and its scoring are the core's (``imggen.evaluate.heldout``, ``HeldOut.score``)."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def quality(r: dict) -> dict:
    """A row's held-out figures from ``HeldOut.score`` or an ``imggen eval`` result (with a reference), FD also as a
    multiple of its floor."""
    return {"fd": r["fd"], "fd_floor": r["fd_floor"], "fd_ratio": r["fd"] / r["fd_floor"], "coverage": r["coverage"],
            "confident_fraction": r["confident_fraction"], "real_confident_fraction": r["real_confident_fraction"],
            "precision": r["precision"], "recall": r["recall"], "class_histogram": r["class_histogram"],
            **({"label_accuracy": r["label_accuracy"]} if "label_accuracy" in r else {})}


def summary(row: dict) -> str:
    return (f"FD {row['fd']:.3f} ({row['fd_ratio']:.2f}x) {row['coverage']}/10 confident "
            f"{100 * row['confident_fraction']:.1f}% P/R {row['precision']:.3f}/{row['recall']:.3f}")


def grid_ms(m, repeats: int = 5, **sample_kw) -> float:
    """Median wall time of one 16-sample draw with these sampler settings, as the Sample tab makes it."""
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        m.sample(16, seed=i, **sample_kw)
        times.append(time.perf_counter() - t)
    return 1000 * sorted(times[1:])[repeats // 2]  # first call warms up


def timed_samples(net, n: int, chunk: int = 500, **kw) -> tuple[torch.Tensor, float]:
    """(n samples in [-1, 1] on the CPU, milliseconds per sample): chunk j drawn from seed j; ``kw`` go to the
    sampler, a ``labels`` tensor of length n split alongside the chunks."""
    labels = kw.pop("labels", None)
    t = time.perf_counter()
    with torch.no_grad():
        x = torch.cat([net.sample(len(i), generator=torch.Generator().manual_seed(j), **kw,
                                  **({} if labels is None else {"labels": labels[i]})).float().cpu()
                       for j, i in enumerate(torch.arange(n).split(chunk))])
    return x, 1000 * (time.perf_counter() - t) / max(n, 1)


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''}".strip()


def save(out: str | Path, res: dict, markdown) -> None:
    """``res`` as <out>.json and ``markdown(res)`` as <out>.md."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
