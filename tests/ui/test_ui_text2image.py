"""Text → image in the app (issue 28): a tiny text model trained in seconds by the real loop on emoji captions,
registered, then the Text → image tab (PNGs with recipes, unknown words, bounds, restore), the Complete tab's token
in-painting, the Train tab's family/data wiring and prompt grid, and the tabs that cannot use a text model."""
from __future__ import annotations

import io

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from imggen import registry
from imggen.convert import png_bytes, read_recipe
from imggen.ui import arena, common, restore, sample
from imggen.ui import complete as complete_tab
from imggen.ui import text2image as t2i
from imggen.ui import train_tab as tt

from tiny_text import train_tiny_text

NAME = "test-t2i"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    train_tiny_text(tmp_path_factory.mktemp("t2i"), NAME)
    return NAME


def args(name, prompt="a red heart", n=4, seed=3, temperature=1.0, top_k=0, guidance=3.0, candidates=1,
         expand=True):
    return [name, prompt, n, seed, temperature, top_k, guidance, candidates, expand]


def test_tab_returns_pngs_with_recipes_and_lists_unknown_words(tiny):
    assert tiny in common.model_choices(capability=t2i.CAPABILITY)
    grid_png, gallery, info = t2i.generate(*args(tiny, "a zorblax heart, twemoji style", candidates=2, top_k=5))
    want = {"tab": "text2image", "model": tiny, "prompt": "a zorblax heart, twemoji style", "seed": 3, "n": 4,
            "temperature": 1.0, "top_k": 5, "guidance": 3.0, "candidates": 2, "expand": True}
    assert read_recipe(Image.open(io.BytesIO(png_bytes(grid_png)))) == want
    assert len(gallery) == 4 and all(read_recipe(im) == {**want, "index": i} for i, (im, _) in enumerate(gallery))
    assert "**Unknown words**" in info and "zorblax, style" in info  # never in the captions
    assert "heart" not in info.split("**Unknown words**")[1]
    again = t2i.generate(*args(tiny, "a zorblax heart, twemoji style", candidates=2, top_k=5))[0]
    assert np.array_equal(np.asarray(again), np.asarray(grid_png))  # the seed reproduces the grid
    other = t2i.generate(*args(tiny, "a zorblax heart, twemoji style", seed=4, candidates=2, top_k=5))[0]
    assert not np.array_equal(np.asarray(other), np.asarray(grid_png))
    _, _, plain = t2i.generate(*args(tiny, "", n=2))
    assert "no prompt (unconditional samples)" in plain and "Unknown" not in plain and "read as “" not in plain
    # prompt expansion (fitted while the tiny model trained on captioned emoji): the info line says what was read
    read = registry.load(tiny).net.expand_prompt("a zorblax heart, twemoji style")
    assert read.startswith("a zorblax heart, ") and read.endswith(", twemoji style") and f"read as “{read}”" in info
    typed_png, _, typed = t2i.generate(*args(tiny, "a zorblax heart, twemoji style", candidates=2, top_k=5,
                                             expand=False))
    assert "read as “a zorblax" not in typed and read_recipe(typed_png)["expand"] is False


def test_the_tab_opens_with_a_grid_computed_once(tiny):
    first = t2i.opened(*args(tiny, "a red heart"))
    again = t2i.opened(*args(tiny, "a red heart"))
    assert np.array_equal(np.asarray(first[0]), np.asarray(again[0])) and first[2] == again[2]
    assert first[0].info["request"] != again[0].info["request"]  # fresh bytes per response, same pixels
    assert read_recipe(first[1][0][0])["index"] == 0
    assert t2i.opened(*args(None)) == (gr.skip(),) * 3  # no text model yet: the tab opens empty, no error


@pytest.mark.parametrize("over, match", [
    (dict(prompt="heart " * 40), "at most 200"), (dict(prompt=5), "must be text"), (dict(n=0), "Images"),
    (dict(n=t2i.MAX_N + 1), "Images"), (dict(temperature=0), "Temperature"), (dict(temperature=9), "Temperature"),
    (dict(top_k=-1), "Top-k"), (dict(top_k=t2i.MAX_TOP_K + 1), "Top-k"), (dict(guidance=float("nan")), "Guidance"),
    (dict(guidance=11), "Guidance"), (dict(candidates=0), "Candidates"), (dict(n=32, candidates=5), "at most 128"),
    (dict(seed=-1), "Seed"), (dict(name=None), "No model selected"), (dict(name="nope"), "unknown model"),
])
def test_every_input_is_bounded(tiny, over, match):
    kw = dict(name=tiny)
    kw.update(over)
    with pytest.raises(gr.Error, match=match):
        t2i.generate(*args(**kw))


def test_a_model_without_prompts_is_refused_and_not_listed(tiny):
    assert "vae-mnist" not in common.model_choices(capability=t2i.CAPABILITY)
    with pytest.raises(gr.Error, match="text -> image model"):
        t2i.generate(*args("vae-mnist"))


def test_restore_round_trip(tiny, tmp_path):
    from imggen.ui import build_app

    tabs = build_app().imggen_io
    grid_png, gallery, _ = t2i.generate(*args(tiny, "a grinning face", n=3, seed=7, guidance=2.0, candidates=2))
    for i, im in ((None, grid_png), (1, gallery[1][0])):
        path = tmp_path / f"t2i-{i}.png"
        path.write_bytes(png_bytes(im))
        ups, tab, status = restore.restore(tabs, path)
        assert tab == t2i.ID and "identical pixels" in status, status
        by_name = {k: ups[c] for k, c in tabs[t2i.ID].items() if c in ups}
        assert by_name["prompt"] == "a grinning face" and by_name["seed"] == 7 and by_name["guidance"] == 2.0
        assert by_name["candidates"] == 2 and by_name["n"] == 3 and by_name["model"] == tiny
        assert by_name["expand"] is True


def test_complete_tab_in_paints_tokens_with_a_prompt(tiny, tmp_path):
    from imggen.ui import build_app

    assert tiny in common.model_choices(capability="decode|complete") and complete_tab._text_model(tiny)
    assert not complete_tab._text_model("vae-mnist")
    masked, outs, md = complete_tab.complete(tiny, "Model sample", None, None, 0, None, "bottom", 0, "auto", 2, 5,
                                             "a red heart")
    rec = read_recipe(outs)
    assert rec["method"] == "tokens" and rec["prompt"] == "a red heart" and "**Method:** tokens" in md
    assert outs.size[0] > 1.8 * outs.size[1]  # two completions side by side
    top = np.asarray(masked)[: 4 * 16]  # the known top half is kept in the masked input
    assert top.std() > 0
    with pytest.raises(gr.Error, match="at most 200"):
        complete_tab.complete(tiny, "Model sample", None, None, 0, None, "bottom", 0, "auto", 2, 5, "x" * 201)
    with pytest.raises(gr.Error, match="'gpt' method needs"):
        complete_tab.complete(tiny, "Model sample", None, None, 0, None, "bottom", 0, "gpt", 2, 5, "")
    path = tmp_path / "complete.png"
    path.write_bytes(png_bytes(outs))
    tabs = build_app().imggen_io
    ups, tab, status = restore.restore(tabs, path)
    assert tab == complete_tab.ID and "identical pixels" in status, status
    prompt_box = ups[tabs[complete_tab.ID]["prompt"]]
    assert prompt_box.value == "a red heart" and prompt_box.visible


def test_tabs_that_cannot_use_a_text_model_do_not_list_it_and_the_others_work(tiny):
    assert tiny not in common.model_choices(capability="decode")  # Explore, Interpolate
    assert tiny not in common.model_choices(capability="sample", conditional=True)  # Sample's digit prompt box
    grid_png, gallery, info, recipe = sample.sample(tiny, 4, 0, sample.RANDOM, None)  # unconditional samples
    assert len(gallery) == 4 and recipe["model"] == tiny and "Text → image" in info  # where its prompts go
    *_, (tiles, table, _) = arena.run_arena([tiny], 2, 0)
    assert len(tiles) == 1


def test_train_tab_picks_captioned_data_and_refuses_mnist():
    label = next(k for k, v in tt.family_labels().items() if v == "dalle")
    assert tt.family_data(label) == (next(iter(tt.DATA_EMOJI)), 32, "RGB")
    assert all(x is not None and not isinstance(x, str) for x in tt.family_data("VAE"))  # others: left alone
    from train_settings import settings

    with pytest.raises(gr.Error, match="learns from captions"):
        next(tt.start_training(**settings(family=label)))


def test_train_grid_shows_reconstructions_then_the_fixed_prompts(tmp_path):
    """The loop's grid for a text model: the tokenizer's reconstructions of fixed images while it trains, then
    samples for the names of those images, one prompt per column."""
    from imggen.training.trainers import DalleTrainer

    events = train_tiny_text(tmp_path, "test-t2i-grid", steps=4, sample_every=1, num_grid=16)
    grids = [e.samples for e in events if e.samples is not None]
    assert len(grids) >= 3 and all(g.shape[0] == 3 for g in grids)
    assert not torch.equal(grids[0], grids[-1])
    from imggen.data import load_data

    data = load_data("emoji32", limit=64)
    m = registry.load("test-t2i-grid").net
    tr = DalleTrainer(m, type("C", (), dict(seed=0, lr=1e-3, max_steps=4, epochs=1, batch_size=16))(), None)
    tr.bind_data(data)
    assert tr.grid_prompts == [c.split(",")[0].strip() for c in data.captions[:8]]  # 64 images: the first 8
    assert tr.grid_samples(16, torch.Generator().manual_seed(0)).shape == (16, 3, 32, 32)


def test_text2image_through_the_running_app(tiny, client):
    from gradio_client.exceptions import AppError

    grid_path, gallery, info = client.predict(tiny, "a zorblax heart", 2, 1, 1.0, 0, 3.0, 1, api_name="/text2image")
    assert read_recipe(Image.open(grid_path))["prompt"] == "a zorblax heart" and len(gallery) == 2
    assert "zorblax" in info
    with pytest.raises(AppError, match="at most 200"):
        client.predict(tiny, "y" * 201, 2, 1, 1.0, 0, 3.0, 1, api_name="/text2image")


@pytest.mark.slow  # ~15 s: a worker process trains it
def test_a_tiny_dalle_trains_from_the_tab_on_emoji(monkeypatch, tmp_path):
    """Start in the Train tab with the dalle family on emoji32: the job streams grids and registers the model, which
    the Text → image tab then prompts."""
    import imggen
    from train_settings import settings

    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path)
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 16)
    label = next(k for k, v in tt.family_labels().items() if v == "dalle")
    tt.arm()
    outs = list(tt.start_training(**settings(family=label, data_source=next(iter(tt.DATA_EMOJI)), image_size=32,
                                             color="RGB", max_images=16, epochs=2, batch_size=8, width=16,
                                             lr=1e-3, name="tiny-tab-t2i")))
    assert "finished" in outs[-1][1], outs[-1][1]
    grids = [o[0] for o in outs if isinstance(o[0], Image.Image)]
    assert grids and grids[-1].size[0] > 32  # the fixed grid streamed
    card = imggen.list_models()["tiny-tab-t2i"]
    assert card["family"] == "dalle" and card["config"]["vocab"]  # a vocabulary built from the captions
    grid_png, _, info = t2i.generate(*args("tiny-tab-t2i", "a red heart", n=2))
    assert read_recipe(grid_png)["model"] == "tiny-tab-t2i"
