"""The training loop itself: events, stop, resume, NaN guard, cancellation, CLI smoke (tiny, CPU, seconds)."""
from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from imggen import checkpoint
from imggen.data import ImageData
from imggen.train import TrainConfig, TrainState, train

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ToyConfig:
    channels: int = 1
    image_size: int = 8
    latent_dim: int = 4


class Toy(nn.Module):
    """A linear decoder fitted by MSE to the batch mean: enough to exercise the loop, not the families."""

    def __init__(self, config=ToyConfig(), nan_at: int | None = None):
        super().__init__()
        self.config, self.nan_at = config, nan_at
        c = config
        self.net = nn.Linear(c.latent_dim, c.channels * c.image_size ** 2)

    def decode(self, z, labels=None):
        c = self.config
        return torch.tanh(self.net(z)).view(-1, c.channels, c.image_size, c.image_size)

    def sample(self, n, *, generator=None, labels=None, truncation=1.0):
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.net.weight.device)
        return self.decode(z)



class ToyTrainer:
    def __init__(self, model, cfg, precision):
        self.model, self.calls = model, 0
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(self, x, y):
        self.calls += 1
        loss = ((self.model.sample(x.shape[0]) - x) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.model.nan_at is not None and self.calls >= self.model.nan_at:
            with torch.no_grad():
                self.model.net.weight.fill_(float("nan"))
            return {"loss/recon": float("nan")}
        return {"loss/recon": loss.item()}

    def inference_model(self):
        return self.model


@pytest.fixture(autouse=True)
def toy_family(monkeypatch):
    """The loop finds a model's trainer in the family table, like every family's."""
    from imggen import families

    monkeypatch.setitem(families.FAMILIES, "toy", families.Family("toy", ToyConfig, Toy, ToyTrainer))


def toy_data(n=64, size=8):
    g = torch.Generator().manual_seed(0)
    return ImageData(torch.rand(n, 1, size, size, generator=g) * 2 - 1, torch.full((n,), -1), "toy")


CFG = dict(batch_size=16, lr=1e-2, num_grid=4, eval_samples=16)  # 4 steps per epoch on toy_data()


def test_events_and_checkpoint(tmp_path):
    out = tmp_path / "toy.safetensors"
    events = list(train("toy", toy_data(), TrainConfig(epochs=2, log_every=1, **CFG), model=Toy(), out=out))
    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 2 and kinds[-1] == "end" and "step" in kinds
    epochs = [e for e in events if e.kind == "epoch"]
    assert all(e.samples is not None and e.samples.min() >= 0 and e.samples.max() <= 1 for e in epochs)
    assert "swd" in epochs[0].metrics  # not digits -> sliced Wasserstein
    assert all(math.isfinite(v) for e in events for v in e.losses.values())
    assert events[-1].step == 8 and events[-1].ckpt_path == str(out)
    meta = checkpoint.read_metadata(out)
    assert meta["family"] == "toy" and meta["recipe"]["steps"] == 8 and meta["card"]["status"] == "finished"


def test_stop_then_resume_continues(tmp_path):
    out, state, calls = tmp_path / "toy.safetensors", TrainState(), []
    stop = lambda: len(calls) >= 3  # noqa: E731
    cfg = TrainConfig(epochs=2, log_every=1, **CFG)
    for ev in train("toy", toy_data(), cfg, model=Toy(), out=out, should_stop=stop, state=state):
        calls.append(ev)
    assert calls[-1].kind == "end" and "stopped" in calls[-1].message and calls[-1].samples is not None
    assert state.step == 3 and out.exists()
    assert "user" in checkpoint.read_metadata(out)["card"]["status"]
    trainer = state.trainer
    events = list(train("toy", toy_data(), cfg, out=out, state=state))  # resume: same model and optimiser
    assert state.trainer is trainer and trainer.calls == 8 and events[-1].step == 8
    assert checkpoint.read_metadata(out)["recipe"]["steps"] == 8
    more = list(train("toy", toy_data(), cfg, out=out, state=state))  # finished run: that much again
    assert more[-1].step == 16


def test_nan_guard_keeps_last_good_weights(tmp_path):
    out = tmp_path / "toy.safetensors"
    model = Toy(nan_at=6)  # NaN in the second epoch
    events = list(train("toy", toy_data(), TrainConfig(epochs=3, **CFG), model=model, out=out))
    assert events[-1].kind == "error" and "NaN" in events[-1].message and events[-1].ckpt_path == str(out)
    assert torch.isfinite(model.net.weight).all()
    fresh = Toy()
    checkpoint.load_weights(fresh, out)
    assert torch.equal(fresh.net.weight, model.net.weight)  # the saved weights are the restored good ones


def test_closing_the_generator_saves_the_model(tmp_path):
    out, state = tmp_path / "toy.safetensors", TrainState()
    gen = train("toy", toy_data(), TrainConfig(epochs=5, log_every=1, **CFG), model=Toy(), out=out, state=state)
    for ev in gen:
        if ev.step == 2:
            break
    gen.close()  # what Gradio does when a job is cancelled or its browser disconnects
    assert out.exists() and state.step == 2
    assert "cancelled" in checkpoint.read_metadata(out)["card"]["status"]


def test_ctrl_c_saves_the_model(tmp_path):
    """A KeyboardInterrupt inside a step (Ctrl-C in the CLI) writes the checkpoint, then goes on up."""
    out, state, calls = tmp_path / "toy.safetensors", TrainState(), []

    def interrupt():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        list(train("toy", toy_data(), TrainConfig(epochs=5, **CFG), model=Toy(), out=out, state=state,
                   should_stop=interrupt))
    assert out.exists() and state.step == 3
    assert checkpoint.read_metadata(out)["card"]["status"] == "stopped: interrupted at step 3"


def test_time_limit_stops(tmp_path):
    events = list(train("toy", toy_data(), TrainConfig(epochs=1000, time_limit_s=0.3, eval_samples=0,
                                                        **{k: v for k, v in CFG.items() if k != "eval_samples"}),
                        model=Toy()))
    assert events[-1].kind == "end" and "time limit" in events[-1].message and events[-1].step < 4000


TINY = {"dcgan": {"g_width": 8, "d_width": 8, "latent_dim": 8}, "cgan": {"g_width": 8, "d_width": 8, "latent_dim": 8},
        "ae": {"hidden": 8, "fc_dim": 16, "latent_dim": 4}, "vae": {"hidden": 8, "fc_dim": 16, "latent_dim": 4},
        "cvae": {"hidden": 8, "fc_dim": 16, "latent_dim": 4},
        "vaegan": {"hidden": 8, "fc_dim": 16, "latent_dim": 4, "d_hidden": 8}}


@pytest.mark.parametrize("family", sorted(TINY))
def test_cli_trains_every_family(family, tmp_path, capsys):
    import json

    from imggen.__main__ import main

    out = tmp_path / f"{family}.safetensors"
    main(["train", family, "--data", "mnist5k", "--limit", "64", "--batch-size", "16", "--max-steps", "5",
          "--config", json.dumps(TINY[family]), "--train-config", '{"eval_samples": 0, "num_grid": 4}',
          "--out", str(out)])
    text = capsys.readouterr().out
    assert "[end] step 5" in text and f"saved {out}" in text
    meta = checkpoint.read_metadata(out)
    assert meta["family"] == family and meta["recipe"]["steps"] == 5
    from imggen import load

    x = load(str(out)).sample(2, seed=0)
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()


@pytest.mark.slow
def test_cli_subprocess_smoke(tmp_path):
    """`python -m imggen train` end to end: tqdm bar on stderr, events on stdout, a checkpoint."""
    out = tmp_path / "cli.safetensors"
    r = subprocess.run([sys.executable, "-m", "imggen", "train", "vae", "--limit", "64", "--batch-size", "32",
                        "--max-steps", "3", "--config", '{"hidden": 8, "fc_dim": 16, "latent_dim": 4}',
                        "--train-config", '{"eval_samples": 0, "num_grid": 4}', "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "[end] step 3" in r.stdout and "train vae" in r.stderr and "loss/recon" in r.stderr and out.exists()


@pytest.mark.slow
def test_epoch_metrics_do_not_move_the_training_rng():
    """Same seed, same weights, whether or not the metrics' classifier was already built (building it draws
    initial weights from the global RNG; before, that shifted every run that measured first)."""
    from imggen import metrics
    from imggen.data import load_data

    data = load_data("mnist5k", split="train", limit=96)
    cfg = TrainConfig(epochs=2, batch_size=32, eval_samples=40, seed=3, num_grid=4, use_augment=True)

    def run():
        events = list(train("dcgan", data, cfg, model_config={"latent_dim": 8, "g_width": 8, "d_width": 8}))
        epochs = [e for e in events if e.kind == "epoch"]
        assert len(epochs) == 2 and "confident_fraction" in epochs[-1].metrics
        return epochs[-1]

    metrics.classifier.cache_clear()
    first = run()  # builds the classifier during the first epoch's metrics
    second = run()  # classifier cached
    assert first.losses == second.losses and torch.equal(first.samples, second.samples)


def test_conditional_models_need_labels_within_their_classes():
    from imggen.registry import build
    from imggen.train import check_labels

    x = torch.rand(12, 1, 28, 28) * 2 - 1
    flat = ImageData(x, torch.full((12,), -1), "flat.zip")
    three = ImageData(x, torch.arange(12) % 3, "three.zip", classes=("a", "b", "c"))
    with pytest.raises(ValueError, match="needs a class for every image, and flat.zip has no classes"):
        next(train("cgan", flat, TrainConfig(max_steps=1, batch_size=4, eval_samples=0),
                   model_config=dict(g_width=8, d_width=8)))
    with pytest.raises(ValueError, match="three.zip has 3 classes but the model has 2"):
        check_labels(build("cvae", num_classes=2), three)
    check_labels(build("cvae", num_classes=3), three)  # fine, and so is any unconditional model
    check_labels(build("dcgan", g_width=8, d_width=8), flat)


def test_a_digit_model_reads_digit_named_classes_as_its_digits():
    """Folders "3" and "7" train a 10-class model's classes 3 and 7 (the CLI's --init and the Train tab alike)."""
    from imggen.registry import build

    x = torch.rand(8, 1, 28, 28) * 2 - 1
    data = ImageData(x, torch.arange(8) % 2, "mine.zip", classes=("3", "7"))
    model = build("cvae", num_classes=10, latent_dim=4)
    seen, state = [], TrainState()
    cfg = TrainConfig(max_steps=1, batch_size=4, eval_samples=0)
    list(train("cvae", data, cfg, model=model, state=state))  # builds the trainer; then spy on its steps
    step = state.trainer.step
    state.trainer.step = lambda xb, yb: (seen.append(yb.clone()), step(xb, yb))[1]
    list(train("cvae", data, dataclasses.replace(cfg, max_steps=3), state=state))
    assert seen and set(torch.cat(seen).tolist()) == {3, 7}

