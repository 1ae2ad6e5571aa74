"""Arena tab: every picked generator on the same seed side by side (conditional ones cycle through the classes),
each with its sampling time and its card's headline metrics; one click opens a model in Sample or Explore."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from .. import arena
from . import common, explore, sample

TITLE = "Arena"
ID = "arena"

# components of other tabs the "open in" buttons set (rendered before this tab: see TABS in imggen/ui/__init__.py)
TABS_ID, SAMPLE_IDS, EXPLORE_IDS = "tabs", ("sample-model", "sample-count", "sample-seed"), ("exp-model", "exp-seed")


def _picks(models) -> list[str]:
    """The visitor's picked model names, checked: each a generator this visitor can load, at most all of them."""
    if not isinstance(models, (list, tuple)):  # an API caller's single name (or anything else)
        models = [models] if models else []
    models = list(dict.fromkeys(map(str, models)))
    if not models:
        raise gr.Error("No model picked: choose one or more generators, then try again.")
    allowed = common.model_choices(capability="sample")
    if len(models) > len(allowed):
        raise gr.Error(f"At most {len(allowed)} models (every registered generator).")
    for name in models:
        common.require_model(name)
        if name not in allowed:
            raise gr.Error(f"{name!r} is not a generator: pick models from the list.")
    return models


def _view(entries: list[arena.Entry], n: int, seed: int, cached: bool = False):
    """-> (gallery items: one PNG grid per model with its recipe, metrics table, info markdown)."""
    gallery, rows, failed = [], [], []
    for e in entries:
        if e.error:
            failed.append(f"`{e.name}`: {e.error}")
            continue
        png = common.png_output(e.images, e.recipe(n, seed), scale=2)  # square-ish: fills a gallery tile
        caption = f"{e.name} · {e.seconds:.2f} s"  # short: a tile is narrow; the table has the rest
        gallery.append((png, caption))
        rows.append({"model": e.name, "family": e.family, "sampling s": round(e.seconds, 3), **e.metrics})
    labels = [label for _, label, _ in arena.HEADLINE if any(label in r for r in rows)]
    table = pd.DataFrame(rows, columns=["model", "family", "sampling s", *labels]).fillna("—")
    groups: dict[tuple, list[str]] = {}  # the same classes, one sentence: digit models, emoji models
    for e in entries:
        if e.labels:
            groups.setdefault(e.classes, []).append(f"`{e.name}`")
    cond = "; ".join(f"({', '.join(names)}) show the classes {_cycle(c)} in turn" for c, names in groups.items())
    info = (f"**Seed {seed}** · {n} image{'s' * (n > 1)} per model · {len(gallery)} model"
            f"{'s' * (len(gallery) != 1)}, {sum(e.seconds for e in entries):.1f} s of sampling in all. "
            + (f"Conditional models {cond}. " if cond else "")
            + "Sampling time: the wall time of each model's sampler on this server"
            + (" when these images were first drawn (page-open view; Generate measures again)." if cached
               else ", this call."))
    if failed:
        info += "\n\n**Not shown:** " + "; ".join(failed)
    return gallery, table, info


def _cycle(classes: tuple[str, ...]) -> str:
    """The class names a conditional model's grid cycles through, short: "0, 1, … 9"."""
    return ", ".join(classes) if len(classes) <= 3 else f"{', '.join(classes[:2])}, … {classes[-1]}"


def open_choices(models, current=None):
    """The 'open this model in' dropdown follows the picks (keeping its model while it is still picked)."""
    models = [models] if isinstance(models, str) else list(models or [])
    return gr.Dropdown(choices=models, value=current if current in models else (models[0] if models else None))


def run_arena(models, count, seed):
    """-> (gallery, metrics table, info), streamed as each model finishes."""
    picks = _picks(models)
    n = common.whole_number(count, "Count", 1, arena.MAX_COUNT)
    seed = common.to_seed(seed)
    entries = []
    with common.user_errors():
        for e in arena.run(picks, n, seed):
            entries.append(e)
            yield _view(entries, n, seed)


def opened():
    """The page-open arena: the default pick, seed and count (remembered per checkpoint: the same for everyone)."""
    picks = arena.default_pick(common.model_choices(capability="sample"))
    entries = list(arena.run(picks, arena.DEFAULT_COUNT, arena.DEFAULT_SEED, cached=True))
    return _view(entries, arena.DEFAULT_COUNT, arena.DEFAULT_SEED, cached=True)


def open_in_sample(name, count, seed):
    """-> (Sample's model, count, seed, the selected tab)."""
    name = common.require_model(name)
    if name not in common.model_choices(capability="sample"):
        raise gr.Error(f"{name!r} is not a generator.")
    n = common.whole_number(count, "Count", 1, arena.MAX_COUNT)
    return gr.update(value=name), n, common.to_seed(seed), gr.Tabs(selected=sample.ID)


def open_in_explore(name, seed):
    """-> (Explore's model, seed, the selected tab)."""
    name = common.require_model(name)
    if name not in common.model_choices(capability="decode"):
        raise gr.Error(f"{name} has no latent space to explore (it draws pixels directly); open it in Sample.")
    return gr.update(value=name), common.to_seed(seed), gr.Tabs(selected=explore.ID)


def _rendered(*elem_ids: str) -> list | None:
    """Components already rendered in the app being built, by elem_id (None unless all are there)."""
    from gradio.context import get_blocks_context

    ctx = get_blocks_context()
    found = {getattr(b, "elem_id", None): b for b in (ctx.blocks.values() if ctx else ())}
    return [found[i] for i in elem_ids] if all(i in found for i in elem_ids) else None


def render() -> None:
    gr.Markdown("Every generator on the **same seed**, side by side: the images, how long each model's sampler took "
                "here, and the headline metrics of its card. " + arena.METRIC_NOTES)
    tabs, sample_io, explore_io = _rendered(TABS_ID), _rendered(*SAMPLE_IDS), _rendered(*EXPLORE_IDS)
    choices = common.model_choices(capability="sample")
    default = arena.default_pick(choices)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            models = common.model_dropdown("Models", capability="sample", elem_id="arena-models", multiselect=True,
                                           value=default, info="the shipped generators at first; add or remove any")
            count = gr.Slider(1, arena.MAX_COUNT, value=arena.DEFAULT_COUNT, step=1, label="Images per model",
                              elem_id="arena-count")
            seed = common.seed_input(arena.DEFAULT_SEED, elem_id="arena-seed")
            go = gr.Button("Generate", variant="primary", elem_id="arena-btn")
            with gr.Group():
                target = gr.Dropdown(choices=default, value=default[0] if default else None,
                                     label="Open this model in", elem_id="arena-open", allow_custom_value=True)
                with gr.Row():
                    to_sample = gr.Button("Open in Sample", size="sm", elem_id="arena-open-sample",
                                          visible=bool(tabs and sample_io))
                    to_explore = gr.Button("Open in Explore", size="sm", elem_id="arena-open-explore",
                                           visible=bool(tabs and explore_io))
        with gr.Column(scale=3):
            info = gr.Markdown(elem_id="arena-info")
            gallery = gr.Gallery(label="Same seed, every model (PNGs with their recipe)", columns=5,
                                 format="png", object_fit="contain", elem_id="arena-gallery", allow_preview=True)
            table = gr.Dataframe(label="Sampling time and card metrics", elem_id="arena-table", interactive=False,
                                 wrap=True)
    outputs = [gallery, table, info]
    go.click(run_arena, [models, count, seed], outputs, api_name="arena", concurrency_limit=1,
             concurrency_id="arena")
    common.on_load(opened, [], outputs)
    models.change(open_choices, [models, target], target, api_visibility="private", queue=False)
    if tabs and sample_io:
        to_sample.click(open_in_sample, [target, count, seed], [*sample_io, *tabs], api_visibility="private",
                        queue=False)
    if tabs and explore_io:
        to_explore.click(open_in_explore, [target, seed], [*explore_io, *tabs], api_visibility="private",
                         queue=False)
    return common.named(locals())
