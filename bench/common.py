"""What the benchmarks share: the held-out comparison set, timed seeded sampling, and writing results."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from imggen import metrics
from imggen.evaluate import halves, test_data


def heldout(n: int):
    """(test set, the half samples are compared with, the other half, real-vs-real FD floor) for ``n`` samples."""
    test = test_data()
    real, ref = halves(test, n)
    return test, real, ref, metrics.frechet_distance(metrics.classify(ref)[0], metrics.classify(real)[0])


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
