"""Every tab alive on open: the shipped example uploads read right, the page-open handlers return content, each
example drives its tab's function, and the Train tab's preview is the run it describes."""
import json
from pathlib import Path

import pytest
from PIL import Image

from imggen.ui import examples

ASSETS = Path(__file__).resolve().parents[2] / "assets"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _noop(*a, **k):
    return None


# ---- the example files ----------------------------------------------------------------------------------------
def test_every_example_file_is_listed_small_and_decodes():
    shipped = sorted(p.name for p in examples.DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert shipped == sorted(examples.LABELS), "assets/examples/ and imggen.ui.examples.LABELS differ"
    assert {f for pair in examples.PAIRS for f in pair} <= set(examples.LABELS)
    kinds = {name.split("-")[0] for name in shipped}
    assert kinds == {"photo", "scan", "drawing"}
    for name in shipped:
        p = examples.DIR / name
        assert p.stat().st_size < 20_000, f"{name}: {p.stat().st_size} bytes (keep examples a few KB)"
        with Image.open(p) as im:
            im.load()
            assert min(im.size) >= 100 and im.format == ("JPEG" if name.endswith(".jpg") else "PNG")
    assert "licen" in (examples.DIR / "README.md").read_text().lower()


@pytest.mark.parametrize("name", sorted(examples.LABELS))
def test_example_goes_through_the_pipeline_and_is_read_right(name):
    from imggen.metrics import classify
    from imggen.preprocess import prepare_digit

    x = prepare_digit(examples.path(name))
    assert x.shape == (1, 28, 28) and -1 <= x.min() and x.max() <= 1
    probs = classify(x[None])[1][0]
    assert int(probs.argmax()) == examples.digit(name), f"{name} reads as {int(probs.argmax())}"
    assert probs.max() > 0.8


# ---- page open ---------------------------------------------------------------------------------------------------
def _on_load(app_module, fn):
    """The start values the browser sends for ``fn``'s page-open event, and its outputs (as build_app wires them)."""
    from imggen.ui import common

    del app_module  # builds the app: common._ON_LOAD holds its page-open events
    wired = [(f, i, o) for f, i, o in common._ON_LOAD if f is fn]
    assert len(wired) == 1, f"{fn.__name__} is wired {len(wired)} times on page load"
    _, inputs, outputs = wired[0]
    return [c.value for c in inputs], outputs


def test_sample_tab_shows_the_default_grid_on_open(app_module):
    from imggen.ui import sample

    values, outputs = _on_load(app_module, sample.sample)
    assert values[0] == "cgan-mnist"  # the dropdown's preferred shipped model, as its own refresh keeps it
    grid, gallery, info, recipe = sample.sample(*values)
    assert len(outputs) == 4 and grid.size[0] > 50 and len(gallery) == values[1]
    assert "samples from `cgan-mnist`" in info and recipe["model"] == "cgan-mnist"


def test_complete_tab_shows_a_masked_example_and_completions_on_open(app_module):
    from imggen.ui import complete

    values, outputs = _on_load(app_module, complete.opened)
    assert len(outputs) == 4 and values[1] == "Model sample" and values[0] == "vae-mnist"
    editor, masked, outs, info = complete.opened(*values)
    assert editor["background"].shape[:2] == (complete.CANVAS, complete.CANVAS) and editor["background"].max() > 0
    assert masked.size == (28 * 8, 28 * 8) and outs.size[0] > 28 * 4
    assert "classifier reads" in info and f"completion {values[8]}" in info
    again = complete.opened(*values)  # remembered: the same images, but distinct bytes per visitor
    assert again[1].tobytes() == masked.tobytes()
    assert again[1].info["request"] != masked.info["request"] and again[1].info["imggen"] == masked.info["imggen"]


def test_train_tab_preview_is_the_default_run(app_module):
    from imggen.train import steps_per_epoch
    from imggen.ui import train_tab as tt

    gif, caption = tt._preview()
    assert gif and Path(gif).stat().st_size < 1_000_000
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames >= 4
    facts = json.loads((ASSETS / "train-preview.json").read_text())
    v = tt.preset_values("DCGAN", tt.QUICK)
    assert (facts["family"], facts["preset"], facts["data"]) == ("DCGAN", tt.QUICK, "mnist5k")
    assert (facts["epochs"], facts["batch_size"], facts["images"]) == (v["epochs"], v["batch_size"], v["max_images"])
    assert facts["steps"] == v["epochs"] * steps_per_epoch("dcgan", v["batch_size"], v["max_images"])
    assert f"{facts['steps']} steps" in caption and "mnist5k" in caption


# ---- one click on an example runs the tab ---------------------------------------------------------------------
def test_detection_examples_are_scored():
    from imggen.ui import sample

    for name in ("photo-3-ruled.jpg", "drawing-2.png"):
        preview, plot, md = sample.detect("dcgan-mnist", examples.path(name))
        assert md.startswith("**Score ") and preview.size == (112, 112) and plot.size[0] > 100


def test_complete_example_shows_and_completes_the_upload():
    from imggen.ui import complete

    name = "photo-7-shadow.jpg"
    editor, masked, outs, info = complete.show_and_complete("vae-mnist", "Upload", None, examples.path(name), 0,
                                                            "bottom", 0, "auto", 2, 0, progress=_noop)
    assert editor["background"].max() > 0 and masked.size[0] > 0 and outs.size[0] > 0
    assert f"| input (before masking) | {examples.digit(name)} (" in info


def test_reconstruct_example_is_reconstructed_and_scored():
    from imggen.ui import reconstruct

    name = "scan-8.png"
    pre, strip, md, pct = reconstruct.reconstruct("Upload", None, examples.path(name), ["vae-mnist"], "vae-mnist")
    assert pre.size == (28 * 8, 28 * 8) and strip.size[0] > pre.size[0] // 4 and 0 <= pct <= 100
    assert "| vae-mnist |" in md


def test_interpolate_example_pairs_walk_between_the_uploads():
    from imggen import registry
    from imggen.ui import interpolate

    model = registry.load("vae-mnist")
    for a, b in examples.PAIRS:
        xa = interpolate.endpoint(model, "Upload", 0, examples.path(a), None)
        assert xa.shape == (1, 28, 28) and 0 <= xa.min() and xa.max() <= 1
    a, b = examples.PAIRS[0]
    strip, gif, mp4, mmap, info = interpolate.walk("vae-mnist", "Upload", 0, examples.path(a), None, "Upload", 1,
                                                   examples.path(b), None, "slerp", 4, 8, progress=_noop)
    assert strip.size[0] > 0 and Path(gif).exists() and info.startswith("4 frames")


def test_every_upload_tab_offers_the_examples(app_module):
    """Each upload input has a gr.Examples of the shipped files; where the tab has a source radio the example
    sets it to Upload."""
    import gradio as gr

    demo = app_module.demo
    datasets = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Dataset) and b.elem_id}
    for elem_id, n, upload_source in (("detect-examples", len(examples.UPLOADS), False),
                                      ("cmp-examples", len(examples.UPLOADS), True),
                                      ("rec-examples", len(examples.UPLOADS), True),
                                      ("int-examples", len(examples.PAIRS), True)):
        assert elem_id in datasets, f"no examples #{elem_id}"
        rows = datasets[elem_id].samples
        assert len(rows) == n
        if upload_source:
            assert all("Upload" in row for row in rows), rows
