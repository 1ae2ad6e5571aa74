"""Held-out evaluation of a model (imggen.evaluate, `imggen eval`): plain sampling and a sampler setting."""
import pytest

from tiny_gan import one_thread, register_tiny, tiny  # noqa: F401  (one_thread: an autouse fixture)


@pytest.mark.slow
def test_evaluate_model_plain_and_with_a_sampler_setting(tmp_path, capsys):
    """imggen eval: held-out digit metrics of plain sampling, of a sampler setting (recorded in the result), and
    a refusal to write a setting's metrics into the card."""
    from imggen.evaluate import evaluate_model

    register_tiny("dcgan", "test-eval-dcgan", tmp_path)
    plain = evaluate_model("test-eval-dcgan", n=40, data="mnist5k")
    assert plain["num_samples"] == 40 and "sampling" not in plain
    assert plain["fd"] > plain["fd_floor"] > 0 and 0 <= plain["confident_fraction"] <= 1
    kept = evaluate_model("test-eval-dcgan", n=40, data="mnist5k", sample_kw={"keep": 0.5})
    assert kept["sampling"] == {"keep": 0.5} and kept["fd"] != plain["fd"] and kept["fd_floor"] == plain["fd_floor"]
    with pytest.raises(ValueError, match="plain sampling"):
        evaluate_model("test-eval-dcgan", n=40, data="mnist5k", write=True, sample_kw={"keep": 0.5})
    import json

    from imggen.__main__ import main  # the command line passes settings that differ from plain sampling only

    for args, sampling in ((["--truncation", "0.5", "--keep", "1"], {"truncation": 0.5}), (["--truncation", "1"], None)):
        capsys.readouterr()
        main(["eval", "test-eval-dcgan", "-n", "40", "--data", "mnist5k", *args])
        assert json.loads(capsys.readouterr().out).get("sampling") == sampling



def test_one_held_out_scoring_for_loop_cli_and_benches():
    """HeldOut.score is the one scoring: for digits it gives digit_metrics' figures (floor from the reference, read
    once however many sets are scored), SWD on request or for images the classifier cannot read; the loop's
    per-epoch evaluate is HeldOut.score of its seeded samples against the first n eval images."""
    import torch

    from imggen import metrics
    from imggen.data import load_data
    from imggen.evaluate import HeldOut, heldout
    from imggen.train import evaluate

    held = heldout(40, "mnist5k")
    assert len(held) == 40 and held.digits and held.test.name == "mnist5k"
    fake = held.test.images[-40:]
    labels = held.test.labels[-40:]
    assert held.score(fake, labels) == metrics.digit_metrics(fake, held.real, reference=held.reference, labels=labels)
    both = held.score(fake, swd=True)
    assert both["swd"] == metrics.sliced_wasserstein(fake, held.real) and both["swd_floor"] > 0
    rgb = HeldOut(torch.rand(8, 3, 32, 32) * 2 - 1, digits=False).score(torch.rand(8, 3, 32, 32) * 2 - 1)
    assert set(rgb) == {"swd"}

    data = load_data("mnist5k", limit=64)
    net = tiny("dcgan")
    g = torch.Generator().manual_seed(7 + 12345)  # the loop's seed for its eval samples
    with torch.no_grad():
        fake = net.sample(32, generator=g).float()
    assert evaluate(net, data, 32, seed=7) == HeldOut(data.images[:32], digits=True).score(fake)


def test_colour_models_are_scored_on_their_own_emoji_by_the_emoji_net(tmp_path):
    """imggen eval on a colour model compares with held-out emoji (not digits) through the emoji net: FD and its
    floor, P/R, and label accuracy = the share read as the category asked for."""
    import torch

    from imggen import metrics
    from imggen.evaluate import evaluate_model, heldout
    from tiny_colour import train_tiny_colour

    held = heldout(30, "emoji32", 32, 3)
    assert held.emoji and not held.digits
    real = held.test.images[-30:]
    labels = held.test.labels[-30:]
    m = held.score(real, labels)
    ref = metrics.emoji_metrics(real, held.real, labels, reference=held.reference, swd=False)
    assert m["fd"] == ref["fd"] and m["fd_ratio"] == ref["fd_ratio"] and m["features"] == "emoji net"
    assert m["label_accuracy"] == ref["category_accuracy"] and "category_histogram" not in m
    noise = held.score(torch.rand(30, 3, 32, 32) * 2 - 1)
    assert noise["fd_ratio"] > m["fd_ratio"] and noise["precision"] < m["precision"]

    name = train_tiny_colour(tmp_path, families=("cgan",))["cgan"]
    out = evaluate_model(name, n=20, iwae_images=0)
    assert out["test_set"] == "emoji32 test" and out["features"] == "emoji net"
    assert 0 <= out["label_accuracy"] <= 1 and out["fd_floor"] > 0
