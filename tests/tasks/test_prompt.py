"""Prompt -> image: the parser (class, attribute words, intensifiers, what it ignores), the generator moving the
shipped cgan-mnist along its labelled directions (measured: thicker / thinner, leaning, the class kept), models
without a decoder or without classes, and the Sample tab's prompt box."""
import pytest
import torch

from imggen import latent, metrics, prompt
from imggen.convert import from01, read_recipe


def test_parse_class_attributes_and_intensifiers():
    p = prompt.parse("A very thick 7, leaning right please")
    assert p.label == 7 and p.moves == {"thickness": 3.0, "slant": 2.0} and p.ignored == []
    p = prompt.parse("slightly thin seven that is narrow")
    assert p.label == 7 and p.moves == {"thickness": -1.0, "width": -2.0}
    p = prompt.parse("thick thin zero sparkly")
    assert p.label == 0 and p.moves == {} and p.ignored == ["sparkly"]  # opposite words cancel
    assert prompt.parse("tall").label is None and "any digit" in prompt.parse("tall").describe()
    assert "ignored: sparkly" in prompt.parse("2 sparkly").describe()
    with pytest.raises(ValueError, match="Type a prompt"):
        prompt.parse("  ,. ")


def test_prompts_move_the_measured_attribute_and_keep_the_class():
    """On the shipped cgan-mnist (cached directions): the same seeds, moved."""
    def measure(text):
        x, p, notes = prompt.generate("cgan-mnist", text, n=32, seed=3)
        assert x.shape == (32, 1, 28, 28) and 0 <= x.min() and x.max() <= 1 and notes == []
        xm = from01(x)
        acc = (metrics.classify(xm)[1].argmax(1) == 4).float().mean().item()
        return acc, latent.thickness(xm), latent.slant(xm)

    acc0, th0, sl0 = measure("4")
    acc_thick, th_thick, _ = measure("a thick 4")
    acc_thin, th_thin, _ = measure("a thin 4")
    _, _, sl_right = measure("4 leaning right")
    _, _, sl_left = measure("4 leaning left")
    assert min(acc0, acc_thick, acc_thin) > 0.85
    assert (th_thick > th0).float().mean() > 0.8 and (th_thin < th0).float().mean() > 0.8  # seed by seed
    assert sl_right.mean() > sl0.mean() > sl_left.mean()
    x1, _, _ = prompt.generate("cgan-mnist", "a thick 4", n=4, seed=3)
    assert torch.equal(x1, prompt.generate("cgan-mnist", "a thick 4", n=4, seed=3)[0])  # seeded


def test_models_that_take_only_part_of_a_prompt(tmp_path):
    from imggen import checkpoint
    from imggen.models.gpt import PixelGPT, PixelGPTConfig
    from imggen.registry import register

    net = PixelGPT(PixelGPTConfig(n_layer=1, n_head=2, n_embd=16, num_classes=10))
    path = checkpoint.save(net, tmp_path / "tiny-gpt-prompt.safetensors", family="pixelgpt",
                           config=net.config.__dict__)
    register("tiny-gpt-prompt", path)
    x, p, notes = prompt.generate("tiny-gpt-prompt", "thick 3", n=2, seed=0)
    assert x.shape == (2, 1, 28, 28) and notes == ["tiny-gpt-prompt has no latent to move: thickness not applied"]
    x, p, notes = prompt.generate("dcgan-mnist", "a 3", n=2, seed=0)
    assert notes == ["dcgan-mnist is unconditional: the digit in the prompt cannot be asked for"]


def test_sample_tab_prompt_box():
    from imggen.ui import sample as st

    png, md = st.from_prompt("cgan-mnist", "a wide 2", 4, 5)
    rec = read_recipe(png)
    assert rec["label"] == 2 and rec["moves"] == {"width": 2.0} and rec["seed"] == 5 and rec["prompt"] == "a wide 2"
    assert "understood: digit 2, width +2" in md
    with pytest.raises(Exception, match="Type a prompt"):
        st.from_prompt("cgan-mnist", "", 4, 5)
    with pytest.raises(Exception, match="Count"):
        st.from_prompt("cgan-mnist", "2", 0, 5)


@pytest.mark.slow
def test_bench_rows_and_table(load_bench, tmp_path):
    import json

    out = tmp_path / "prompt"
    load_bench("prompt").main(["--models", "cgan-mnist", "--per-digit", "4", "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["prompt"] for r in rows] == ["<digit>"] + [f"{w} <digit>" for w in load_bench("prompt").WORDS]
    thick = next(r for r in rows if r["prompt"] == "thick <digit>")
    assert thick["attribute"] == "thickness" and thick["change_in_spreads"] > 0 and rows[0]["label_accuracy"] > 0.8
    assert "| cgan-mnist | thin <digit> |" in out.with_suffix(".md").read_text()
