"""Write assets/train-preview.gif and .json: a real run of the Train tab's default settings, shown before Start.

The run is the tab's own: its default family and preset (imggen.ui.train_tab), the same data, config and model
settings the tab would submit, trained by imggen.train.train on 1 CPU thread (what the tab's worker gets on a
2-vCPU Space), seed 0. The time recorded is the process's CPU time on
that one thread (on a shared machine the wall time also counts other programs' turns; both are in the JSON). Each frame is the fixed-seed sample grid the tab streams, stamped with its step; the JSON
holds what the tab's caption says (steps, time, data, final metrics).

    .venv/bin/python scripts/make_train_preview.py
"""
from __future__ import annotations

import io
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCALE = 2  # as the tab streams its grid (train_jobs.stream: png_output(..., scale=2))
FRAME_MS, LAST_MS = 600, 2500
MAX_BYTES = 1_000_000


def default_run():
    """(family, data keywords, TrainConfig, model settings, family label, preset): what Start submits unedited."""
    from imggen.ui import train_tab as tt

    label, preset, seed = "DCGAN", tt.QUICK, 0  # render()'s defaults
    fam, v = tt.family_labels()[label], tt.preset_values(label, preset)
    data, n = tt.run_data(tt.DATA_5K, None, 28, "grayscale", v["max_images"])
    cfg = tt.make_config(v["epochs"], v["batch_size"], v["lr"], v["lr_d"], v["loss"], v["ema"], v["augment"],
                         v["d_steps"], v["beta"], seed, v["grid_every"], fam, n)
    over = tt.model_overrides(fam, v["latent_dim"], v["width"], v["spectral_norm"], v["depth"])
    return fam, data, cfg, over, label, preset


def _frame(grid01: torch.Tensor, text: str) -> Image.Image:
    from imggen.convert import to_pil

    im = to_pil(grid01, scale=SCALE).convert("L").point(lambda v: v // 16 * 17)  # 16 greys: a GIF under 1 MB
    out = Image.new("L", (im.width, im.height + 22), 0)
    out.paste(im, (0, 0))
    ImageDraw.Draw(out).text((6, im.height + 5), text, fill=255)
    return out


def main(out_dir: Path = ROOT / "assets") -> None:
    from imggen.convert import grid, to01
    from imggen.jobs import load_spec_data
    from imggen.registry import build
    from imggen.train import train

    torch.set_num_threads(1)
    fam, data_kw, cfg, over, label, preset = default_run()
    data = load_spec_data(data_kw)
    with torch.random.fork_rng():  # frame 0: the untrained generator train() is about to build (same seed)
        torch.manual_seed(cfg.seed)
        model = build(fam, channels=1, image_size=28, **over).eval()
        with torch.no_grad():
            g = torch.Generator().manual_seed(cfg.seed + 777)  # train()'s fixed grid latents
            frames = [(0, grid(to01(model.sample(cfg.num_grid, generator=g).float())))]
    t0, cpu0, last = time.time(), time.process_time(), None
    with tempfile.TemporaryDirectory() as tmp:
        for ev in train(fam, data, cfg, model_config=over, out=Path(tmp) / "preview.safetensors", name="preview"):
            if ev.samples is not None:
                frames.append((ev.step, ev.samples))
            last = ev
    seconds, cpu_seconds = time.time() - t0, time.process_time() - cpu0
    total = last.step
    pils = [_frame(s, f"step {step}/{total}") for step, s in frames]
    buf = io.BytesIO()
    pils[0].save(buf, "GIF", save_all=True, append_images=pils[1:], optimize=True, loop=0,
                 duration=[FRAME_MS] * (len(pils) - 1) + [LAST_MS])
    if buf.tell() > MAX_BYTES:
        raise SystemExit(f"the GIF is {buf.tell() / 1e6:.2f} MB; keep it under {MAX_BYTES / 1e6:g} MB")
    (out_dir / "train-preview.gif").write_bytes(buf.getvalue())
    m = last.metrics
    facts = {"family": label, "preset": preset, "data": data.name, "images": len(data), "epochs": cfg.epochs,
             "batch_size": cfg.batch_size, "steps": total, "seed": cfg.seed,
             "seconds": round(cpu_seconds, 1), "wall_seconds": round(seconds, 1),
             "threads": 1, "cpu": platform.processor() or platform.machine(), "frames": len(pils),
             "fd": round(float(m["fd"]), 1) if "fd" in m else None,
             "coverage": int(m["coverage"]) if "coverage" in m else None,
             "made_by": "scripts/make_train_preview.py"}
    (out_dir / "train-preview.json").write_text(json.dumps(facts, indent=1) + "\n")
    print(json.dumps(facts), f"gif {buf.tell() / 1024:.0f} KB", sep="\n")


if __name__ == "__main__":
    main()
