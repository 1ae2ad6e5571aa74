"""Command line: python -m imggen {list,sample,generate,train,fit-prior,eval,card,bench} ..."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_list(a):
    from .registry import list_models

    for name, card in list_models().items():
        m = card.get("metrics", {})
        keys = [k for k in ("fd", "fd_ratio", "coverage", "confident_fraction", "iwae_nll", "label_accuracy") if k in m]
        print(f"{name:20s} {card['family']:10s} " + " ".join(f"{k}={m[k]:.4g}" for k in keys))


def _cmd_sample(a):
    from .convert import grid, to_pil
    from .registry import load

    model = load(a.model)
    kw = {}
    if a.labels:
        kw["labels"] = [int(v) for v in a.labels.split(",")]
    if a.truncation is not None:
        kw["truncation"] = a.truncation
    if a.keep is not None:
        kw["keep"] = a.keep
    if a.refine_steps:
        kw["refine_steps"] = a.refine_steps
    if a.candidates != 1:
        kw["candidates"] = a.candidates  # checked by the sampler
    x = model.sample(a.n, seed=a.seed, **kw)
    im = to_pil(grid(x), scale=a.scale, recipe={"model": a.model, "seed": a.seed, "n": a.n, **kw})
    from .convert import png_bytes

    Path(a.out).write_bytes(png_bytes(im))
    print(f"wrote {a.out} ({a.n} samples, seed {a.seed})")


def _cmd_generate(a):
    from .convert import grid, png_bytes, to_pil
    from .registry import load
    from .text2image import generate

    opts = {k: getattr(a, k) for k in ("temperature", "top_k", "guidance", "candidates") if getattr(a, k) is not None}
    gen = generate(load(a.model), a.prompt, a.n, a.seed, **opts, expand=a.expand)
    Path(a.out).write_bytes(png_bytes(to_pil(grid(gen.images), scale=a.scale, recipe=gen.recipe)))
    unknown = f"; unknown words: {', '.join(gen.unknown)}" if gen.unknown else ""
    read = f", read as {gen.read_as!r}" if gen.read_as != a.prompt else ""
    print(f"wrote {a.out} ({a.n} images of {a.prompt!r}{read}, seed {a.seed}{unknown})")


def _cmd_train(a):
    from tqdm import tqdm

    from . import distributed
    from .data import load_data
    from .train import CLI_TRAIN_DEFAULTS, TrainConfig, steps_per_epoch, train

    distributed.init()
    recipe = _recipe(a)
    data = recipe.labelled(load_data(a.data or recipe.data, split="train", image_size=a.image_size,
                                     channels=a.channels, limit=a.limit if a.limit is not None else recipe.limit))
    over = {**recipe.model, **json.loads(a.config or "{}")}
    flags = {"epochs": a.epochs, "batch_size": a.batch_size, "seed": a.seed, "max_steps": a.max_steps,
             "time_limit_s": a.time_limit, "lr": a.lr}  # given flags > --train-config > the recipe > defaults
    cfg = TrainConfig(**{**CLI_TRAIN_DEFAULTS, **recipe.train,
                         **json.loads(a.train_config or "{}"), **{k: v for k, v in flags.items() if v is not None}})
    out = a.out or f"runs/{a.family}-{data.name}.safetensors"
    model, init = _warm_start(a.init, a.family, over.get("num_classes")) if a.init else (None, None)
    total = cfg.max_steps or cfg.epochs * steps_per_epoch(a.family, cfg.batch_size, len(data))
    bar = tqdm(total=total, desc=f"train {a.family}", disable=distributed.rank() != 0)
    if data.skipped:
        bar.write(f"skipped {data.skipped} unreadable files in {a.data}")
    for ev in train(a.family, data, cfg, model_config=over, model=model, out=out, init=init):
        bar.update(ev.step - bar.n)
        bar.set_postfix({k: f"{v:.3g}" for k, v in ev.losses.items()}, refresh=False)
        if ev.kind in ("epoch", "end", "error"):
            bar.write(ev.summary())
        if ev.kind == "error":
            bar.close()
            sys.exit(1)
    bar.close()
    if distributed.rank() == 0:
        from .cards import write_card

        print(f"saved {out} and its card {write_card(out)}")


def _recipe(a):
    """The named recipe of ``train --recipe`` (an empty one without), its family checked against the one given."""
    from .training import recipes

    if not a.recipe:
        if not a.family:
            sys.exit("imggen train: give a model FAMILY or --recipe NAME")
        return recipes.Recipe(a.family, "", data="mnist5k")
    recipe = recipes.get(a.recipe)
    if a.family and a.family != recipe.family:
        sys.exit(f"imggen train: recipe {a.recipe} trains a {recipe.family}, not a {a.family}")
    a.family = recipe.family
    return recipe


def _warm_start(path: str, family: str, num_classes: int | None):
    """(model with the checkpoint's weights, its classes split to the recipe's, where it came from) for
    ``train --init``."""
    from .registry import warm_start
    from .training import WarmStart

    try:
        model, meta = warm_start(path, family, num_classes)
    except ValueError as e:
        sys.exit(f"--init {e}")
    return model, WarmStart(path, meta["recipe"])


def _cmd_fit_prior(a):
    from tqdm import tqdm

    from .registry import fit_prior

    with tqdm(total=a.samples, desc="fit prior") as bar:
        out, info = fit_prior(a.model, a.components, a.samples, seed=a.seed, out=a.out, device=a.device,
                              progress=lambda i, n: bar.update(i - bar.n))
    print(f"wrote {out}: a {info['components']}-component latent mixture; measure it with imggen eval {out} --write")


def _cmd_eval(a):
    from .evaluate import evaluate_model
    from .registry import SAMPLER_DEFAULTS

    kw = {k: getattr(a, k) for k, v in SAMPLER_DEFAULTS.items() if getattr(a, k) not in (None, v)}  # not plain
    res = evaluate_model(a.model, n=a.n, data=a.data, seed=a.seed, write=a.write, iwae_images=a.iwae_images,
                         sample_kw=kw)
    print(json.dumps(res, indent=2))


def _cmd_card(a):
    from . import cards

    if bool(a.name) == a.all:
        sys.exit("imggen card: give a model NAME or --all")
    for name in cards.shipped() if a.all else [a.name]:
        path = cards.checkpoint_path(name)
        if a.write or a.all:
            print(f"wrote {cards.write_card(path)}")
        else:
            print(cards.card_text(path), end="")


def _cmd_bench(a):
    import pkgutil
    import runpy

    try:
        import bench
    except ModuleNotFoundError:
        sys.exit("imggen bench: the benchmarks are the checkout's bench/ package: run from the repository root, "
                 "or install the checkout (pip install -e .)")
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "common")
    if a.name not in names:
        sys.exit(f"no benchmark {a.name!r}; available: {', '.join(names)}")
    sys.argv = [sys.argv[0], *a.args]  # run_module puts the benchmark's file first, as `python bench/NAME.py` would
    runpy.run_module(f"bench.{a.name}", run_name="__main__", alter_sys=True)


def _recipe_names() -> list[str]:
    from .training.recipes import names

    return names()


def main(argv=None):
    p = argparse.ArgumentParser(prog="imggen", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list registered models with key metrics").set_defaults(fn=_cmd_list)
    s = sub.add_parser("sample", help="write a PNG grid of samples")
    s.add_argument("model"), s.add_argument("-n", type=int, default=64), s.add_argument("--seed", type=int, default=0)
    s.add_argument("--labels", default=""), s.add_argument("--truncation", type=float, default=None)
    s.add_argument("--refine-steps", type=int, default=0, help="GANs: discriminator-guided latent refinement steps")
    s.add_argument("--keep", type=float, default=None,
                   help="DCGANs: keep this fraction of latents, the least steep (Jacobian truncation)")
    s.add_argument("--candidates", type=int, default=1, help="GANs: keep the best of this many per sample by D")
    s.add_argument("--scale", type=int, default=2), s.add_argument("--out", default="samples.png")
    s.set_defaults(fn=_cmd_sample)
    g = sub.add_parser("generate", help="text -> image: write a PNG grid for a prompt (a text model)")
    g.add_argument("prompt"), g.add_argument("--model", default="dalle-emoji32")
    g.add_argument("-n", "--n", type=int, default=16), g.add_argument("--seed", type=int, default=0)
    g.add_argument("--temperature", type=float, default=None), g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (1 = off)")
    g.add_argument("--candidates", type=int, default=None, help="draws per image, the best-explained one kept")
    g.add_argument("--no-expand", dest="expand", action="store_false",
                   help="read the prompt as typed (no category / subcategory filled in)")
    g.add_argument("--scale", type=int, default=4), g.add_argument("--out", default="generated.png")
    g.set_defaults(fn=_cmd_generate)
    t = sub.add_parser("train", help="train a model family on a dataset")
    t.add_argument("family", nargs="?", help="the model family (optional with --recipe)")
    t.add_argument("--recipe", default=None, metavar="NAME",
                   help="a named recipe (imggen.training.recipes): family, data, model and training settings; "
                        "flags given as well override it. Names: " + ", ".join(_recipe_names()))
    t.add_argument("--data", default=None, help="built-in data set, folder or zip (default: mnist5k)")
    t.add_argument("--epochs", type=int, default=None, help="(default 5)")
    t.add_argument("--batch-size", type=int, default=None, help="(default 64)")
    t.add_argument("--lr", type=float, default=None), t.add_argument("--max-steps", type=int, default=None)
    t.add_argument("--limit", type=int, default=None), t.add_argument("--seed", type=int, default=None)
    t.add_argument("--image-size", type=int, default=None, help="(default: the data's own; 28 for digits)")
    t.add_argument("--channels", type=int, default=None, help="(default: the data's own; 1 for digits)")
    t.add_argument("--config", default="", help="model config overrides as JSON")
    t.add_argument("--train-config", default="", help="TrainConfig overrides as JSON")
    t.add_argument("--time-limit", type=float, default=None, help="stop (and save) after this many seconds")
    t.add_argument("--out", default=None)
    t.add_argument("--init", default=None, help="continue from this checkpoint's weights (same family, fresh "
                                                 "optimiser); the card keeps the earlier phases")
    t.set_defaults(fn=_cmd_train)
    f = sub.add_parser("fit-prior", help="DCGANs: fit a Gaussian-mixture latent prior to the trained generator")
    f.add_argument("model"), f.add_argument("--components", type=int, default=100)
    f.add_argument("--samples", type=int, default=100_000, help="latents drawn and clustered")
    f.add_argument("--seed", type=int, default=0), f.add_argument("--device", default=None)
    f.add_argument("--out", default=None, help="checkpoint to write (default: overwrite the model's own)")
    f.set_defaults(fn=_cmd_fit_prior)
    e = sub.add_parser("eval", help="measure a model's metrics on the held-out test set")
    e.add_argument("model"), e.add_argument("-n", type=int, default=5000), e.add_argument("--data", default=None)
    e.add_argument("--write", action="store_true", help="store the metrics in the checkpoint's card")
    e.add_argument("--iwae-images", type=int, default=1000, help="test images for the IWAE k=1000 bound (VAEs)")
    e.add_argument("--seed", type=int, default=0, help="sampling seed")
    e.add_argument("--truncation", type=float, default=None, help="GANs: measure sampling at this truncation")
    e.add_argument("--keep", type=float, default=None, help="DCGANs: measure Jacobian truncation at this fraction")
    e.add_argument("--refine-steps", type=int, default=0, help="GANs: measure discriminator-guided refinement")
    e.add_argument("--candidates", type=int, default=1, help="GANs: measure the best of this many by D")
    e.set_defaults(fn=_cmd_eval)
    c = sub.add_parser("card", help="print or write a model card (NAME.md) from its checkpoint and the benchmarks")
    c.add_argument("name", nargs="?", help="a model name or checkpoint path")
    c.add_argument("--write", action="store_true", help="write NAME.md next to the checkpoint instead of printing it")
    c.add_argument("--all", action="store_true", help="regenerate the card of every checkpoint in checkpoints/")
    c.set_defaults(fn=_cmd_card)
    b = sub.add_parser("bench", help="run a benchmark from bench/")
    b.add_argument("name"), b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(fn=_cmd_bench)
    a = p.parse_args(argv)
    try:
        a.fn(a)
    except ValueError as e:  # user errors (unknown model, bad checkpoint or data): a message, not a traceback
        sys.exit(f"imggen {a.cmd}: error: {e}")


if __name__ == "__main__":
    main()
