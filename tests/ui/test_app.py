"""The app shell: tab modules, shared UI helpers, and the running app through gradio_client."""
import gradio as gr
import pytest
import torch
from gradio_client.exceptions import AppError

from imggen import registry
from imggen.convert import png_bytes, read_recipe
from imggen.preprocess import ImageInputError
from imggen.ui import TABS, build_app, common, models_tab


def test_tab_modules_follow_the_convention():
    ids = [t.ID for t in TABS]
    assert len(ids) == len(set(ids)) and TABS[-1] is models_tab
    for t in TABS:
        assert isinstance(t.TITLE, str) and t.TITLE and callable(t.render)


def test_build_app_is_cheap_and_configured():
    demo = build_app()
    assert isinstance(demo, gr.Blocks) and demo.title == "imggen"
    assert demo._queue.max_size == 32 and demo._queue.default_concurrency_limit == 2


def test_tabs_open_on_their_best_shipped_model():
    demo = build_app()
    value = {b.elem_id: b.value for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.elem_id}
    want = {"sample-model": "cgan-mnist", "detect-model": "dcgan-mnist", "exp-model": "dcgan-mnist",
            "cmp-model": "vae-mnist", "int-model": "vae-mnist", "rec-anomaly-model": "vae-mnist",
            "t2i-model": "dalle-emoji32"}
    for elem_id, name in want.items():
        if name in registry.model_paths():
            assert value[elem_id] == name, elem_id
    with gr.Blocks():
        dd = common.model_dropdown(capability="decode", prefer=("no-such-model",))
    assert dd.value == common.model_choices(capability="decode")[0]


def test_handle_errors_converts_user_errors():
    @common.handle_errors
    def bad(kind):
        raise {"value": ValueError("bad value"), "image": ImageInputError("not an image")}[kind]

    for kind, msg in (("value", "bad value"), ("image", "not an image")):
        with pytest.raises(gr.Error, match=msg):
            bad(kind)

    @common.handle_errors
    def gen(n, progress=gr.Progress()):
        yield from range(n)
        raise ValueError("stopped")

    it = gen(2)
    assert next(it) == 0 and next(it) == 1
    with pytest.raises(gr.Error, match="stopped"):
        next(it)
    import inspect

    assert inspect.isgeneratorfunction(gen) and "progress" in inspect.signature(gen).parameters

    @common.handle_errors
    def other():
        raise KeyError("internal")

    with pytest.raises(KeyError):  # programming errors are not disguised as user errors
        other()


def test_png_output_carries_recipe():
    im = common.png_output(torch.rand(4, 1, 28, 28), {"model": "m", "seed": 7}, scale=2)
    assert im.size == (2 * 62, 2 * 62)  # 2x2 grid with 2 px padding, upscaled
    import io

    from PIL import Image

    back = Image.open(io.BytesIO(png_bytes(im)))
    assert read_recipe(back) == {"model": "m", "seed": 7}
    one = common.png_output(torch.rand(1, 3, 8, 8), {"seed": 1}, scale=1)
    assert one.size == (8, 8) and one.mode == "RGB"


def test_seed_parsing():
    assert common.to_seed(5) == 5 and common.to_seed(5.0) == 5
    assert 0 <= common.to_seed(None) <= common.MAX_SEED
    for bad in (-1, common.MAX_SEED + 1, "x"):
        with pytest.raises(gr.Error):
            common.to_seed(bad)


def test_model_choices_filters_by_family():
    all_models = registry.list_models()
    assert common.model_choices() == list(all_models)
    for fam in {c["family"] for c in all_models.values()}:
        assert common.model_choices(family=fam) == [n for n, c in all_models.items() if c["family"] == fam]
    assert common.model_choices(family="no-such-family") == []
    assert common.model_choices(capability="no_such_method") == []


def test_models_tab_lists_every_model_and_the_classifier():
    cards = models_tab.all_cards()
    assert set(registry.list_models()) | {"classifier-mnist"} == set(cards)
    df = models_tab.table(cards)
    assert list(df.columns) == models_tab.COLUMNS and len(df) == len(cards)
    md = models_tab.card_markdown("classifier-mnist", cards)
    assert "test_accuracy" in md and "469,103" in md and "2 CPU threads" in md
    with pytest.raises(gr.Error, match="Unknown model"):
        models_tab.card_markdown("nope", cards)


def test_models_tab_training_time_sums_resumed_sessions():
    card = {"family": "vae", "path": "x.safetensors", "train_seconds": 726.2,  # a resumed run's last session
            "recipe": {"train_seconds": 1732.2, "sessions": 2}}
    assert models_tab.table({"m": card})["training time"][0] == "28.9 min in 2 sessions"
    assert "| training time | 28.9 min in 2 sessions |" in models_tab.card_markdown("m", {"m": card})
    one = {"family": "vae", "path": "y.safetensors", "train_seconds": 80, "recipe": {}, "hardware": "CPU, 1 threads"}
    assert models_tab.table({"n": one})["training time"][0] == "80 s"
    assert models_tab.table({"n": one})["hardware"][0] == "CPU, 1 thread"  # an older card's wording, read right


def test_models_tab_says_what_a_model_is_and_how_its_last_run_ended():
    card = {"family": "dcgan", "path": "g.safetensors", "status": "stopped at the time limit of 720s"}
    md = models_tab.card_markdown("g", {"g": card}).splitlines()
    assert md[2].startswith("Unconditional DCGAN (Radford et al. 2016)")  # the family's docstring, not the status
    assert "| last training run | stopped at the time limit of 720s |" in md
    own = {"family": "classifier", "path": "c.safetensors", "description": "Our own words."}
    md = models_tab.card_markdown("c", {"c": own}).splitlines()
    assert md[2] == "Our own words." and not any("last training run" in line for line in md)
    odd = {"family": "no-such-family", "path": "o.safetensors"}
    assert models_tab.card_markdown("o", {"o": odd}).startswith("## o\n\n| property")


def test_models_tab_recipe_shows_only_what_the_family_uses():
    rec = {"lr": 1e-3, "lr_d": 2e-4, "loss": "hinge", "beta": 1.0, "betas": [0.5, 0.999], "batch_size": 64,
           "steps": 10, "use_ema": True, "train_prior": False}
    show = {fam: models_tab.recipe({"family": fam, "recipe": rec})
            for fam in ("dcgan", "cgan", "vae", "vaegan", "arf", "pixelgpt")}
    assert set(show["cgan"]) == set(rec) - {"beta", "train_prior"}  # only the DCGAN trains on a fitted prior
    assert set(show["vaegan"]) == {"lr", "lr_d", "loss", "beta", "betas", "batch_size", "steps"}
    assert set(show["dcgan"]) == set(rec) - {"beta"} and set(show["vae"]) == {"lr", "beta", "betas", "batch_size",
                                                                               "steps"}
    assert set(show["arf"]) == {"steps"} and set(show["pixelgpt"]) == {"lr", "batch_size", "steps"}
    md = models_tab.card_markdown("m", {"m": {"family": "arf", "path": "a.safetensors", "recipe": rec}})
    assert "| steps | 10 |" in md and "| loss |" not in md
    assert models_tab.recipe({"family": "unknown", "recipe": rec}) == rec
    assert models_tab.recipe({"family": "classifier", "recipe": rec}) == rec  # not a generator: all shown


# ---- through the running app ---------------------------------------------------------------------------
def test_api_lists_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/model_card", "/models_refresh"} <= set(api)


def test_models_endpoints_return_cards(client):
    table, pick, card = client.predict(None, api_name="/models_refresh")
    names = [row[0] for row in table["data"]]
    assert set(names) == set(registry.list_models()) | {"classifier-mnist"}
    assert "## " in card
    card = client.predict("classifier-mnist", api_name="/model_card")
    assert "| test_accuracy | 0.996 |" in card and "## classifier-mnist" in card
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("no-such-model", api_name="/model_card")


def test_models_registered_at_run_time_appear(client, tmp_path):
    from imggen import checkpoint
    from imggen.models.classifier import ClassifierConfig, DigitClassifier

    cfg = {"channels": 4, "feature_dim": 8, "num_classes": 10, "dropout": 0.0}
    path = checkpoint.save(DigitClassifier(ClassifierConfig(**cfg)), tmp_path / "late.safetensors",
                           family="classifier", config=cfg, card={"data": "test"})
    registry.register("late-arrival", path)
    try:
        table, _, _ = client.predict(None, api_name="/models_refresh")
        assert "late-arrival" in [row[0] for row in table["data"]]
    finally:
        registry.unregister("late-arrival", owner=None)
        registry.load.cache_clear()
