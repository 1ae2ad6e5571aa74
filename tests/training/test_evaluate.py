"""Held-out evaluation of a model (imggen.evaluate, `imggen eval`): plain sampling and a sampler setting."""
import pytest

from tiny_gan import one_thread, register_tiny  # noqa: F401  (one_thread: an autouse fixture)


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

