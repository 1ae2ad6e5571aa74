"""Adversarial random forest: fitting through the training loop, an exact and normalised likelihood, seeded
binary samples, exact conditional completion, checkpoint round trip, the Complete API and the Train tab."""
import itertools
import re
from dataclasses import asdict

import pytest
import torch

import imggen
from imggen import checkpoint
from imggen.complete import run_completion
from imggen.data import load_data
from imggen.models.arf import ARF, ARFConfig, binarize
from imggen.registry import build, load, register
from imggen.train import TrainConfig, train
from imggen.training.trainers import make_trainer
from train_settings import settings

TINY = dict(trees=4, max_leaves=24, min_leaf=3)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny forest fitted in 3 rounds on 400 MNIST digits, saved and registered as "tiny-arf"."""
    data = load_data("mnist5k", split="train", limit=400)
    out = tmp_path_factory.mktemp("arf") / "tiny-arf.safetensors"
    events = list(train("arf", data, TrainConfig(epochs=3, batch_size=32, eval_samples=100), model_config=TINY,
                        out=out, name="tiny-arf"))
    register("tiny-arf", out)
    return events, out


@pytest.mark.slow
def test_training_is_one_round_per_epoch_on_all_images(fitted):
    events, out = fitted
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.step for e in epochs] == [1, 2, 3]  # the whole data set is one batch, whatever batch_size says
    accs = [e.losses["forest accuracy"] for e in epochs]
    assert all(0.5 <= a <= 1 for a in accs) and all(e.samples.ndim == 3 for e in epochs)  # a grid per round
    assert {"fd", "coverage"} <= set(epochs[-1].metrics)
    m = load(str(out)).net
    assert 4 <= m.config.num_leaves <= 4 * 24 and m.leaf_probs.shape == (m.config.num_leaves, 784)
    assert torch.allclose(m.leaf_weights.sum(), torch.tensor(1.0)) and (m.leaf_probs > 0).all()


@pytest.mark.slow
def test_a_warm_start_goes_on_from_its_own_samples(fitted):
    """Continuing a fitted forest (``train --init``, the Train tab's fine-tune) starts its first round from the
    model's samples, not from the pixel marginals: that forest tells real from synthetic less well."""
    events, out = fitted
    data = load_data("mnist5k", split="train", limit=400)
    x, y = data.images, data.labels
    cfg = TrainConfig(seed=0)
    first = make_trainer(build("arf", **TINY), cfg, torch.device("cpu")).step(x, y)["forest accuracy"]
    warm = imggen.registry.from_checkpoint(out)
    again = make_trainer(warm, cfg, torch.device("cpu")).step(x, y)["forest accuracy"]
    assert first == pytest.approx(events[0].losses["forest accuracy"])  # a new forest: the marginals, as before
    assert again < first - 0.03


@pytest.mark.slow
def test_samples_are_binary_seeded_and_survive_a_checkpoint(fitted, tmp_path):
    m = load(str(fitted[1]))
    x = m.sample(6, seed=3)
    assert x.shape == (6, 1, 28, 28) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, m.sample(6, seed=3)) and not torch.equal(x, m.sample(6, seed=4))
    assert m.sample(0).shape == (0, 1, 28, 28) and m.net.log_likelihood(torch.zeros(0, 1, 28, 28)).shape == (0,)
    path = checkpoint.save(m.net, tmp_path / "again.safetensors", family="arf", config=asdict(m.net.config))
    assert torch.equal(load(str(path)).sample(6, seed=3), x)


def test_likelihood_is_exact_and_normalised():
    """On 2x2 images all 16 binary images can be listed: their probabilities sum to 1."""
    m = ARF(ARFConfig(image_size=2))
    w = torch.tensor([0.2, 0.5, 0.3])
    p = torch.tensor([[0.9, 0.1, 0.5, 0.5], [0.05, 0.95, 0.3, 0.6], [0.5, 0.5, 0.99, 0.01]])
    m.set_leaves(w, p)
    grid = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=4))).view(16, 1, 2, 2)
    ll = m.log_likelihood(grid)
    assert torch.allclose(ll.exp().sum(), torch.tensor(1.0), atol=1e-3)  # probabilities stored as float16
    x = grid[5:6]
    b = binarize(x)[0]
    pf = m.leaf_probs.float()
    direct = (w * torch.where(b.bool(), pf, 1 - pf).prod(1)).sum().log()
    assert torch.allclose(ll[5], direct, atol=1e-4)
    assert m.log_likelihood(grid, k=100, generator=gen()).equal(ll)  # the VAEs' arguments change nothing
    one = ARF(ARFConfig(image_size=2))
    one.set_leaves(torch.ones(1), torch.tensor([[0.9, 0.2, 0.6, 0.4]]))
    sharp = one.sample(50, generator=gen(2), truncation=0.01)  # sharpened to each pixel's likelier value
    assert (sharp.flatten(1) == torch.tensor([1.0, -1.0, 1.0, -1.0])).all()
    assert not (one.sample(50, generator=gen(2)).flatten(1) == torch.tensor([1.0, -1.0, 1.0, -1.0])).all()
    with pytest.raises(ValueError, match="truncation must be > 0"):
        one.sample(2, truncation=0)
    with pytest.raises(ValueError, match="leaves need weights"):
        m.set_leaves(torch.ones(2), torch.rand(2, 5))


def test_completion_keeps_known_pixels_and_follows_the_leaf_posterior():
    m = ARF(ARFConfig(image_size=2))
    m.set_leaves(torch.tensor([0.5, 0.5]), torch.tensor([[0.999] * 4, [0.001] * 4]))  # all on / all off
    x = torch.tensor([[[[1.0, 1.0], [-1.0, -1.0]]]])
    mask = torch.tensor([[[[0.0, 0.0], [1.0, 1.0]]]])  # the top row is known (on): the "all on" leaf explains it
    out = m.complete(x, mask, n=8, generator=gen(1))
    assert out.shape == (1, 8, 1, 2, 2)
    assert (out[0, :, :, 0] == 1).all() and (out[0, :, :, 1] == 1).all()  # known kept, missing drawn from "on"
    assert torch.equal(out, m.complete(x, mask, n=8, generator=gen(1)))
    m.set_leaves(torch.tensor([0.5, 0.5]), torch.tensor([[0.7] * 4, [0.001] * 4]))  # "mostly on" explains the row
    sharp = m.complete(x, mask, n=8, generator=gen(1), truncation=0.01)
    assert (sharp[0, :, :, 1] == 1).all()  # sharpened, the missing pixels take the leaf's likelier value
    assert not (m.complete(x, mask, n=8, generator=gen(1))[0, :, :, 1] == 1).all()


@pytest.mark.slow
def test_complete_api_and_method_errors(fitted):
    x = (load_data("mnist5k", split="test").images[:1] + 1) / 2
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 14:, :] = 1
    res = run_completion("tiny-arf", x, mask, "auto", n=3, seed=0)
    assert res.method == "arf" and res.images.shape == (3, 1, 28, 28)
    assert torch.allclose(res.images[:, 0, :14], x[0, 0, :14].expand(3, -1, -1), atol=1e-6)  # known half kept
    assert set(res.images[:, 0, 14:].unique().tolist()) <= {0.0, 1.0}  # the missing half: drawn binary pixels
    assert torch.equal(res.images, run_completion("tiny-arf", x, mask, "auto", n=3, seed=0).images)
    with pytest.raises(ValueError, match="'gan' method needs a model with a generator or decoder; a arf model "
                                         "completes with 'arf'"):
        run_completion("tiny-arf", x, mask, "gan", n=2)
    full = run_completion("tiny-arf", x, torch.ones(1, 1, 28, 28), "auto", n=2, seed=0)
    assert "plain samples" in full.note and full.images.shape == (2, 1, 28, 28)


@pytest.mark.slow
def test_held_out_metrics_and_public_api(fitted):
    from imggen.evaluate import evaluate_model

    res = evaluate_model("tiny-arf", n=60, data="mnist5k")
    assert res["nll_nats"] > 0 and res["bits_per_dim"] == pytest.approx(res["nll_nats"] / (784 * 0.6931471805599453))
    assert "tiny-arf" in imggen.list_models("arf") and build("arf").config.num_leaves == 0


@pytest.mark.slow
def test_tabs_list_and_use_it(fitted, monkeypatch):
    from imggen.ui import common
    from imggen.ui import complete as ct
    from imggen.ui import sample as st

    assert "tiny-arf" in common.model_choices(capability="decode|complete")  # Complete lists it (no decoder)
    assert "tiny-arf" not in common.model_choices(capability="decode")
    masked, outs, md = ct.complete("tiny-arf", "Model sample", None, None, 3, None, "bottom", 0, "auto", 2, 0)
    calls = []
    monkeypatch.setattr(ct, "run_completion", lambda *a, **kw: calls.append(kw) or run_completion(*a, **kw))
    ct.complete("arf-mnist", "Model sample", None, None, 3, None, "bottom", 0, "auto", 2, 0)
    assert calls[-1]["truncation"] == 0.2  # the shipped forest completes at its card's truncation
    shipped = imggen.load("arf-mnist")  # a model sample as input is drawn with the card's settings (truncation 0.2)
    assert torch.equal(ct.source_image(shipped, "Model sample", None, None, 5),
                       shipped.sample(1, seed=5, **shipped.card["sampling"])[0])
    assert "**Method:** arf" in md and outs.size[0] > outs.size[1]  # two completions side by side
    grid, gallery, info, recipe = st.sample("tiny-arf", 4, 1, None, 0.5)
    assert len(gallery) == 4 and "tiny-arf" in info and recipe["truncation"] == 0.5
    classes, trunc, keep, refine, cand = st.model_options("tiny-arf")
    assert trunc.visible and "sharpened" in trunc.info and not keep.visible and not refine.visible and not cand.visible


@pytest.mark.slow
def test_train_tab_fits_a_forest(monkeypatch, tmp_path):
    from imggen.ui import train_tab as tt

    monkeypatch.setattr("imggen.ui.train_jobs.RUNS_DIR", tmp_path)
    monkeypatch.setattr("imggen.ui.train_run.EVAL_SAMPLES", 100)
    v = tt.preset_values("Adversarial random forest", tt.QUICK)
    assert v["epochs"] == 3 and tt.model_overrides("arf", 16, 8, True, 1) == {}
    tt.arm()
    outs = list(tt.start_training(**settings(family="Adversarial random forest", max_images=300, batch_size=32,
                                             lr=1e-3, lr_d=1e-3, loss="bce", ema=False, name="tiny-arf-tab")))
    status = "".join(o[1] for o in outs if isinstance(o[1], str))  # updates are coalesced when the CPU is busy
    assert "finished after 2 steps" in outs[-1][1] and re.search(r"epoch [12]\.00/2", status), status
    assert imggen.list_models()["tiny-arf-tab"]["config"]["num_leaves"] > 1


@pytest.mark.slow
def test_bench_rows_and_table(load_bench, tmp_path):
    """bench/arf.py on 300 digits: independent pixels, an EM mixture, each ARF round, then truncated rows of both;
    a round lowers the held-out NLL below independent pixels; JSON and markdown written."""
    import json

    out = tmp_path / "arf"
    load_bench("arf").main(["--data", "mnist5k", "--limit", "300", "--rounds", "2", "--em", "4", "--em-iters", "2",
                            "--samples", "40", "--truncation", "0.5", "--out", str(out)])
    res = json.loads(out.with_suffix(".json").read_text())
    names = [r["model"] for r in res["rows"]]
    assert names == ["independent pixels", "mixture of Bernoullis, EM, K=4",
                     "mixture of Bernoullis, EM, K=4, truncation 0.5", "ARF round 1", "ARF round 2",
                     "ARF round 2, truncation 0.5"]
    rows = {r["model"]: r for r in res["rows"]}
    assert rows["ARF round 2"]["nll_nats"] < rows["independent pixels"]["nll_nats"]
    assert rows["ARF round 2, truncation 0.5"]["nll_nats"] == rows["ARF round 2"]["nll_nats"]  # sampling only
    assert rows["ARF round 2, truncation 0.5"]["fd"] != rows["ARF round 2"]["fd"]
    md = out.with_suffix(".md").read_text()
    assert "| ARF round 2 |" in md and "bench arf --data mnist5k --limit 300" in md
