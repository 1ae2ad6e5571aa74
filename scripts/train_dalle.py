"""Train the shipped text -> image model (dalle-emoji32) in two time-boxed phases on one CPU thread:

    # 1. the VQ-VAE tokenizer alone (writes runs/dalle-tokenizer.safetensors every --snapshot-every steps)
    nohup .venv/bin/python scripts/train_dalle.py tokenizer --minutes 30 > logs/dalle-tokenizer.log 2>&1 &
    # 2. the transformer on the frozen tokenizer's codes, through the training loop (recipe dalle-emoji32),
    #    snapshotting checkpoints/dalle-emoji32.safetensors as it goes
    nohup .venv/bin/python scripts/train_dalle.py transformer --minutes 45 > logs/dalle-transformer.log 2>&1 &
    # 2'. regularised, the snapshot chosen by a held-out check every 300 steps (kept in --best-out), then shipped
    PYTHONPATH=. nohup .venv/bin/python scripts/train_dalle.py transformer --minutes 45 --dropout 0.1 \
        --weight-decay 0.1 --max-steps 8000 --check-every 300 --check-heldout 160 --check-train 32 \
        --out runs/dalle-emoji32-reg.safetensors > logs/dalle-reg.log 2>&1 &
    .venv/bin/python scripts/train_dalle.py ship runs/dalle-emoji32-reg-best.safetensors --check-heldout 160 \
        --check-train 32
    # 3. prompt expansion and the caption-image score that ranks candidates, fitted into the shipped checkpoint
    .venv/bin/python scripts/train_dalle.py fit checkpoints/dalle-emoji32.safetensors --steps 1000

Phase 1 runs the tokenizer's own loss (imggen.models.vqvae.VQTokenizer.loss, the same step the DalleTrainer takes
in its tokenizer phase) without the loop so it can print held-out PSNR and codebook usage as it goes; phase 2 is
``imggen train --recipe dalle-emoji32`` started from phase 1's tokenizer (its steps count as done). With
``--check-every N`` phase 2 draws one image per prompt for a fixed check set every N steps -- held-out emoji
prompted "name, style" (test images 128 on, so disjoint from the 128 that ``bench text2image --limit 128`` reads)
and a few training captions -- reads them with the emoji net (bench/text2image.py's ``draw`` / ``read``) and keeps
the snapshot with the best held-out category share in ``--best-out`` (the curve goes to ``<best-out>.checks.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

TOKENIZER = Path("runs/dalle-tokenizer.safetensors")
OUT = Path("checkpoints/dalle-emoji32.safetensors")
FIT_CMD = "python scripts/train_dalle.py fit"  # a card's line for phase 3 (redone after every ship)


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


class HeldOutCheck:
    """Every ``every`` transformer steps: one sample per check prompt (guidance 3, fixed seeds), read by the emoji
    net; the best held-out category share so far is written to ``best_out`` with the run's metadata."""

    def __init__(self, every: int, n_heldout: int, n_train: int, best_out: str, seed: int = 0):
        from bench.text2image import names_and_styles
        from imggen.data import load_data

        test, train = load_data("emoji32", split="test"), load_data("emoji32", split="train")
        hi = torch.linspace(128, len(test) - 1, n_heldout).long()  # bench --limit 128 reads test[:128]
        ti = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 77))[:n_train]
        self.sets = []
        for name, data, idx in (("heldout", test, hi), ("train", train, ti)):
            caps = [data.captions[i] for i in idx.tolist()]
            prompts = names_and_styles(caps)[1] if name == "heldout" else caps
            self.sets.append((name, prompts, data.images[idx], data.labels[idx], data.extras["subcategory"][idx]))
        self.every, self.best_out, self.best, self.curve = every, best_out, -1.0, []

    def __call__(self, step: int, snap) -> None:
        from bench.text2image import draw, read
        from imggen.registry import LoadedModel

        t0, row = time.time(), {"step": step}
        model = LoadedModel(snap.model(), "check", {"family": "dalle", "card": {}, "metrics": {}, "recipe": {}})
        with torch.no_grad():
            for k, (name, prompts, real, cat, sub) in enumerate(self.sets):
                r = read(draw(model, prompts, 4242 + 100 * k, guidance=3.0), real, cat, sub)
                row.update({f"{name}_category": r["category"], f"{name}_subcategory": r["subcategory"]})
        row["seconds"] = round(time.time() - t0, 1)
        if row["heldout_category"] > self.best:
            self.best = row["heldout_category"]
            snap.save(self.best_out, f"best held-out check at step {step} "
                      f"({100 * self.best:.1f} % of {len(self.sets[0][1])} held-out prompts read as their category)")
            row["kept"] = True
        self.curve.append(row)
        Path(self.best_out + ".checks.json").write_text(json.dumps(self.curve, indent=1))
        print("check", json.dumps(row), flush=True)


def tokenizer_info(path: Path = TOKENIZER) -> dict:
    """Phase 1's record (steps, seconds, batch size, lr, held-out figures), stored in the tokenizer file, or read
    from a dalle checkpoint (its config's tokenizer steps, its recipe's first phase, its held-out metrics)."""
    from safetensors import safe_open

    from imggen import checkpoint

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "info" in meta:
        return json.loads(meta["info"])
    meta = checkpoint.read_metadata(path)
    if meta["family"] != "dalle":
        raise SystemExit(f"{path} is neither a phase-1 tokenizer file nor a dalle checkpoint")
    first = (meta["recipe"].get("history") or [meta["recipe"]])[0]
    return {"steps": meta["config"]["tokenizer_steps"], "seconds": first.get("train_seconds"),
            "batch_size": first.get("batch_size"), "lr": first.get("lr"),
            **{k: meta["metrics"].get(k) for k in ("psnr", "psnr_mean", "recon_mse", "codebook_usage")}}


def tokenizer_weights(path: Path = TOKENIZER) -> dict:
    """The tokenizer's weights from a phase-1 file or a dalle checkpoint (its ``tokenizer.`` tensors)."""
    state = load_file(str(path))
    if any(k.startswith("tokenizer.") for k in state):
        return {k.removeprefix("tokenizer."): v for k, v in state.items() if k.startswith("tokenizer.")}
    return state


def train_transformer(a) -> None:
    from imggen.data import load_data
    from imggen.registry import build
    from imggen.train import TrainConfig
    from imggen.training import WarmStart
    from imggen.training.recipes import get as recipe

    r = recipe("dalle-emoji32")
    data = load_data(r.data)
    torch.manual_seed(a.seed)
    if a.init:  # go on from a trained text -> image checkpoint: its tokenizer, transformer and config
        from imggen.registry import warm_start

        if a.model_config or a.dropout is not None or a.weight_decay is not None:
            raise SystemExit("--init keeps its checkpoint's config: drop --model-config / --dropout / --weight-decay")
        model, meta = warm_start(a.init, r.family)
        tinfo = tokenizer_info(a.init)
        cfg = TrainConfig(**{**r.train, "time_limit_s": 60 * a.minutes, "seed": a.seed, "log_every": 50,
                             "device": "cpu", "lr": a.lr, "max_steps": a.max_steps or r.train.get("max_steps")})
        return _run(a, data, model, cfg, tinfo, WarmStart(str(a.init), meta["recipe"]))
    from imggen.models.dalle import build_vocab

    tinfo = tokenizer_info(a.tokenizer)
    reg = {**json.loads(a.model_config or "{}"),
           **{k: v for k, v in (("dropout", a.dropout), ("weight_decay", a.weight_decay)) if v is not None}}
    model = build(r.family, **{**r.model, **reg, "vocab": " ".join(build_vocab(data.captions)),
                               "tokenizer_steps": tinfo["steps"]})
    model.tokenizer.load_state_dict(tokenizer_weights(a.tokenizer))
    model.tokenizer_step.fill_(tinfo["steps"])
    cfg = TrainConfig(**{**r.train, "time_limit_s": 60 * a.minutes, "seed": a.seed, "log_every": 50,
                         "device": "cpu", "max_steps": a.max_steps or r.train.get("max_steps")})
    init = WarmStart(str(a.tokenizer), {"steps": tinfo["steps"], "train_seconds": tinfo["seconds"],
                                      "epochs": round(tinfo["steps"] * tinfo["batch_size"] / len(data), 3),
                                      "lr": tinfo["lr"], "batch_size": tinfo["batch_size"]})
    return _run(a, data, model, cfg, tinfo, init)


def _run(a, data, model, cfg, tinfo, init) -> None:
    from imggen.train import train

    check = HeldOutCheck(a.check_every, a.check_heldout, a.check_train, a.best_out or a.out.replace(
        ".safetensors", "-best.safetensors"), a.seed) if a.check_every else None
    last = [time.time()]

    def snapshot(ev, snap):
        if ev.kind == "step":
            print(f"step {ev.step} {' '.join(f'{k}={v:.4f}' for k, v in ev.losses.items())} "
                  f"{ev.steps_per_s:.2f} steps/s", flush=True)
            if check and ev.step % a.check_every == 0:
                check(ev.step, snap)
        if time.time() - last[0] > 60 * a.snapshot_minutes:
            last[0] = time.time()
            print("snapshot", snap.save(a.out, f"snapshot at step {ev.step}"), flush=True)

    out = Path(a.out)
    for ev in train("dalle", data, cfg, model=model, out=out, name=out.stem, init=init, callbacks=[snapshot]):
        if ev.kind != "step":
            print(ev.summary(), flush=True)
    finish(out, tinfo, a)


def finish(out: Path, tinfo: dict, a, transformer: list[str] | None = None) -> None:
    """Store the tokenizer's held-out figures and the two phase commands in the checkpoint; write its card."""
    from imggen import checkpoint
    from imggen.cards import write_card
    from imggen.registry import from_checkpoint

    net = from_checkpoint(out)
    metrics = {k: tinfo[k] for k in ("psnr", "psnr_mean", "recon_mse", "codebook_usage")}
    metrics["test_set"] = "the 752 held-out emoji32 images (376 emoji never trained on, two styles)"
    cmds = [f"python scripts/train_dalle.py tokenizer --minutes {tinfo['seconds'] / 60:.0f}  # {tinfo['steps']} "
            "steps at batch 32",
            *(transformer or [f"python scripts/train_dalle.py transformer --minutes {a.minutes:g}"]),
            "python -m imggen bench text2image"]
    checkpoint.update_metadata(out, net, metrics=metrics, card={"reproduce": cmds})
    print("done", out, "card", write_card(out), flush=True)


def ship(a) -> None:
    """Write a checked snapshot (``--best-out`` of a transformer run) as the shipped checkpoint, atomically, under
    the shipped name, with the tokenizer's figures, the check curve and the commands in its card."""
    from imggen import checkpoint
    from imggen.registry import from_checkpoint

    from imggen.training.recipes import get as recipe

    src = Path(a.source)
    meta, net = checkpoint.read_metadata(src), from_checkpoint(src)
    tok = Path(meta["recipe"].get("init") or a.tokenizer)  # the tokenizer the snapshot was trained on
    tinfo = tokenizer_info(tok)
    curve = json.loads(Path(str(src) + ".checks.json").read_text())
    best = max(curve, key=lambda r: r["heldout_category"])  # the first of equals: the one the run kept
    every = curve[1]["step"] - curve[0]["step"] if len(curve) > 1 else curve[0]["step"]
    c, rec = meta["config"], meta["recipe"]
    card = {**meta["card"], "selection": {
        "rule": f"the snapshot with the best held-out category share at a check every {every} steps (one image per "
                "prompt for held-out emoji test[128:] prompted 'name, style', guidance 3, read by the emoji net)",
        "step": best["step"], "curve": [{k: r[k] for k in ("step", "heldout_category", "train_category")}
                                        for r in curve]}}
    went_on = len(rec.get("history", [])) > 2  # a transformer phase that went on from a shipped one (--init)
    before = [ln for ln in checkpoint.read_metadata(tok)["card"].get("reproduce", [])[1:]  # read before --out
              if not ln.startswith(("python -m imggen", FIT_CMD))] if went_on else []  # may replace it
    out = checkpoint.save(net, a.out, family=meta["family"], config=c, name=Path(a.out).stem,
                          metrics=meta["metrics"], recipe=rec, card=card)
    a.minutes = (rec.get("time_limit_s") or 60 * a.minutes) / 60
    checks = f"--check-every {every} --check-heldout {a.check_heldout} --check-train {a.check_train}"
    if went_on:
        phase = [*before, f"PYTHONPATH=. python scripts/train_dalle.py transformer --init {tok} --lr {rec['lr']:g} "
                 f"--max-steps {rec.get('max_steps')} --minutes {a.minutes:g} {checks} --out "
                 f"{str(src).replace('-best', '')}  # from the weights the lines above ship"]
    else:
        wider = {k: c[k] for k in ("n_embd", "n_layer", "n_head") if c[k] != recipe("dalle-emoji32").model[k]}
        more = (f" --tokenizer {tok}" if tok != TOKENIZER else "") + (
            f" --model-config '{json.dumps(wider)}'" if wider else "")
        phase = [f"PYTHONPATH=. python scripts/train_dalle.py transformer{more} --minutes {a.minutes:g} --dropout "
                 f"{c['dropout']:g} --weight-decay {c['weight_decay']:g} --max-steps {rec.get('max_steps')} "
                 f"{checks} --out {str(src).replace('-best', '')}"]
    phase.append(f"python scripts/train_dalle.py ship {src} --check-heldout {a.check_heldout} --check-train "
                 f"{a.check_train}  # the best of {len(curve)} held-out checks: step {best['step']}, "
                 f"{100 * best['heldout_category']:.1f} % of {a.check_heldout} held-out prompts read as their category")
    finish(out, tinfo, a, transformer=list(dict.fromkeys(phase)))  # each once (a snapshot shipped again adds none)


def fit(a) -> None:
    """Fit prompt expansion (imggen/models/prompt_fields.py) and the caption-image score that ranks candidates
    (imggen/models/clip.py) into a dalle checkpoint, in place and atomically; their figures go to the metrics (with
    the score's held-out retrieval: how often a held-out image's own "name, style" text scores highest among 256
    such texts), the command to the card."""
    from dataclasses import asdict

    from tqdm import tqdm

    from imggen import checkpoint
    from imggen.cards import write_card
    from imggen.data import load_data
    from imggen.models.prompt_fields import name_and_style
    from imggen.registry import from_checkpoint

    src = Path(a.source)
    meta, net = checkpoint.read_metadata(src), from_checkpoint(src)
    data, test = load_data("emoji32"), load_data("emoji32", split="test")
    t0 = time.time()
    fields = net.fit_fields(data.captions)
    with tqdm(total=a.steps, desc="caption score") as bar:
        info = net.fit_scorer(data.images, data.captions, steps=a.steps, seed=a.seed,
                              progress=lambda s, n, loss: (bar.update(s - bar.n), bar.set_postfix(loss=f"{loss:.3f}")))
    idx = torch.linspace(0, len(test) - 1, 256).long()
    texts = [name_and_style(test.captions[i]) for i in idx.tolist()]
    with torch.no_grad():
        sim = net.scorer.embed_image(test.images[idx]) @ net.scorer.embed_text(texts).T
    info = {**fields, **info, "score_heldout_top1": (sim.argmax(1) == torch.arange(len(idx))).float().mean().item(),
            "score_seconds": round(time.time() - t0, 1)}
    cmd = f"{FIT_CMD} {src} --steps {a.steps}" + (f" --seed {a.seed}" if a.seed else "")
    steps = [ln for ln in meta["card"].get("reproduce", []) if not ln.startswith(FIT_CMD)]
    at = next((i for i, ln in enumerate(steps) if "imggen bench" in ln), len(steps))
    checkpoint.save(net, src, family=meta["family"], config=asdict(net.config), name=meta["name"],
                    metrics={**meta["metrics"], **info}, recipe=meta["recipe"],
                    card={**meta["card"], "reproduce": [*steps[:at], cmd, *steps[at:]]})
    print(json.dumps(info), "card", write_card(src), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=("tokenizer", "transformer", "ship", "fit"))
    p.add_argument("source", nargs="?", help="ship: the checked snapshot to write as --out; fit: the checkpoint")
    p.add_argument("--steps", type=int, default=1000, help="fit: training steps of the caption-image score")
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshot-every", type=int, default=500, help="tokenizer: steps between held-out checks")
    p.add_argument("--snapshot-minutes", type=float, default=5, help="transformer: minutes between snapshots")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokenizer", type=Path, default=TOKENIZER,
                   help="transformer / ship: phase 1's tokenizer file, or a dalle checkpoint whose tokenizer to use")
    p.add_argument("--out", default=str(OUT), help="transformer: the checkpoint to write")
    p.add_argument("--init", type=Path, default=None,
                   help="transformer: go on from this dalle checkpoint (its config; --lr and --max-steps apply)")
    p.add_argument("--model-config", default="", help='transformer: config overrides as JSON, e.g. {"n_embd": 192}')
    p.add_argument("--dropout", type=float, default=None, help="transformer: dropout (default: the recipe's)")
    p.add_argument("--weight-decay", type=float, default=None, help="transformer: AdamW decay (default: 0.01)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="transformer: steps the cosine learning-rate schedule spans (default: none, constant rate)")
    p.add_argument("--check-every", type=int, default=0,
                   help="transformer: steps between held-out checks (a multiple of 50; 0: none)")
    p.add_argument("--check-heldout", type=int, default=48, help="held-out prompts per check")
    p.add_argument("--check-train", type=int, default=16, help="training captions per check")
    p.add_argument("--best-out", default=None, help="the best checked snapshot (default: <out>-best.safetensors)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    {"tokenizer": train_tokenizer, "transformer": train_transformer, "ship": ship, "fit": fit}[a.phase](a)


if __name__ == "__main__":
    main()
