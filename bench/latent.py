"""Latent explorer benchmark: server-side time per slider update (one decoder pass, and the whole Explore
callback) for every shipped model, p50/p95 on CPU, then the end-to-end round trip through the running app
via gradio_client. Writes bench/results/latent.{json,md}. ``--quality`` also measures how well each direction
moves its attribute on latents it was not found with (imggen.latent.direction_quality); the colour models' run:

    python -m imggen bench latent --updates 200 --threads 1
    python -m bench.latent --models cgan-emoji32 vae-emoji32 --quality --updates 0 --round-trips 0 \
        --out bench/results/latent-colour
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bench.common import RESULTS  # noqa: E402
from imggen import latent, registry  # noqa: E402

MODELS = ("dcgan-mnist", "cgan-mnist", "ae-mnist", "vae-mnist", "cvae-mnist", "vaegan-mnist", "vae2d-mnist")


def pct(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "mean_ms": float(a.mean())}


def slider_values(ex: latent.Explorer, n: int, seed: int = 0) -> list[list[float]]:
    """n random slider positions, like a drag: one slider moves, the others stay."""
    g = np.random.default_rng(seed)
    vals, cur = [], [0.0] * latent.NUM_SLIDERS
    for _ in range(n):
        cur = list(cur)
        cur[int(g.integers(ex.num_sliders))] = round(float(g.uniform(-3, 3)), 2)
        vals.append(cur)
    return vals


def quality(name: str) -> dict:
    """Direction quality of a model's cached basis (see imggen.latent.direction_quality)."""
    ex = latent.explorer(name)
    path = registry.model_paths()[name]
    return {"model": name, "weights": latent.weights_hash(path), "key": ex.dirs.key,
            "directions": latent.direction_quality(ex.net, ex.dirs)}


def quality_markdown(rows: list[dict]) -> list[str]:
    lines = ["\n## How well each direction moves its attribute\n",
             "Measured on 64 latents other than those the directions were found with (5 steps of -2 … +2 slider "
             "units each). *effect* = change of the attribute per slider unit, in spreads (std over 1000 samples; "
             "hue: of its offsets from the mean hue); *selectivity* = |effect on its own attribute| / the largest "
             "|effect| on any other attribute (> 1: it moves its own attribute most). Own attribute: X for "
             "\"boundary X\", else the label. ✓ = shown as a slider.\n"]
    for q in rows:
        lines += [f"### {q['model']} (weights {q['weights']})\n",
                  "| direction | label | slider | own attribute | effect | r | selectivity | runner-up (effect) |",
                  "|---|---|---|---|---|---|---|---|"]
        for d in q["directions"]:
            lines.append(f"| {d['direction']} | {d['label']} | {'✓' if d['slider'] else ''} | {d['attribute']} | "
                         f"{d['effect']:.2f} | {d['r']:.2f} | {d['selectivity']:.2f} | {d['runner_up']} "
                         f"({d['runner_up_effect']:.2f}) |")
        lines.append("")
    return lines


def server_side(name: str, updates: int) -> dict:
    from imggen.ui import explore

    t0 = time.perf_counter()
    path = registry.model_paths()[name]
    cached = latent.cache_path(path).exists()
    ex = latent.explorer(name)
    setup = time.perf_counter() - t0
    label = 0 if ex.num_classes else None
    vals = slider_values(ex, updates)
    for v in vals[:10]:  # warm-up
        ex.render(1, v, label)
    render, callback = [], []
    for v in vals:
        t = time.perf_counter()
        ex.render(1, v, label)
        render.append((time.perf_counter() - t) * 1e3)
    for v in vals:
        t = time.perf_counter()
        explore.update(name, 1, label or 0, *v)
        callback.append((time.perf_counter() - t) * 1e3)
    return {"model": name, "family": registry.load(name).family, "latent_dim": ex.net.config.latent_dim,
            "sliders": ex.num_sliders, "labels": ex.dirs.slider_labels(),
            "directions_s": setup, "directions_cached": cached,
            "render": pct(render), "callback": pct(callback), "updates": updates}


def round_trip(name: str, updates: int) -> dict:
    from gradio_client import Client

    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **app.launch_kwargs())
    try:
        client = Client(url, verbose=False, download_files=False)
        ex = latent.explorer(name)
        vals = slider_values(ex, updates, seed=1)
        for v in vals[:3]:
            client.predict(name, 1, 0, *v, api_name="/explore_update")
        ms = []
        for v in vals:
            t = time.perf_counter()
            client.predict(name, 1, 0, *v, api_name="/explore_update")
            ms.append((time.perf_counter() - t) * 1e3)
    finally:
        app.demo.close()
    return {"model": name, "updates": updates, **pct(ms)}


def markdown(res: dict) -> str:
    if not res["server"]:
        return "\n".join(["# Latent directions benchmark\n"] + quality_markdown(res.get("quality", []))) + "\n"
    lines = ["# Latent explorer benchmark\n",
             f"CPU, {res['threads']} torch thread(s), {res['machine']}; {res['updates']} slider updates per model "
             "(one slider moved per update). *render* = one decoder forward pass (what a slider update costs); "
             "*callback* = the Explore tab's update function (render + recipe + PNG image object).\n",
             "| model | family | latent | render p50 | render p95 | callback p50 | callback p95 | directions (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["server"]:
        lines.append(f"| {r['model']} | {r['family']} | {r['latent_dim']} | {r['render']['p50_ms']:.2f} ms | "
                     f"{r['render']['p95_ms']:.2f} ms | {r['callback']['p50_ms']:.2f} ms | "
                     f"{r['callback']['p95_ms']:.2f} ms | {r['directions_s']:.1f}"
                     f"{' (cached)' if r['directions_cached'] else ' (computed)'} |")
    if res.get("round_trip"):
        r = res["round_trip"]
        lines += [f"\nEnd-to-end through the running app (gradio_client `/explore_update`, {r['updates']} calls, "
                  f"{r['model']}): p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, mean {r['mean_ms']:.1f} ms.\n"]
    lines.append("\n## Slider labels\n")
    for r in res["server"]:
        lines.append(f"- **{r['model']}**: " + "; ".join(r["labels"]))
    lines += quality_markdown(res.get("quality", []))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="default: every shipped MNIST model")
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--round-trips", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quality", action="store_true", help="also measure how well each direction moves its attribute")
    p.add_argument("--out", default=str(RESULTS / "latent"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = a.models if a.models is not None else [m for m in MODELS if m in registry.model_paths()]
    res = {"threads": a.threads, "updates": a.updates, "machine": f"{platform.machine()} {platform.processor()}".strip(),
           "server": []}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in names if a.updates else ():
        r = server_side(name, a.updates)
        res["server"].append(r)
        print(f"{name:14s} render p50 {r['render']['p50_ms']:.2f} ms p95 {r['render']['p95_ms']:.2f} ms | "
              f"callback p50 {r['callback']['p50_ms']:.2f} ms | directions {r['directions_s']:.1f}s", flush=True)
    if names and a.round_trips and a.updates:
        res["round_trip"] = round_trip(names[0], a.round_trips)
        print(f"round trip ({names[0]}): p50 {res['round_trip']['p50_ms']:.1f} ms p95 {res['round_trip']['p95_ms']:.1f} ms")
    if a.quality:
        res["quality"] = [quality(name) for name in names]
        for q in res["quality"]:
            for d in q["directions"]:
                print(f"{q['model']:14s} {d['direction']:36s} {d['attribute']:26s} effect {d['effect']:+.2f} "
                      f"selectivity {d['selectivity']:.2f}", flush=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(markdown(res))


if __name__ == "__main__":
    main()
