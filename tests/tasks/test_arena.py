"""Arena: the core (same seed → same pixels, classes cycling, card metrics), the tab's callbacks (bounds, PNG recipes,
"open in" Sample/Explore) and the /arena endpoint through gradio_client."""
from dataclasses import asdict

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from imggen import arena, checkpoint, registry
from imggen.convert import read_recipe
from imggen.ui import arena as tab
from imggen.ui import common
from imggen.ui import sample as sample_tab

COND, UNCOND = "cgan-mnist", "vae-mnist"  # shipped, fast to sample


def _px(im) -> np.ndarray:
    return np.asarray((Image.open(im) if isinstance(im, str) else im).convert("L"))


# ---- core ---------------------------------------------------------------------------------------------------
def test_same_seed_same_images_and_classes_cycle():
    a, b, c = (arena.sample_model(COND, 12, s) for s in (3, 3, 4))
    assert a.images.shape == (12, 1, 28, 28) and 0 <= a.images.min() and a.images.max() <= 1
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.labels == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and a.family == "cgan" and a.seconds > 0
    u = arena.sample_model(UNCOND, 4, 3)
    assert u.labels is None and u.recipe(4, 3)["class"] == sample_tab.RANDOM
    assert a.recipe(12, 3) == {"tab": "arena", "model": COND, "n": 12, "seed": 3, "class": sample_tab.EACH,
                               "truncation": 1.0}
    x = registry.load(COND).sample(12, seed=3, labels=a.labels)  # what the Sample tab draws for this recipe
    assert torch.equal(x, a.images)


def test_headline_shows_what_the_card_has():
    card = registry.list_models()[COND]["metrics"]
    h = arena.headline(card)
    assert h["FD ↓"] == f"{card['fd']:.2f}" and "label accuracy ↑" in h
    assert "NLL nats/image, exact ↓" not in h  # cgan has no likelihood
    assert "NLL nats/image, IWAE bound ↓" in arena.headline(registry.list_models()[UNCOND]["metrics"])
    assert arena.headline({"fd": "n/a", "coverage": True}) == {} and arena.headline(None) == {}


def test_run_keeps_going_past_a_bad_model_and_checks_bounds():
    out = list(arena.run([UNCOND, "no-such-model", UNCOND], 2, 0))
    assert [e.name for e in out] == [UNCOND, "no-such-model"]  # duplicates dropped
    assert out[0].images is not None and out[1].error and "unknown model" in out[1].error
    for n, seed in ((0, 0), (arena.MAX_COUNT + 1, 0), (1, -1)):
        with pytest.raises(ValueError):
            list(arena.run([UNCOND], n, seed))


def test_default_pick_is_every_shipped_generator():
    choices = common.model_choices(capability="sample")
    shipped = {p.stem for p in registry.CHECKPOINT_DIR.glob("*.safetensors")} - {"classifier-mnist"}
    assert set(arena.default_pick(choices)) == shipped
    assert arena.default_pick(choices + ["someone-elses"]) == arena.default_pick(choices)


# ---- callbacks ----------------------------------------------------------------------------------------------
def test_run_arena_streams_pngs_with_recipes_and_a_metrics_table():
    steps = list(tab.run_arena([COND, UNCOND], 6, 9))
    assert len(steps) == 2  # one update per model
    gallery, table, info = steps[-1]
    assert [c.split(" · ")[0] for _, c in gallery] == [COND, UNCOND]
    assert f"Conditional models (`{COND}`)" in info and "Seed 9" in info and "6 images per model" in info
    assert read_recipe(gallery[0][0]) == {"tab": "arena", "model": COND, "n": 6, "seed": 9,
                                          "class": sample_tab.EACH, "truncation": 1.0}
    assert list(table["model"]) == [COND, UNCOND] and (table["sampling s"] > 0).all()
    assert "label accuracy ↑" in table.columns and table.loc[1, "label accuracy ↑"] == "—"
    dd = tab.open_choices([COND, UNCOND], UNCOND)
    assert [c[0] for c in dd.choices] == [COND, UNCOND] and dd.value == UNCOND
    assert tab.open_choices([COND], UNCOND).value == COND and tab.open_choices([], COND).value is None
    again = list(tab.run_arena([COND, UNCOND], 6, 9))[-1][0]
    assert all(np.array_equal(_px(a), _px(b)) for (a, _), (b, _) in zip(gallery, again))


def test_a_visitors_own_model_is_theirs_alone(tmp_path):
    torch.manual_seed(0)
    net = registry.build("dcgan", latent_dim=8, g_width=8, d_width=8)
    path = checkpoint.save(net, tmp_path / "mine.safetensors", family="dcgan", config=asdict(net.config))
    with registry.acting_as("arena-visitor-a"):
        registry.register("my-arena-gan", path)
        try:
            gallery, table, *_ = list(tab.run_arena(["my-arena-gan", UNCOND], 3, 1))[-1]
            assert list(table["model"]) == ["my-arena-gan", UNCOND]
            assert "my-arena-gan" not in arena.default_pick(common.model_choices(capability="sample"))
        finally:
            with registry.acting_as("arena-visitor-b"), pytest.raises(gr.Error, match="unknown model"):
                list(tab.run_arena(["my-arena-gan"], 3, 1))
            registry.unregister("my-arena-gan")


def test_bounded_inputs_give_clear_errors():
    with pytest.raises(gr.Error, match="No model picked"):
        list(tab.run_arena([], 4, 0))
    with pytest.raises(gr.Error, match="Count must be between 1 and 16"):
        list(tab.run_arena([UNCOND], arena.MAX_COUNT + 1, 0))
    with pytest.raises(gr.Error, match="unknown model"):
        list(tab.run_arena(["/etc/passwd"], 4, 0))  # names only, never a path
    with pytest.raises(gr.Error, match="unknown model"):
        list(tab.run_arena(["classifier-mnist"], 4, 0))  # not a generator
    too_many = [f"m{i}" for i in range(len(common.model_choices(capability="sample")) + 1)]
    with pytest.raises(gr.Error, match="unknown model"):
        list(tab.run_arena(5, 4, 0))
    assert list(tab.run_arena(UNCOND, 2, 0))[-1][1]["model"].tolist() == [UNCOND]  # one name, not a list
    with pytest.raises(gr.Error, match="At most"):
        list(tab.run_arena(too_many, 4, 0))
    with pytest.raises(gr.Error, match="Seed"):
        list(tab.run_arena([UNCOND], 4, -5))


def test_opened_shows_every_shipped_generator_from_a_cache():
    gallery, table, info = tab.opened()
    assert len(gallery) == len(arena.default_pick(common.model_choices(capability="sample")))
    assert "page-open view" in info and all(read_recipe(im)["seed"] == arena.DEFAULT_SEED for im, _ in gallery)
    gallery2, *_ = tab.opened()
    assert all(np.array_equal(_px(a), _px(b)) for (a, _), (b, _) in zip(gallery, gallery2))


def test_open_in_sample_and_explore():
    dd, n, seed, tabs = tab.open_in_sample(COND, 6, 9)
    assert dd["value"] == COND and (n, seed) == (6, 9) and tabs.selected == sample_tab.ID
    dd, seed, tabs = tab.open_in_explore(UNCOND, 9)
    assert dd["value"] == UNCOND and tabs.selected == "explore"
    with pytest.raises(gr.Error, match="no latent space"):
        tab.open_in_explore("arf-mnist", 0)
    with pytest.raises(gr.Error, match="unknown model"):
        tab.open_in_sample("nope", 4, 0)


def test_open_buttons_are_wired_to_the_other_tabs(app_module):
    blocks = {getattr(b, "elem_id", None): b for b in app_module.demo.blocks.values()}
    assert blocks["arena-open-sample"].visible and blocks["arena-open-explore"].visible
    targets = {blocks[i]._id for i in ("sample-model", "exp-model", "tabs")}
    outs = {o._id for fn in app_module.demo.fns.values() for o in fn.outputs}
    assert targets <= outs


# ---- through gradio_client ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_arena_through_client(client):
    from gradio_client.exceptions import AppError

    gallery, table, info = client.predict([COND, UNCOND], 4, 21, api_name="/arena")
    again, *_ = client.predict([COND, UNCOND], 4, 21, api_name="/arena")
    assert [g["caption"].split(" · ")[0] for g in gallery] == [COND, UNCOND]
    paths = [g["image"] for g in gallery]  # downloaded PNG files
    assert read_recipe(paths[0]) == {"tab": "arena", "model": COND, "n": 4, "seed": 21,
                                     "class": sample_tab.EACH, "truncation": 1.0}
    assert all(np.array_equal(_px(a), _px(g["image"])) for a, g in zip(paths, again))
    assert "Seed 21" in info and [r[0] for r in table["data"]] == [COND, UNCOND]
    with pytest.raises(AppError, match="unknown model"):
        client.predict(["not-a-model"], 4, 0, api_name="/arena")
