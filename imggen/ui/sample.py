"""Sample tab: a seeded grid from any generative model (class picker, truncation, Jacobian-based truncation,
discriminator-guided refinement and D-ranked candidates for models that take them), click a sample to enlarge it,
and a Detection section scoring an upload with a GAN's discriminator."""
from __future__ import annotations

import gradio as gr
import torch

from .. import families, prompt, registry, text2image
from ..convert import to_pil
from ..data import style_categories
from ..models.gan import sampling_passes
from . import common, examples
from .detect import detect

TITLE = "Sample"
ID = "sample"

MAX_COUNT = 64
MIN_TRUNCATION, MAX_TRUNCATION = 0.1, 2.0  # slider bounds: above 2 the [-4, 4] redraw bound hardly changes a sample
MAX_REFINE, MAX_CANDIDATES = 50, 8  # slider bounds; the core allows more (imggen.models: gan, ranking)
MAX_PASSES = 16_000  # network passes per press (gan.sampling_passes): 64 samples, keep 0.3 and 50 steps (13k) fit
MIN_KEEP = 0.3  # keep slider bound: 64 samples at 0.3 score 214 latents (~5 s on 2 CPU threads; at 0.1 ~15 s), and
# below 0.5 the shipped dcgan's FD is already past 5x the floor (bench/results/jacobian.md)
RANDOM, EACH = "random", "each class in turn"


# ---- capabilities -------------------------------------------------------------------------------------------
def _family(card: dict) -> families.Family | None:
    """A registered model's entry in the family table (None for a missing card or an unknown family)."""
    return families.FAMILIES.get(card.get("family", ""))


SAMPLER_DEFAULTS = families.SAMPLER_DEFAULTS  # optional sampler settings and their start
SAMPLER_ARGS = tuple(SAMPLER_DEFAULTS)  # each shown when the model's sampler takes it


def _options(name: str | None) -> tuple[list[str], str, bool, dict[str, bool], dict[str, float], str]:
    """(class choices, default class, show class picker, {sampler setting: shown}, {sampler setting: start value},
    truncation slider's explanation) for a model; a checkpoint's card may recommend start values
    (``card["sampling"]``, justified on its card)."""
    card = registry.list_models().get(name or "", {})
    names = registry.class_names(card) if card else ()  # "0".."9" for digits, category names for emoji
    fam = _family(card)
    takes = fam.sampler_settings() if fam else {}
    show = {arg: arg in takes for arg in SAMPLER_ARGS}
    start = {arg: (card.get("sampling") or {}).get(arg, v) if show[arg] else v for arg, v in SAMPLER_DEFAULTS.items()}
    info = fam.truncation_info if fam else families.TRUNCATION_INFO
    return [RANDOM, EACH, *_with_categories(names)], EACH if names else RANDOM, bool(names), show, start, info


def _with_categories(names: tuple[str, ...]) -> list[str]:
    """The picker's classes: by-style classes ("Flags · noto") each after their bare category ("Flags": either
    style, in turn); other models' class names as they are."""
    of = style_categories(names)
    if of is None:
        return list(names)
    out: list[str] = []
    for cat, c in zip(of, names):
        out += [cat] * (cat not in out) + [c]
    return out


def model_options(name: str | None, restored: dict | None = None):
    """(class dropdown, truncation slider, keep slider, refinement slider, candidates slider) updates for the chosen
    model; the settings of a PNG just restored for this model (``restored``: the grid's recipe) win over the card's."""
    choices, value, show_cls, show, start, info = _options(name)
    if restored and restored.get("restored") and restored.get("model") == name:
        value = restored.get("class", value)
        start = {k: restored.get(k, v) for k, v in SAMPLER_DEFAULTS.items()}  # what the PNG used: unset = plain
    return (gr.Dropdown(choices=choices, value=value, visible=show_cls),
            gr.Slider(visible=show["truncation"], value=start["truncation"], info=info),  # what it does differs
            *(gr.Slider(visible=show[arg], value=start[arg]) for arg in SAMPLER_ARGS[1:]))


def _labels(choice: str | None, n: int, names: tuple[str, ...] | int):
    """Class indices for ``n`` samples from the picker's choice: a class name (or its index), each in turn, random;
    ``names``: the model's class names (a number of classes: digits)."""
    names = tuple(map(str, range(names))) if isinstance(names, int) else names
    if not names or choice in (None, "", RANDOM):
        return None
    if choice == EACH:
        return [i % len(names) for i in range(n)]
    if str(choice) in names:
        return [names.index(str(choice))] * n
    members = [i for i, cat in enumerate(style_categories(names) or ()) if cat == str(choice)]
    if members:  # a bare category of a by-style model: its styles in turn
        return [members[i % len(members)] for i in range(n)]
    try:
        label = int(choice)
    except ValueError:
        raise gr.Error(f"Unknown class {choice!r}: pick one of {', '.join(names)}.") from None
    if not 0 <= label < len(names):
        raise gr.Error(f"Class must be between 0 and {len(names) - 1}.")
    return [label] * n


# ---- sampling -----------------------------------------------------------------------------------------------
def draw(model: str, count, seed, class_choice, truncation, refine=0, keep=1.0,
         candidates=1) -> tuple[torch.Tensor, dict]:
    """The samples (n, C, H, W) in [0, 1] and the recipe that reproduces them."""
    name = common.require_model(model)
    n = common.whole_number(count, "Count", 1, MAX_COUNT)
    seed = common.to_seed(seed)
    steps = common.whole_number(refine, "Refinement steps", 0, MAX_REFINE)
    keep = common.number(1.0 if keep is None else keep, "Keep", MIN_KEEP, 1)
    candidates = common.whole_number(1 if candidates is None else candidates, "Candidates", 1, MAX_CANDIDATES)
    with common.user_errors():
        m = registry.load(name)
        takes = families.FAMILIES[m.family].sampler_settings()  # the settings its sampler takes
        kw = {}
        labels = _labels(class_choice, n, m.classes)
        if labels is not None:
            kw["labels"] = labels
        if truncation is not None and "truncation" in takes:
            kw["truncation"] = common.number(truncation, "Truncation", MIN_TRUNCATION, MAX_TRUNCATION)
        if keep < 1 and "keep" in takes:
            kw["keep"] = keep
        if steps and "refine_steps" in takes:
            kw["refine_steps"] = steps
        if candidates > 1 and "candidates" in takes:
            kw["candidates"] = candidates
        passes = sampling_passes(n, **{k: kw[k] for k in ("keep", "refine_steps", "candidates") if k in kw})
        if passes > MAX_PASSES:
            raise gr.Error(f"These settings cost about {passes:,} network passes; at most {MAX_PASSES:,} per press: "
                           "lower Count, Best of N or the refinement steps, or raise Keep.")
        x = m.sample(n, seed=seed, **kw)
    recipe = {"tab": "sample", "model": name, "n": n, "seed": seed, "class": class_choice or RANDOM,
              **{k: kw[k] for k in SAMPLER_ARGS if k in kw}}
    if getattr(m.config, "prior_components", 0):  # part of the model: recorded, not a setting
        recipe["prior_components"] = m.config.prior_components
    return x, recipe


_NOTES = {"prior_components": "latents from its fitted {}-Gaussian mixture".format,
          "truncation": "truncation {:g}".format, "keep": lambda v: f"kept the {100 * v:g} % least steep latents",
          "refine_steps": "refined {} steps toward the discriminator".format,
          "candidates": "each the best of {} by the discriminator".format}  # the grid's settings, in words


def sample(model, count, seed, class_choice, truncation, refine=0, keep=1.0, candidates=1):
    """-> (grid PNG, gallery of single samples, info markdown, recipe state)."""
    x, recipe = draw(model, count, seed, class_choice, truncation, refine, keep, candidates)
    grid_png = common.png_output(x, recipe, scale=3)
    scale = max(1, 112 // x.shape[-1])
    names = _caption_names(recipe)
    gallery = [(to_pil(xi, scale=scale, recipe={**recipe, "index": i}), f"#{i}{names[i]}") for i, xi in enumerate(x)]
    info = f"**Seed {recipe['seed']}** · {recipe['n']} samples from `{recipe['model']}`" + "".join(
        f" · {note(recipe[k])}" for k, note in _NOTES.items() if k in recipe)
    if recipe["class"] != RANDOM:
        info += f" · class: {recipe['class']}"
    if text2image.is_text_model(registry.load(recipe["model"])):
        info += " · without a prompt (unconditional): prompt it in the **Text → image** tab"
    return grid_png, gallery, info, recipe


def _caption_names(recipe: dict) -> list[str]:
    """Each sample's class name for the gallery captions (" · Flags"), for models whose classes are not digits."""
    names = registry.load(recipe["model"]).classes
    labels = _labels(recipe["class"], recipe["n"], names) if names and not names[0].isdigit() else None
    return [f" · {names[k]}" for k in labels] if labels else [""] * recipe["n"]


def enlarge(recipe: dict | None, index) -> object:
    """One sample of the last grid, enlarged (re-drawn from its recipe: same seed, same sample)."""
    if not recipe:
        raise gr.Error("Generate samples first, then click one to enlarge it.")
    i = int(index)
    if not 0 <= i < recipe["n"]:
        raise gr.Error(f"Sample index must be between 0 and {recipe['n'] - 1}.")
    x, _ = draw(recipe["model"], recipe["n"], recipe["seed"], recipe["class"], recipe.get("truncation"),
                recipe.get("refine_steps", 0), recipe.get("keep", 1.0), recipe.get("candidates", 1))
    return to_pil(x[i], scale=max(1, 280 // x.shape[-1]), recipe={**recipe, "index": i})


def on_select(recipe: dict | None, evt: gr.SelectData):
    return enlarge(recipe, evt.index)


# ---- prompt -> image ----------------------------------------------------------------------------------------
def from_prompt(model, text, count, seed):
    """-> (grid PNG with its recipe, markdown: what the prompt was understood as)."""
    name = common.require_model(model)
    n = common.whole_number(count, "Count", 1, MAX_COUNT)
    seed = common.to_seed(seed)
    with common.user_errors():
        classes = registry.load(name).classes
        if classes and classes != tuple(map(str, range(10))):  # "a thick 7" would silently mean class 7
            raise ValueError(f"Prompts describe digits; {name} draws other classes ({', '.join(classes[:3])}, …): "
                             "pick a digit model here, or use the class picker above.")
        x, p, notes = prompt.generate(name, text, n, seed)
    recipe = {"tab": "sample/prompt", "model": name, "prompt": text, "n": n, "seed": seed,
              "label": p.label, "moves": p.moves}
    md = f"**Seed {seed}** · `{name}` · understood: {p.describe()}"
    if notes:
        md += "\n\n" + "; ".join(notes) + "."
    return common.png_output(x, recipe, scale=3), md


# ---- layout -------------------------------------------------------------------------------------------------
def render() -> None:
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = common.model_dropdown("Model", capability="sample", elem_id="sample-model",
                                          prefer=("cgan-mnist", "dcgan-mnist"))
            count = gr.Slider(1, MAX_COUNT, value=16, step=1, label="Count", elem_id="sample-count")
            seed = common.seed_input(0, elem_id="sample-seed")
            choices, value, show_cls, show, start, trunc_info = _options(model.value)
            classes = gr.Dropdown(choices=choices, value=value, visible=show_cls,
                                  label="Class", elem_id="sample-class", allow_custom_value=True,  # checked in _labels
                                  info="for conditional models: one class (a digit, an emoji category), each in turn, or random")
            truncation = gr.Slider(MIN_TRUNCATION, MAX_TRUNCATION, value=start["truncation"], step=0.05,
                                   label="Truncation", elem_id="sample-truncation", visible=show["truncation"],
                                   info=trunc_info)
            keep = gr.Slider(MIN_KEEP, 1.0, value=start["keep"], step=0.05,
                             label="Keep the least steep latents (fraction)", elem_id="sample-keep", visible=show["keep"],
                             info="draws count/keep latents and drops those where the generator changes fastest — "
                                  "they fall between two digits (Jacobian truncation): lower = fewer ambiguous "
                                  "digits, less variety; starts at the model card's recommended setting "
                                  "(bench/jacobian.py)")
            refine = gr.Slider(0, MAX_REFINE, value=start["refine_steps"], step=1,
                               label="Refine with the discriminator (steps)",
                               elem_id="sample-refine", visible=show["refine_steps"],
                               info="moves each latent toward what D finds real (DDLS energy): more recognisable "
                                    "digits, less variety; about 10 steps give most of the gain (bench/refine.py)")
            candidates = gr.Slider(1, MAX_CANDIDATES, value=start["candidates"], step=1, visible=show["candidates"],
                                   label="Best of N by the discriminator", elem_id="sample-candidates",
                                   info="draws N images per sample and keeps the one D finds most real: a "
                                        "conditional model's follow their class more closely, an unconditional "
                                        "one's drift to the classes D prefers; N times the work (bench/candidates.py)")
            go = gr.Button("Generate", variant="primary", elem_id="sample-btn")
        with gr.Column(scale=2):
            info = gr.Markdown(elem_id="sample-info")
            grid_img = common.image_output("Grid (PNG with its recipe)", elem_id="sample-grid")
            gallery = gr.Gallery(label="Samples — click one to enlarge", columns=8, height="auto", format="png",
                                 object_fit="contain", elem_id="sample-gallery", allow_preview=False)
            zoom = common.image_output("Enlarged sample", elem_id="sample-zoom", height=300)
    recipe = gr.State(None)
    model.change(model_options, [model, recipe], [classes, truncation, keep, refine, candidates],
                 api_visibility="private", queue=False)
    go.click(sample, [model, count, seed, classes, truncation, refine, keep, candidates],
             [grid_img, gallery, info, recipe], api_name="sample", concurrency_limit=2)
    # the default grid on open; it reads the components' start values (the dropdown opens on the preferred model
    # and its own load refresh keeps that value), so it cannot race with the refresh
    common.on_load(sample, [model, count, seed, classes, truncation, refine, keep, candidates],
                   [grid_img, gallery, info, recipe])
    gallery.select(on_select, recipe, zoom, api_visibility="private")
    with gr.Accordion("Prompt → image", open=False, elem_id="prompt-section") as prompt_section:
        gr.Markdown("Describe a digit in a few words — *a thick 7 leaning right*, *very thin zero*, *wide short 2*. "
                    "The digit picks the class; thick / thin, slanted (right) / left, wide / narrow, tall / short, "
                    "dark / faint move the latent along the model's own direction for that attribute (the Explore "
                    "tab's); *very* and *slightly* scale the move. Words it does not know are listed, not guessed.")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                pmodel = common.model_dropdown("Conditional model", capability="sample", conditional=True,
                                               elem_id="prompt-model", prefer=("cgan-mnist", "cvae-mnist"))
                ptext = gr.Textbox(value="a thick 7 leaning right", label="Prompt", elem_id="prompt-text")
                pcount = gr.Slider(1, MAX_COUNT, value=8, step=1, label="Count", elem_id="prompt-count")
                pseed = common.seed_input(0, elem_id="prompt-seed")
                pgo = gr.Button("Draw it", elem_id="prompt-btn")
            with gr.Column(scale=2):
                pinfo = gr.Markdown(elem_id="prompt-info")
                pimg = common.image_output("Prompted samples (PNG with its recipe)", elem_id="prompt-grid")
    pgo.click(from_prompt, [pmodel, ptext, pcount, pseed], [pimg, pinfo], api_name="prompt", concurrency_limit=2)
    ptext.submit(from_prompt, [pmodel, ptext, pcount, pseed], [pimg, pinfo], api_visibility="private",
                 concurrency_limit=2)
    with gr.Accordion("Detection: real or generated?", open=False, elem_id="detect-section") as detect_section:
        gr.Markdown("Upload an image; a GAN's discriminator scores it (sigmoid of D), shown beside the scores of "
                    "real test digits and of the model's own samples.")
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                dmodel = common.model_dropdown("Discriminator of", capability="discriminate", elem_id="detect-model",
                                               prefer=("dcgan-mnist",))
                upload = gr.Image(type="filepath", label="Image to score", sources=["upload", "clipboard"],
                                  elem_id="detect-upload", height=220)
                dgo = gr.Button("Score it", elem_id="detect-btn")
                dex = gr.Examples([[examples.path(f)] for f in examples.UPLOADS], [upload], **examples.KW,
                                  elem_id="detect-examples")
            with gr.Column(scale=2):
                dmd = gr.Markdown(elem_id="detect-result")
                with gr.Row():
                    dprev = common.image_output("What the discriminator sees", elem_id="detect-input", height=200)
                    dplot = common.image_output("Score distribution", elem_id="detect-plot")
    dgo.click(detect, [dmodel, upload], [dprev, dplot, dmd], api_name="detect", concurrency_limit=2)
    # not cached: the score depends on the visitor's pick of discriminator
    dex.load_input_event.then(detect, [dmodel, upload], [dprev, dplot, dmd], api_visibility="private",
                              concurrency_limit=2)
    return common.named(locals())
