"""Text → image tab: a prompt → a seeded grid from a text model (the ``dalle`` family: a VQ-VAE tokenizer and a
transformer over caption words and image codes), with temperature, top-k, classifier-free guidance and re-ranked
candidates; the words the model never saw are listed. Every PNG carries the recipe that restores this tab."""
from __future__ import annotations

import functools
import uuid

import gradio as gr

from .. import registry, text2image
from ..convert import to_pil
from . import common

TITLE = "Text → image"
ID = "text2image"

MAX_N = 32  # images per press
MAX_PROMPT = 200  # characters (the model reads at most text_len - 1 words anyway)
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 2.0
MAX_TOP_K = 512  # the shipped codebook's size; 0 = off
MAX_GUIDANCE = 10.0
MAX_CANDIDATES = 8
MAX_DRAWS = 128  # images x candidates per press; at the shipped size 64 draws took 2.6 s on 2 busy CPU threads
EXAMPLES = ("a red heart", "cat face, twemoji style", "thumbs up: dark skin tone", "grinning face", "blue car")
CAPABILITY = "tokenize_prompt"  # what a model's net needs to be listed here (imggen.text2image.is_text_model)
PREFER = ("dalle-emoji32",)


def check_prompt(prompt) -> str:
    """The prompt as text (surrounding spaces dropped), else a gr.Error (not text, too long)."""
    if prompt is None:
        return ""
    if not isinstance(prompt, str):
        raise gr.Error(f"The prompt must be text, not {type(prompt).__name__}.")
    if len(prompt) > MAX_PROMPT:
        raise gr.Error(f"The prompt is {len(prompt)} characters long; at most {MAX_PROMPT} (a few words work best: "
                       "an emoji's name, its category, a style such as noto or twemoji, a skin tone).")
    return prompt.strip()


def settings(n, seed, temperature, top_k, guidance, candidates, expand=True) -> tuple[int, int, dict]:
    """(n, seed, sampler options) from the tab's inputs, each in its range, else a gr.Error naming it."""
    n = common.whole_number(n, "Images", 1, MAX_N)
    seed = common.to_seed(seed)
    options = dict(temperature=common.number(temperature, "Temperature", MIN_TEMPERATURE, MAX_TEMPERATURE),
                   top_k=common.whole_number(top_k, "Top-k", 0, MAX_TOP_K),
                   guidance=common.number(guidance, "Guidance scale", 0, MAX_GUIDANCE),
                   candidates=common.whole_number(candidates, "Candidates", 1, MAX_CANDIDATES),
                   expand=bool(expand))
    if n * options["candidates"] > MAX_DRAWS:
        raise gr.Error(f"{n} images × {options['candidates']} candidates = {n * options['candidates']} draws; at most "
                       f"{MAX_DRAWS} per press (fewer images or fewer candidates).")
    return n, seed, options


def describe(name: str, prompt: str, recipe: dict, unknown: list[str], read_as: str = "") -> str:
    """The info line: seed, model, the prompt (and what it was read as), the settings and the unknown words."""
    o = recipe
    md = (f"**Seed {o['seed']}** · {o['n']} images from `{name}` for "
          + (f"“{prompt}”" if prompt else "no prompt (unconditional samples)")
          + (f", read as “{read_as}”" if read_as and read_as != prompt else "")
          + f" · temperature {o['temperature']:g} · top-k {o['top_k'] or 'off'} · guidance {o['guidance']:g}"
          + (f" · best of {o['candidates']} candidates each" if o["candidates"] > 1 else ""))
    if unknown:
        md += ("\n\n**Unknown words** (never in its captions, read as “unknown”): " + ", ".join(unknown)
               + ". It knows emoji names, categories, subcategories, styles (noto, twemoji) and skin tones.")
    return md


def generate(model, prompt, n, seed, temperature, top_k, guidance, candidates, expand=True):
    """-> (grid PNG with its recipe, gallery of single images with theirs, info markdown)."""
    name = common.require_model(model)
    text = check_prompt(prompt)
    n, seed, options = settings(n, seed, temperature, top_k, guidance, candidates, expand)
    with common.user_errors():
        gen = text2image.generate(registry.load(name), text, n, seed, **options)
    recipe = {"tab": ID, **gen.recipe}
    grid_png = common.png_output(gen.images, recipe, scale=3, nrow=min(n, 8))
    scale = max(1, 96 // gen.images.shape[-1])
    gallery = [(to_pil(x, scale=scale, recipe={**recipe, "index": i}), f"#{i}") for i, x in enumerate(gen.images)]
    return grid_png, gallery, describe(name, text, recipe, gen.unknown, gen.read_as)


@functools.lru_cache(maxsize=4)
def _opening(key: tuple, *args) -> tuple:
    return generate(*args)


def opened(*args):
    """The page-open view: the start prompt on the tab's model, computed once per checkpoint version (the same for
    every visitor); each response gets fresh PNG bytes (a new request id). Nothing while no text model exists."""
    if not args[0] or args[0] not in registry.model_paths():
        return gr.skip(), gr.skip(), gr.skip()
    grid_png, gallery, info = _opening(registry.file_key(registry.resolve(args[0])), *args)
    return _fresh(grid_png), [(_fresh(im), caption) for im, caption in gallery], info


def _fresh(im):
    out = im.copy()
    out.info = {**im.info, "request": uuid.uuid4().hex}
    return out


def render() -> dict:
    gr.Markdown("Describe an emoji in a few words and a text → image model draws it: a small DALL-E, a discrete "
                "image tokenizer (8×8 codes) and a transformer that reads your words, then writes the codes one by "
                "one. **Guidance** > 1 follows the words more closely (less variety); **candidates** draws several "
                "images per output and keeps the one your words explain best. Words it never saw are listed.")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            model = common.model_dropdown("Text → image model", capability=CAPABILITY, elem_id="t2i-model",
                                          prefer=PREFER)
            prompt = gr.Textbox(value=EXAMPLES[0], label="Prompt", elem_id="t2i-prompt", max_length=MAX_PROMPT,
                                placeholder="a red heart")
            gr.Examples([[p] for p in EXAMPLES], [prompt], cache_examples=False, api_visibility="private",
                        elem_id="t2i-examples")
            expand = gr.Checkbox(value=True, label="Fill in category and subcategory", elem_id="t2i-expand",
                                 info="the model learned from captions like “dog face, animals & nature, "
                                      "animal-mammal, noto”: a short prompt gets the fields it most likely has")
            n = gr.Slider(1, MAX_N, value=16, step=1, label="Images", elem_id="t2i-n")
            seed = common.seed_input(0, elem_id="t2i-seed")
            with gr.Accordion("Sampling", open=False):
                temperature = gr.Slider(MIN_TEMPERATURE, MAX_TEMPERATURE, value=1.0, step=0.05, label="Temperature",
                                        elem_id="t2i-temperature", info="divides the logits: lower = safer codes")
                top_k = gr.Slider(0, MAX_TOP_K, value=0, step=1, label="Top-k (0 = off)", elem_id="t2i-top-k",
                                  info="draw each code among the k likeliest only")
                guidance = gr.Slider(0, MAX_GUIDANCE, value=3.0, step=0.25, label="Guidance scale",
                                     elem_id="t2i-guidance",
                                     info="classifier-free guidance: 0 ignores the prompt, 1 = plain conditional")
                candidates = gr.Slider(1, MAX_CANDIDATES, value=1, step=1, label="Candidates per image",
                                       elem_id="t2i-candidates",
                                       info=f"keep the draw that best matches the prompt, by the model's caption-image "
                                            f"score (images × candidates ≤ {MAX_DRAWS})")
            go = gr.Button("Draw it", variant="primary", elem_id="t2i-btn")
        with gr.Column(scale=2):
            info = gr.Markdown(elem_id="t2i-info")
            grid_img = common.image_output("Grid (PNG with its recipe)", elem_id="t2i-grid")
            gallery = gr.Gallery(label="Images (each PNG with its recipe)", columns=8, height="auto", format="png",
                                 object_fit="contain", elem_id="t2i-gallery", allow_preview=True)
    inputs = [model, prompt, n, seed, temperature, top_k, guidance, candidates, expand]
    go.click(generate, inputs, [grid_img, gallery, info], api_name="text2image", concurrency_limit=2,
             concurrency_id="text2image")
    prompt.submit(generate, inputs, [grid_img, gallery, info], api_visibility="private", concurrency_limit=2,
                  concurrency_id="text2image")
    common.on_load(opened, inputs, [grid_img, gallery, info])  # start values: the dropdown opens on its model
    return common.named(locals())
