"""Train the shipped text -> image model (dalle-emoji32) in two time-boxed phases on one CPU thread:

    # 1. the VQ-VAE tokenizer alone (writes runs/dalle-tokenizer.safetensors every --snapshot-every steps)
    nohup .venv/bin/python scripts/train_dalle.py tokenizer --minutes 30 > logs/dalle-tokenizer.log 2>&1 &
    # 2. the transformer on the frozen tokenizer's codes, through the training loop (recipe dalle-emoji32),
    #    snapshotting checkpoints/dalle-emoji32.safetensors as it goes
    nohup .venv/bin/python scripts/train_dalle.py transformer --minutes 45 > logs/dalle-transformer.log 2>&1 &

Phase 1 runs the tokenizer's own loss (imggen.models.vqvae.VQTokenizer.loss, the same step the DalleTrainer takes
in its tokenizer phase) without the loop so it can print held-out PSNR and codebook usage as it goes; phase 2 is
``imggen train --recipe dalle-emoji32`` started from phase 1's tokenizer (its steps count as done).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

TOKENIZER = Path("runs/dalle-tokenizer.safetensors")
OUT = Path("checkpoints/dalle-emoji32.safetensors")


@torch.no_grad()
def tokenizer_metrics(tok, images: torch.Tensor, batch_size: int = 256) -> dict:
    """Held-out reconstruction through the codes (PSNR of the mean MSE on [0, 1] pixels, mean per-image PSNR) and
    the share of the codebook the images use."""
    tok.eval()
    mse, used = [], set()
    for x in images.split(batch_size):
        t = tok.encode(x)
        used.update(t.unique().tolist())
        mse.append(((tok.decode(t) - x) / 2).pow(2).mean((1, 2, 3)))
    mse = torch.cat(mse)
    return {"psnr": (-10 * mse.mean().log10()).item(), "psnr_mean": (-10 * mse.clamp_min(1e-10).log10()).mean().item(),
            "recon_mse": mse.mean().item(), "codebook_usage": len(used) / len(tok.codebook.embed)}


def train_tokenizer(a) -> None:
    from imggen.data import load_data
    from imggen.families import get
    from imggen.training.recipes import get as recipe

    r = recipe("dalle-emoji32")
    cfg = get(r.family).config(**{**r.model, "vocab": ""})
    from imggen.models.dalle import make_tokenizer

    torch.manual_seed(a.seed)
    tok = make_tokenizer(cfg)
    data, test = load_data(r.data), load_data(r.data, split="test")
    opt = torch.optim.Adam(tok.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(a.seed)
    t0, step, deadline = time.time(), 0, time.time() + 60 * a.minutes
    TOKENIZER.parent.mkdir(parents=True, exist_ok=True)
    while time.time() < deadline:
        tok.train()
        idx = torch.randint(0, len(data), (a.batch_size,), generator=g)
        frac = (time.time() - t0) / (60 * a.minutes)
        for grp in opt.param_groups:  # cosine to a tenth of the rate over the time box
            grp["lr"] = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        out = tok.loss(data.images[idx], cfg.commitment)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} {time.time() - t0:.0f}s recon {out['recon'].item():.5f} "
                  f"commit {out['commit'].item():.5f} batch codes {out['codes_used']:.2f}", flush=True)
        if step % a.snapshot_every == 0 or time.time() >= deadline:
            m = tokenizer_metrics(tok, test.images)
            info = {"steps": step, "seconds": round(time.time() - t0, 1), "batch_size": a.batch_size, "lr": a.lr,
                    **m}
            print("held-out", json.dumps(info), flush=True)
            save_file({k: v.contiguous() for k, v in tok.state_dict().items()}, str(TOKENIZER),
                      metadata={"info": json.dumps(info)})
    print("done", step, flush=True)


def train_transformer(a) -> None:
    from safetensors import safe_open

    from imggen import checkpoint
    from imggen.data import load_data
    from imggen.registry import build
    from imggen.train import TrainConfig, train
    from imggen.training import WarmStart
    from imggen.training.recipes import get as recipe

    r = recipe("dalle-emoji32")
    data = load_data(r.data)
    with safe_open(str(TOKENIZER), framework="pt") as f:
        tinfo = json.loads(f.metadata()["info"])
    from imggen.models.dalle import build_vocab

    torch.manual_seed(a.seed)
    model = build(r.family, **{**r.model, "vocab": " ".join(build_vocab(data.captions)),
                               "tokenizer_steps": tinfo["steps"]})
    model.tokenizer.load_state_dict(load_file(str(TOKENIZER)))
    model.tokenizer_step.fill_(tinfo["steps"])
    cfg = TrainConfig(**{**r.train, "time_limit_s": 60 * a.minutes, "seed": a.seed, "log_every": 50,
                         "device": "cpu"})
    init = WarmStart(str(TOKENIZER), {"steps": tinfo["steps"], "train_seconds": tinfo["seconds"],
                                      "epochs": round(tinfo["steps"] * tinfo["batch_size"] / len(data), 3),
                                      "lr": tinfo["lr"], "batch_size": tinfo["batch_size"]})
    last = [time.time()]

    def snapshot(ev, snap):
        if ev.kind == "step":
            print(f"step {ev.step} {' '.join(f'{k}={v:.4f}' for k, v in ev.losses.items())} "
                  f"{ev.steps_per_s:.2f} steps/s", flush=True)
        if time.time() - last[0] > 60 * a.snapshot_minutes:
            last[0] = time.time()
            print("snapshot", snap.save(a.out, f"snapshot at step {ev.step}"), flush=True)

    out = Path(a.out)
    for ev in train(r.family, data, cfg, model=model, out=out, name=out.stem, init=init, callbacks=[snapshot]):
        if ev.kind != "step":
            print(f"[{ev.kind}] step {ev.step} epoch {ev.epoch:.2f} {ev.losses} {ev.message}", flush=True)
    finish(out, tinfo, a)


def finish(out: Path, tinfo: dict, a) -> None:
    """Store the tokenizer's held-out figures and the two phase commands in the checkpoint; write its card."""
    from imggen import checkpoint
    from imggen.cards import write_card
    from imggen.registry import from_checkpoint

    net = from_checkpoint(out)
    metrics = {k: tinfo[k] for k in ("psnr", "psnr_mean", "recon_mse", "codebook_usage")}
    metrics["test_set"] = "the 752 held-out emoji32 images (376 emoji never trained on, two styles)"
    cmds = [f"python scripts/train_dalle.py tokenizer --minutes {tinfo['seconds'] / 60:.0f}  # {tinfo['steps']} "
            "steps at batch 32",
            f"python scripts/train_dalle.py transformer --minutes {a.minutes:g}",
            "python -m imggen bench text2image"]
    checkpoint.update_metadata(out, net, metrics=metrics, card={"reproduce": cmds})
    print("done", out, "card", write_card(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=("tokenizer", "transformer"))
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=500, help="tokenizer: steps between held-out checks")
    p.add_argument("--snapshot-minutes", type=float, default=5, help="transformer: minutes between snapshots")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(OUT), help="transformer: the checkpoint to write")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (train_tokenizer if a.phase == "tokenizer" else train_transformer)(a)


if __name__ == "__main__":
    main()
