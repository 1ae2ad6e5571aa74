"""Model cards: ``checkpoints/NAME.md`` written from a checkpoint's metadata (config, recipe, card, held-out metrics)
and the benchmark results that measured it, in the Hugging Face model-card layout (YAML header, then Markdown).
One writer for every model: ``python -m imggen card NAME [--write]``; each family's prose (about, limits) is in its
entry in imggen/families.py."""
from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

from . import checkpoint, families, registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HISTORY = "docs/model-history.md"
LICENSE = "mit"  # pyproject.toml: license = { text = "MIT" }
MAX_LINES = 100
MNIST_TRAIN = 60_000  # images in the full MNIST training set: a run on fewer names its --limit

METRICS = (  # (key, label, value) for the held-out metrics a card lists, in this order, when stored
    ("test_accuracy", "test accuracy",
     lambda m: f"**{100 * m['test_accuracy']:.2f} %** on {m.get('test_set', 'the test set')}"),
    ("fd", "classifier-FD", lambda m: (f"**{m['fd']:.3f}** (real-vs-real floor {m['fd_floor']:.3f}, "
                                       f"{m['fd'] / m['fd_floor']:.1f}×)" if m.get("fd_floor") else f"{m['fd']:.3f}")
     + (f"; on the {m['features']}'s features" if "features" in m else "")),
    ("coverage", "class coverage", lambda m: f"{m['coverage']}/10" + (f" (class entropy {m['class_entropy']:.3f} "
                                                                      "bits of 3.32)" if "class_entropy" in m else "")),
    ("confident_fraction", "confident (max prob ≥ 0.8)",
     lambda m: f"{100 * m['confident_fraction']:.1f} %" + (
         f" (real test digits {100 * m['real_confident_fraction']:.1f} %)" if "real_confident_fraction" in m else "")),
    ("precision", "precision / recall (k-NN)", lambda m: f"{m['precision']:.3f} / {m.get('recall', math.nan):.3f}"),
    ("label_accuracy", "label accuracy",
     lambda m: f"{100 * m['label_accuracy']:.1f} % classified as the class asked for"),
    ("swd", "sliced Wasserstein (×1e3)", lambda m: f"{m['swd']:.2f}" + (f" (floor {m['swd_floor']:.2f})"
                                                                          if "swd_floor" in m else "")),
    ("nll_nats", "exact NLL", lambda m: f"**{m['nll_nats']:.2f} nats** per binarized digit ({m['bits_per_dim']:.4f} "
                                        f"bits per pixel; {m.get('nll_images', 10_000):,} images)"),
    ("elbo", "ELBO", lambda m: f"{m['elbo']:.2f} nats per image ({m.get('eval_images', 10_000):,} images)"),
    ("iwae_nll", "IWAE NLL bound", lambda m: (
        f"**{m['iwae_nll']:.2f} nats** (k={m.get('iwae_k')}, {m.get('iwae_images', 0):,} images"
        + (f", ± {m['iwae_nll_sem']:.2f} s.e." if "iwae_nll_sem" in m else "")
        + f"; {m.get('iwae_bits_per_dim', math.nan):.4f} bits per pixel)")),
    ("recon_mse", "reconstruction MSE", lambda m: f"{m['recon_mse']:.4f} ([0, 1] pixels, all test images)"),
    ("psnr", "reconstruction PSNR", lambda m: f"**{m['psnr']:.2f} dB** (of the mean MSE" + (
        f"; mean of per-image PSNRs {m['psnr_mean']:.2f} dB" if "psnr_mean" in m else "") + ")"),
    ("codebook_usage", "codebook usage", lambda m: f"{100 * m['codebook_usage']:.1f} % of the codes used by the "
                                                   "test images"),
    ("recon_nll", "reconstruction NLL", lambda m: f"{m['recon_nll']:.2f} nats per image"),
    ("score_heldout_top1", "caption-image score", lambda m: (
        f"a held-out image's own \"name, style\" text ranked first of 256 for {100 * m['score_heldout_top1']:.1f} % "
        f"(chance 0.4 %; {100 * m['score_train_top1']:.1f} % of 256 training pairs)")),
)
HF_METRICS = {"test_accuracy": "accuracy", "fd": "classifier-fd", "coverage": "coverage",
              "confident_fraction": "confident-fraction", "precision": "precision", "recall": "recall",
              "label_accuracy": "label-accuracy", "swd": "sliced-wasserstein", "nll_nats": "nll", "elbo": "elbo",
              "iwae_nll": "nll", "recon_mse": "mse", "psnr": "psnr"}
FITTED = ("num_leaves", "prior_components")  # config keys set by fitting, not by a training flag
DISPLAY_ONLY = ("sample_every", "log_every", "num_grid", "eval_samples")  # TrainConfig keys the weights ignore
TARGETS = (  # issue #4's sample targets for the digit GANs: (name, test on a metrics row)
    ("FD ≤ 3× floor", lambda m: m["fd"] / m["fd_floor"] <= 3),
    ("10/10 classes", lambda m: m["coverage"] == 10),
    ("≥ 95 % confident", lambda m: m["confident_fraction"] >= 0.95),
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _quality(r: dict) -> str:
    """A benchmark row's sample figures in one cell."""
    out = [f"FD {r['fd']:.3g} ({r['fd_ratio']:.2f}×)", f"{r['coverage']}/10",
           f"{_pct(r['confident_fraction'])} confident", f"P/R {r['precision']:.2f} / {r['recall']:.2f}"
           ] if "fd_ratio" in r else []
    if "label_accuracy" in r:
        out.append(f"label acc. {_pct(r['label_accuracy'])}")
    if "nll_nats" in r:
        out.insert(0, f"NLL {r['nll_nats']:.1f} nats")
    for k, unit in (("grid16_ms", "ms / grid of 16"), ("ms_per_sample", "ms / sample")):
        if k in r:
            out.append(f"{r[k]:.0f} {unit}" if r[k] >= 10 else f"{r[k]:.1f} {unit}")
    return ", ".join(out)


def _completion(rows: list[dict]) -> list[tuple[str, str]]:
    """One row per completion method: accuracy and PSNR per mask."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        out.append((f"completion ({method}), {' / '.join(r['mask'] for r in rs)}",
                    "accuracy " + " / ".join(_pct(r["accuracy"]) for r in rs) + ", PSNR "
                    + " / ".join(f"{r['psnr']:.1f}" for r in rs) + f" dB, {rs[0]['seconds_per_image']:.3f} s / image"))
    return out


def _jacobian(res: dict, name: str, meta: dict) -> list[tuple[str, str]]:
    out = [(f"keep {r['keep']:g}" + (f", refine {r['refine_steps']}" if r["refine_steps"] else "") + " (one pool)",
            _quality(r)) for r in res.get("rows", []) if r["model"] == name]
    direct = [d for d in res.get("direct", []) if d["model"] == name]
    for keep in dict.fromkeys(d["keep"] for d in direct):
        ds = [d for d in direct if d["keep"] == keep]
        span = lambda f: f"{min(map(f, ds)):.2f}-{max(map(f, ds)):.2f}"  # noqa: E731
        out.append((f"keep {keep:g}, the sampler, seeds {ds[0]['seed']}-{ds[-1]['seed']}",
                    f"FD {span(lambda d: d['fd_ratio'])}×, "
                    f"confident {span(lambda d: 100 * d['confident_fraction'])} %"))
    return out


def _arf(res: dict, name: str, meta: dict) -> list[tuple[str, str]]:
    """Rows of the bench's own forests with this checkpoint's recipe (same shape, same rounds, same data)."""
    cfg, rec = meta["config"], meta["recipe"]
    if (any(cfg.get(k) != v for k, v in res.get("recipe", {}).items())
            or res.get("train_images") != rec.get("train_images")):
        return []
    mine = f"ARF round {rec.get('steps')}"
    return [(r["model"].replace(mine, "this recipe") if r["model"].startswith(mine) else r["model"], _quality(r))
            for r in res["rows"] if r["model"] == mine or r["model"].startswith(mine + ",")
            or r["model"].startswith("mixture of Bernoullis, EM, K=1000")]


def _emoji(r: dict) -> str:
    """A bench/emoji.py row in one cell (colour metrics: no digit classes)."""
    out = [f"FD {r['fd']:.3g} ({r['fd_ratio']:.2f}× floor)", f"P/R {r['precision']:.2f} / {r['recall']:.2f}"]
    if "category_accuracy" in r:
        out.append(f"{_pct(r['category_accuracy'])} read as the asked category")
    if "recon_psnr" in r:
        out.append(f"reconstruction {r['recon_psnr']:.1f} dB")
    return ", ".join(out)


def _named(res: dict, name: str, key: str = "rows") -> list[dict]:
    return [r for r in res.get(key, []) if r["model"] == name or r["model"].startswith(name + ",")]


def _settings(res: dict, name: str) -> list[tuple[str, str]]:
    """Rows labelled "NAME, setting": (setting, figures)."""
    return [(r["model"].removeprefix(name + ", ") if r["model"] != name else "plain", _quality(r))
            for r in _named(res, name)]


BENCHES = {  # results file -> (families it reports on, None = any; rows that concern a model: [(setting, figures)])
    "complete.json": (None, lambda res, name, meta: _completion([r for r in res["rows"] if r["model"] == name])),
    "complete-gans.json": (None, lambda res, name, meta: _completion([r for r in res["rows"] if r["model"] == name])),
    "jacobian.json": (("dcgan",), _jacobian),
    "prior.json": (("dcgan",), lambda res, name, meta: [(f"{r['prior']}, seed {r['seed']}", _quality(r))
                                                        for r in res["rows"]] if res.get("model") == name else []),
    "prior-vae.json": (None, lambda res, name, meta: [
        (f"{r['prior']}, seed {r['seed']}", _quality(r)) for r in res["rows"]] if res.get("model") == name else []),
    "refine.json": (("dcgan", "cgan"), lambda res, name, meta: [
        (f"refine {r['steps']} × {r['step_size']:g}", _quality(r)) for r in _named(res, name)]),
    "stylegan.json": (("stylegan",), lambda res, name, meta: _settings(res, name) + [
        (f"latent walk in {w['path']}", f"third digit {_pct(w['third_digit'])}, detour {w['detour']:.2f}")
        for w in _named(res, name, "walks")]),
    "gpt.json": (("pixelgpt", "arf"), lambda res, name, meta: _settings(res, name)),
    "arf.json": (("arf",), _arf),
    "text2image.json": (None, lambda res, name, meta: [
        (f"{r['set']}: {r['prompt']}", f"category {_pct(r['category'])}, subcategory {_pct(r['subcategory'])}, "
                                       f"FD {r['fd']:.1f}, P/R {r['precision']:.3f}/{r['recall']:.3f}")
        for r in res["rows"]] if res.get("model") == name else []),
    "emoji.json": (None, lambda res, name, meta: [
        (f"{r['samples']} samples vs the held-out emoji (emoji net)", _emoji(r)) for r in res["rows"]
        if r["model"] == name and r.get("steps") == meta.get("recipe", {}).get("steps", r.get("steps"))]),
    "prompt.json": (None, lambda res, name, meta: [
        (f"prompts ({len(rs)})", "label accuracy " + "-".join(dict.fromkeys(
            f"{f(r['label_accuracy'] for r in rs) * 100:.1f}" for f in (min, max))) + " %")
        for rs in [[r for r in res["rows"] if r["model"] == name]] if rs]),
}


def bench_rows(name: str, meta: dict, results: Path = RESULTS) -> list[tuple[str, str, str]]:
    """(results file, setting, figures) for every benchmark row that concerns this model."""
    out = []
    for file, (fams, rows) in BENCHES.items():
        path = results / file
        if path.exists() and (fams is None or meta["family"] in fams):
            out += [(file, s, f) for s, f in rows(json.loads(path.read_text()), name, meta)]
    return out


def keep_verdict(pool: list[dict], direct: list[dict]) -> tuple[list[dict], bool]:
    """The Jacobian-truncation setting to report and whether it meets every target on each draw: (the pool row,
    then the sampler's own draws of that setting; True only if all meet TARGETS). The mildest setting (no
    refinement, then the largest keep) that does, else the mildest the pool alone calls met; ([], False) when no
    setting was measured both ways."""
    same = lambda a, b: a["keep"] == b["keep"] and a["refine_steps"] == b["refine_steps"]  # noqa: E731
    meets = lambda m: all(ok(m) for _, ok in TARGETS)  # noqa: E731
    tried = [r for r in pool if any(same(r, d) for d in direct)]
    ok = [r for r in tried if meets(r) and all(meets(d) for d in direct if same(r, d))]
    if not tried:
        return [], False
    r = min(ok or [r for r in tried if meets(r)] or tried, key=lambda r: (r["refine_steps"], -r["keep"]))
    return [r, *[d for d in direct if same(r, d)]], bool(ok)


def verdict_line(pool: list[dict], direct: list[dict]) -> str:
    """One sentence: does the reported keep setting meet every target on every draw?"""
    draws, ok = keep_verdict(pool, direct)
    if not draws:
        return ""
    figs = (" / ".join(f"{100 * d['confident_fraction']:.2f}" for d in draws) + " % confident at FD "
            + " / ".join(f"{d['fd'] / d['fd_floor']:.2f}" for d in draws) + "× the floor")
    steps = draws[0]["refine_steps"]
    how = f"`keep={draws[0]['keep']:g}`" + (f", `refine_steps={steps}`" if steps else "")
    if ok:
        return (f"With {how} every target ({', '.join(t for t, _ in TARGETS)}) is met on the pool and on each of the "
                f"sampler's own draws: {figs} (the pool first, then seeds "
                + ", ".join(str(d.get("seed", "?")) for d in draws[1:]) + ").")
    missed = [(t, sum(not ok(d) for d in draws)) for t, ok in TARGETS]
    return (f"No setting meets every target on every draw; closest, {how}: {figs} — "
            + ", ".join(f"{t} missed on {k} of {len(draws)}" for t, k in missed if k) + ".")


def phases(recipe: dict, card: dict) -> list[dict]:
    """One settings dict per training phase (a warm start adds one). Histories written by ``imggen train --init``
    list every phase with its own step count; older ones (scripts/train_gan.py) list the earlier phases with
    cumulative counts and leave the last phase to the recipe itself."""
    base = {k: v for k, v in recipe.items() if k not in ("history", "init", "sessions")}
    hist = recipe.get("history") or []
    if not hist:
        return [{**base, "hardware": card.get("hardware")}]
    if sum(int(h.get("steps") or 0) for h in hist) == recipe.get("steps"):
        return [{**base, "hardware": card.get("hardware"), **h} for h in hist]
    out, before = [], {"steps": 0, "train_seconds": 0.0}
    for h in [*hist, {**base, "hardware": card.get("hardware"), "train_seconds": recipe.get("train_seconds", 0)}]:
        out.append({**base, **h, "steps": int(h["steps"]) - before["steps"],
                    "train_seconds": float(h.get("train_seconds") or 0) - before["train_seconds"]})
        before = {"steps": int(h["steps"]), "train_seconds": float(h.get("train_seconds") or 0)}
    return out


def _defaults(cls) -> dict:
    return {f.name: f.default for f in fields(cls)}


def _json(d: dict) -> str:
    return "'" + json.dumps(d) + "'"


def reproduce(meta: dict, out: str, ref: str) -> list[str]:
    """The commands that rebuild the checkpoint at ``out`` from its recipe: one ``imggen train`` per phase (steps as
    trained), the latent prior fit if any, then the held-out evaluation (``ref``: the name the CLI takes)."""
    from .train import TrainConfig

    family, cfg, rec, card, m = meta["family"], meta["config"], meta["recipe"], meta["card"], meta["metrics"]
    if card.get("reproduce"):  # written by the script that trained and measured it (e.g. scripts/train_emoji.py)
        return list(card["reproduce"])
    fam = families.get(family)
    if fam.reproduce:
        return [fam.reproduce.format(**rec)]
    cfg_cls, unused = fam.config, set(fam.unused_train_keys)
    model_over = {k: v for k, v in cfg.items()  # the loop takes a conditional model's classes from the data
                  if k not in FITTED and k in _defaults(cfg_cls) and _defaults(cfg_cls)[k] != v
                  and not (k == "num_classes" and v)}
    train_defaults = _defaults(TrainConfig)
    flags = {"batch_size": "--batch-size", "lr": "--lr", "seed": "--seed"}
    cmds, data, n = [], rec.get("data", "mnist"), rec.get("train_images")
    for i, ph in enumerate(phases(rec, card)):
        planned = ph.get("max_steps") or ph["steps"]
        cmd = [f"python -m imggen train {family} --data {data}"
               + (f" --limit {n}" if n and (data, n) != ("mnist", MNIST_TRAIN) else ""), f"--max-steps {planned}"]
        if ph.get("max_steps") and ph["steps"] < ph["max_steps"] and ph.get("time_limit_s"):
            cmd.append(f"--time-limit {ph['time_limit_s']:g}")  # the run stopped at its time limit
        cmd += [f"{flag} {ph[k]:g}" for k, flag in flags.items()
                if k not in unused and ph.get(k) is not None and (k != "seed" or ph[k])]
        over = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ph.items()
                if k in train_defaults and k not in (*flags, "epochs", "max_steps", "time_limit_s", "device",
                                                     *DISPLAY_ONLY, *unused)
                and v is not None and v != train_defaults[k]
                and not (isinstance(v, (list, tuple)) and list(v) == list(train_defaults[k] or ()))
                and not (k == "lr_d" and v == ph.get("lr"))}
        if over:
            cmd.append(f"--train-config {_json(over)}")
        if i == 0 and model_over:
            cmd.append(f"--config {_json(model_over)}")
        if i:
            cmd.append(f"--init {out}")
        cmds.append(" ".join([*cmd, f"--out {out}"]))
    if cfg.get("prior_components"):
        prior = card.get("prior", {})
        k = prior.get("components", cfg["prior_components"]) + prior.get("dropped_small_clusters", 0)
        cmds.append(f"python -m imggen fit-prior {out} --components {k} --samples {prior.get('samples', 100_000)}"
                    + (f" --seed {prior['seed']}" if prior.get("seed") else ""))
    if "test_set" in m:
        n, images = m.get("num_samples", 5000), m.get("nll_images", m.get("iwae_images", 1000))
        cmds.append(f"python -m imggen eval {ref} --write" + (f" -n {n}" if n != 5000 else "")
                    + (f" --iwae-images {images}" if images != 1000 else "")
                    + (f" --seed {m['seed']}" if m.get("seed") else ""))
    return cmds


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _minutes(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else (f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h")


def _training(meta: dict, unused: set) -> str:
    rec, card = meta["recipe"], meta["card"]
    ph = phases(rec, card)
    by_hw: dict[str, list[int]] = {}
    for p in ph:
        hw = str(p.get("hardware") or "unrecorded hardware").replace("CPU, 1 threads", "CPU, 1 thread")
        by_hw.setdefault(hw, []).append(int(p.get("steps") or 0))
    where = "; ".join(f"{sum(s):,} steps on {hw}" for hw, s in by_hw.items()) if len(ph) > 1 or rec.get("steps") else ""
    total = rec.get("train_seconds", card.get("train_seconds"))
    batch = "" if "batch_size" in unused else f" at batch {rec.get('batch_size')}"
    how = (f"{rec['steps']:,} steps ({rec.get('epochs', 0):.1f} epochs){batch}" if rec.get("steps")
           else f"{rec.get('epochs')} epochs{batch}")
    sess = (f" in {len(ph)} phases" if len(ph) > 1 else f" in {rec['sessions']} time-boxed sessions (resumed with a "
            "fresh optimiser)" if rec.get("sessions") else "")
    return (how + sess + (f", {float(total):g} s" + (f" ({_minutes(float(total))})" if float(total) >= 90 else "")
                          + " of training" if total else "")
            + (f": {where}" if where else f" on {card.get('hardware', 'unrecorded hardware')}") + ".")


def card_text(path: str | Path) -> str:
    """The card of the checkpoint at ``path``."""
    path = Path(path)
    meta = checkpoint.read_metadata(path)
    family, cfg, m, rec, card = meta["family"], meta["config"], meta["metrics"], meta["recipe"], meta["card"]
    name = path.name.removesuffix(".safetensors")  # the registry's name for it
    ref = name if path.resolve().parent == registry.CHECKPOINT_DIR.resolve() else _rel(path)  # what the CLI takes
    fam = families.get(family)
    model_cls = fam.model
    module = model_cls.__module__.replace(".", "/") + ".py"
    about = card.get("about") or fam.about or " ".join((model_cls.__doc__ or family).strip().split("\n\n")[0].split())
    held_out = m if "test_set" in m else {}
    shown = [(k, label, f(held_out)) for k, label, f in METRICS if k in held_out]
    generator = fam.generator
    data = rec.get("data") or card.get("data") or "mnist"
    params = card.get("parameters") or sum(math.prod(s) for s in checkpoint.tensor_shapes(path).values())
    lines = ["---", f"license: {LICENSE}", "library_name: imggen",
             "pipeline_tag: " + ("text-to-image" if callable(getattr(model_cls, "tokenize_prompt", None)) else
                                 "unconditional-image-generation" if generator else "image-classification"),
             f"datasets: [{data}]",
             f"tags: [{', '.join(dict.fromkeys(('imggen', family, data.rstrip('0123456789k'), 'safetensors')))}]",
             f"metrics: [{', '.join(dict.fromkeys(v for k, v in HF_METRICS.items() if k in held_out))}]", "---",
             f"# {name}", "", about, "",
             "## Config", "", "| | |", "|---|---|",
             f"| family | `{family}` (`{module}`) |",
             f"| file | `{_rel(path)}` ({path.stat().st_size / 1e6:.1f} MB; config, recipe and metrics in its "
             "metadata) |",
             f"| parameters | {params:,}" + ("" if card.get("parameters") else " (every tensor in the file)") + " |",
             f"| config | `{json.dumps(_short(cfg))}` |", "",
             "## Data", "",
             f"Trained on {rec.get('data') or card.get('data')} ({rec.get('train_images', 0):,} training images)"
             + (f"; evaluated on {held_out['test_set']}, never trained on" if held_out else "") + ". "
             + _training(meta, set(fam.unused_train_keys)), "",
             "## How to reproduce", "", "```bash", *reproduce(meta, _rel(path), ref),
             f"python -m imggen card {ref} --write", "```", "",
             "## Held-out metrics", ""]
    if shown:
        lines += [("Stored in the checkpoint by `python -m imggen eval --write`"
                   if generator and not card.get("reproduce") else "Stored in the checkpoint by its training script")
                  + (f": {held_out['num_samples']:,} samples vs {held_out['num_samples']:,} test "
                     + ("digits" if data.startswith("mnist") else "images")
                     if "num_samples" in held_out else "") + (", plain sampling" if generator else "") + ".", "",
                  "| metric | value |", "|---|---|", *[f"| {label} | {value} |" for _, label, value in shown]]
        typical = path.with_name(name + ".anomaly.json")
        if typical.exists():
            r = json.loads(typical.read_text())
            q = r["quantiles"]
            how = f", IWAE k={r['k']}" if "iwae_nll" in m else ""
            what = "digits" if data.startswith("mnist") else "images"
            lines.append(f"| typicality reference (`{typical.name}`) | log-likelihood of {r['num_images']:,} "
                         f"{r['data']} {what}{how}: 1 % {q[10]:.1f}, median {q[500]:.1f}, 99 % {q[990]:.1f} "
                         "nats (the Reconstruct tab's percentile) |")
    else:
        lines.append(f"None stored yet: `python -m imggen eval {ref} --write` measures them"
                     + (" (the last per-epoch check, on training images, is in the metadata)" if m else "") + ".")
    bench = bench_rows(name, meta)
    if bench:
        lines += ["", "## Benchmarks", "", "Figures from `bench/results/`, rerun by hand (`python -m imggen bench "
                  "NAME`): each describes the weights of the run that wrote its file.", "",
                  "| source | setting | figures |", "|---|---|---|",
                  *[f"| `{f}` | {s} | {fig} |" for f, s, fig in bench]]
    text_model = callable(getattr(model_cls, "tokenize_prompt", None))
    lines += ["", "## Recommended sampling", "", *(_prompting(ref) if text_model else
                                                   _sampling(name, ref, cfg, card, generator))]
    lines += ["", "## Limits", "", card.get("limits") or fam.limits or f"Trained and measured on {rec.get('data', 'its data')} only."]
    if _has_history(name):
        lines += ["", f"Earlier runs, dead ends and dated measurements: [{HISTORY}](../{HISTORY}#{name})."]
    return "\n".join(lines) + "\n"


def _sampling(name: str, ref: str, cfg: dict, card: dict, generator: bool) -> list[str]:
    """How to sample the model (``ref``: as ``imggen.load`` takes it), and the evidence for its recorded start."""
    if not generator:
        return ["Not a generator: `imggen.metrics.digit_metrics(samples, real)` uses it to score samples."]
    rec = card.get("sampling") or {}
    kw = "".join(f", {k}={v!r}" for k, v in rec.items())
    labels = ", labels=[3]" if cfg.get("num_classes") else ""
    out = [f"`imggen.load(\"{ref}\").sample(16, seed=0{labels}{kw})`" + (
        f": the Sample tab starts at {', '.join(f'`{k}={v}`' for k, v in rec.items())} (`card[\"sampling\"]` in the "
        "checkpoint's metadata; the API's default stays plain sampling, which the held-out metrics measure)."
        if rec else ": plain sampling, as the held-out metrics measure it (no `card[\"sampling\"]` recorded).")]
    if "keep" in rec and (RESULTS / "jacobian.json").exists():
        res = json.loads((RESULTS / "jacobian.json").read_text())
        line = verdict_line([r for r in res.get("rows", []) if r["model"] == name and r["keep"] == rec["keep"]],
                            [d for d in res.get("direct", []) if d["model"] == name])
        out += ["", line + " (`jacobian.json`)"] if line else []
    if "candidates" in rec and (RESULTS / "candidates.json").exists():
        out += candidates_line(name, rec["candidates"], json.loads((RESULTS / "candidates.json").read_text()))
    return out


def candidates_line(name: str, k: int, res: dict) -> list[str]:
    """The evidence for a recorded ``candidates`` start: plain sampling against the best of k by D, as
    bench/candidates.py measured them (empty when that run has no such rows)."""
    rows = {r["candidates"]: r for r in res.get("rows", []) if r["model"] == name}
    if 1 not in rows or k not in rows:
        return []

    def figs(r):
        asked = f"{100 * r['label_accuracy']:.1f} % read as the asked class, " if "label_accuracy" in r else ""
        return f"{asked}FD {r['fd_ratio']:.2f}× the floor, precision / recall {r['precision']:.2f} / {r['recall']:.2f}"
    return ["", f"Plain sampling: {figs(rows[1])}; the best of {k} by D: {figs(rows[k])} (`candidates.json`, "
                f"mean of seeds {', '.join(map(str, res.get('seeds', [])))}; {rows[k]['grid16_ms']:.0f} ms for 16 "
                f"samples, {rows[1]['grid16_ms']:.0f} ms plain)."]


def _prompting(ref: str) -> list[str]:
    """How to prompt a text -> image model."""
    return [f"`imggen.load(\"{ref}\").sample(16, seed=0, prompt=\"a red heart\")` (classifier-free guidance 3 by "
            "default; `guidance`, `temperature`, `top_k`, `candidates`, `expand`), or `python -m imggen generate \"a red "
            f"heart\" --model {ref}`; `imggen.text2image.generate` also lists the prompt's unknown words. Prompt "
            "figures: `bench/results/text2image.md`."]


def _short(cfg: dict) -> dict:
    """The config for a card: long texts as their count (a caption vocabulary's words, "|"-separated names)."""
    def count(v: str) -> str:
        return f"<{len(v.split('|')):,} names>" if "|" in v else f"<{len(v.split()):,} words>"

    return {k: count(v) if isinstance(v, str) and len(v) > 120 else v for k, v in cfg.items()}


def _has_history(name: str) -> bool:
    path = ROOT / HISTORY
    return path.exists() and f"\n## {name}\n" in path.read_text()


def checkpoint_path(name: str) -> Path:
    """A shipped checkpoint's file (the classifier included), else whatever the registry resolves the name to."""
    shipped = registry.CHECKPOINT_DIR / f"{name}.safetensors"
    return shipped if shipped.exists() else registry.resolve(name)


def shipped() -> list[str]:
    """Names of the checkpoints shipped in checkpoints/, each with a card."""
    return sorted(p.name.removesuffix(".safetensors") for p in registry.CHECKPOINT_DIR.glob("*.safetensors"))


def write_card(path: str | Path) -> Path:
    """Write the card next to the checkpoint (``NAME.md``); returns its path."""
    path = Path(path)
    out = path.with_name(path.name.removesuffix(".safetensors") + ".md")
    out.write_text(card_text(path))
    return out
